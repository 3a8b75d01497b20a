/**
 * (f) Follow mode latency: from produce to visible row, at a steady produce rate.
 *
 * Runs after (d), on its result: the read model and the folded states of all N workspaces exist and the
 * checkpoints are at the end of the topic, so `--follow` starts where a long-running follower would be.
 *
 * Each event is an update that flips a workspace's desired_state between Running and Stopped (a new
 * version), which changes the Deployment's replicas in the generated row. Workspaces are taken round-robin
 * from a pool big enough that each is revisited only every ~20 s, and a workspace is never sent a second
 * event while its first is still in flight, so one notification identifies one event.
 *
 * Method: an AFTER INSERT OR UPDATE trigger on workspace_agentk_states (installed for this step only) sends
 * NOTIFY `<workspace id>:<replicas of the Deployment>`; PostgreSQL delivers it when the rebuilder's
 * transaction commits, i.e. when the row becomes visible to other sessions. The latency of an event is
 * (notification received) − (just before producer.send of its batch), both on this process's monotonic
 * clock. The producer sends whatever is due every ~1 ms (so batches of 1–2 messages at 1,000 events/s).
 */
import type { Kafka } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { encodeAvro, encodeKey } from '../src/events/encode.js';
import type { WorkspaceValueEvent } from '../src/events/workspace-event.js';
import { followArgs, type KafkaTarget } from './cli-invocation.js';
import { startRebuilder, type RebuilderRun } from './rebuilder-process.js';
import { benchAgents, planWorkspace, Rng, type WorkloadSpec } from './workload.js';

const CHANNEL = 'bench_agentk_states';

export interface FollowOptions {
  rate: number;
  warmupSeconds: number;
  seconds: number;
  /** How long to wait for stragglers after the last event. */
  drainSeconds: number;
  /** Profile the follower with node --cpu-prof into this directory (its latencies are then not representative). */
  cpuProfDir?: string | undefined;
}

export interface FollowResult {
  method: string;
  targetRate: number;
  achievedRate: number;
  sent: number;
  measured: number;
  /** Events whose row did not become visible before the drain deadline. */
  lost: number;
  /** Times a workspace's turn came while its previous event was still in flight (it was skipped). */
  skippedInFlight: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** Time from starting the follower until its first event was visible (group join, catch-up check). */
  readyMs: number;
  run: RebuilderRun;
}

interface InFlight {
  sentAt: number;
  expected: string;
  measure: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function measureFollow(kafka: Kafka, target: KafkaTarget, spec: WorkloadSpec, options: FollowOptions): Promise<FollowResult> {
  const db = new pg.Client({ connectionString: target.databaseUrl, application_name: 'rebuild-projection bench (follow listener)' });
  await db.connect();
  await db.query(`
    CREATE OR REPLACE FUNCTION bench_notify_agentk_state() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${CHANNEL}', NEW.workspace_id::text || ':' || coalesce(NEW.desired_config->1->'spec'->>'replicas', '?'));
      RETURN NULL;
    END $$`);
  await db.query('DROP TRIGGER IF EXISTS bench_agentk_state_notify ON workspace_agentk_states');
  await db.query(
    'CREATE TRIGGER bench_agentk_state_notify AFTER INSERT OR UPDATE ON workspace_agentk_states FOR EACH ROW EXECUTE FUNCTION bench_notify_agentk_state()',
  );
  await db.query(`LISTEN ${CHANNEL}`);

  const inFlight = new Map<number, InFlight>();
  const latencies: number[] = [];
  let firstVisible: (() => void) | undefined;
  db.on('notification', (message) => {
    const receivedAt = performance.now();
    const [idText, replicas] = (message.payload ?? '').split(':');
    const id = Number(idText);
    const entry = inFlight.get(id);
    if (entry === undefined || entry.expected !== replicas) return;
    inFlight.delete(id);
    if (entry.measure) latencies.push(receivedAt - entry.sentAt);
    firstVisible?.();
  });

  // The workspaces' current state, as (d) left it.
  const agents = benchAgents();
  const poolSize = Math.max(1, Math.min(spec.n, options.rate * 20));
  const pool = Array.from({ length: poolSize }, (_, i) => 1 + Math.floor((i * spec.n) / poolSize));
  const state = new Map<number, { version: number; running: boolean }>();
  const rng = new Rng(spec.seed, 0xf011);
  let cursor = 0;
  let skippedInFlight = 0;
  const nextEvent = (): WorkspaceValueEvent | undefined => {
    for (let tries = 0; tries < pool.length; tries++) {
      const id = pool[cursor]!;
      cursor = (cursor + 1) % pool.length;
      if (inFlight.has(id)) {
        skippedInFlight++;
        continue;
      }
      let current = state.get(id);
      if (current === undefined) {
        const final = planWorkspace(spec, agents, id, false).final;
        current = { version: spec.k + 1, running: final.desired_state === 'Running' };
      }
      const next = { version: current.version + 1, running: !current.running };
      state.set(id, next);
      const now = new Date(Date.parse('2025-10-01T00:00:00Z') + next.version * 60_000);
      return {
        type: 'workspace-updated',
        eventId: rng.uuid(),
        workspaceId: id,
        version: next.version,
        occurredAt: now,
        changes: { desired_state: next.running ? 'Running' : 'Stopped', desired_state_updated_at: now, updated_at: now },
      };
    }
    return undefined;
  };

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const sendErrors: Error[] = [];
  const sendEvents = (count: number, measure: boolean): number => {
    const messages = [];
    const sentAt = performance.now();
    for (let i = 0; i < count; i++) {
      const event = nextEvent();
      if (event === undefined) break;
      const replicas = event.type === 'workspace-updated' && event.changes.desired_state === 'Running' ? '1' : '0';
      inFlight.set(event.workspaceId, { sentAt, expected: replicas, measure });
      messages.push({ key: encodeKey(event.workspaceId), value: encodeAvro(event) });
    }
    if (messages.length > 0) producer.send({ topic: target.topic, acks: -1, messages }).catch((error: Error) => sendErrors.push(error));
    return messages.length;
  };

  const follower = startRebuilder(followArgs(target), { cpuProfDir: options.cpuProfDir });
  let run: RebuilderRun | undefined;
  try {
    // Ready: the first event made visible (includes the follower's start, group join and seek).
    const startedAt = performance.now();
    const ready = new Promise<void>((resolve) => (firstVisible = resolve));
    const exited = follower.done.then((r) => {
      throw new Error(`the follower exited early (${r.exitCode ?? r.signal}):\n${r.stderr.slice(-4000)}`);
    });
    exited.catch(() => undefined);
    sendEvents(1, false);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the follower made no row visible within 120 s')), 120_000);
    });
    try {
      await Promise.race([ready, exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
    firstVisible = undefined;
    const readyMs = performance.now() - startedAt;

    const paced = async (seconds: number, measure: boolean): Promise<{ sent: number; elapsedMs: number }> => {
      const t0 = performance.now();
      let sent = 0;
      for (;;) {
        const elapsed = performance.now() - t0;
        if (elapsed >= seconds * 1000) return { sent, elapsedMs: elapsed };
        const due = Math.floor((elapsed / 1000) * options.rate) - sent;
        if (due > 0) sent += sendEvents(due, measure);
        await sleep(1);
      }
    };
    await paced(options.warmupSeconds, false);
    const measured = await paced(options.seconds, true);
    const drainUntil = performance.now() + options.drainSeconds * 1000;
    while ([...inFlight.values()].some((e) => e.measure) && performance.now() < drainUntil) await sleep(10);
    const lost = [...inFlight.values()].filter((e) => e.measure).length;
    if (sendErrors.length > 0) throw new Error(`producing failed: ${sendErrors[0]!.message}`);

    follower.stop();
    run = await follower.done;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      method:
        'AFTER INSERT/UPDATE trigger → NOTIFY "<workspace id>:<replicas>" delivered at commit, LISTEN in the benchmark; ' +
        'latency = notification received − just before producer.send (same monotonic clock)',
      targetRate: options.rate,
      achievedRate: measured.sent / (measured.elapsedMs / 1000),
      sent: measured.sent,
      measured: latencies.length,
      lost,
      skippedInFlight,
      latencyMs: {
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
        p999: percentile(sorted, 99.9),
        max: sorted[sorted.length - 1] ?? Number.NaN,
        mean: sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length),
      },
      readyMs,
      run,
    };
  } finally {
    if (run === undefined) {
      follower.stop();
      await follower.done.catch(() => undefined);
    }
    await producer.disconnect().catch(() => undefined);
    await db.query('DROP TRIGGER IF EXISTS bench_agentk_state_notify ON workspace_agentk_states').catch(() => undefined);
    await db.query('DROP FUNCTION IF EXISTS bench_notify_agentk_state()').catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}
