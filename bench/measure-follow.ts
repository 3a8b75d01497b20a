/**
 * The CLI in `--follow` mode, on the result of (d) and (d2) (the same rows): the read model and the folded states of all N
 * workspaces exist and the checkpoints are at the end of the topic, so `--follow` starts where a
 * long-running follower would be. The events come from follow-workload.ts; every step ends by sending
 * the events that bring the touched workspaces back to their final state, waits until the follower's
 * checkpoints reach the end of the topic, and summarizes the read model (it must equal (b)).
 *
 * (f) Latency (issue 12, row 5 at a steady rate): from produce to visible row. Each event flips a
 * workspace's desired_state (the Deployment's replicas change). Workspaces are taken round-robin from a
 * pool big enough that each is revisited only every ~20 s, and a workspace is never sent a second event
 * while its first is still in flight, so one notification identifies one event.
 *
 * Method: an AFTER INSERT OR UPDATE trigger on workspace_agentk_states (installed for this step only) sends
 * NOTIFY `<workspace id>:<replicas of the Deployment>`; PostgreSQL delivers it when the rebuilder's
 * transaction commits, i.e. when the row becomes visible to other sessions. The latency of an event is
 * (notification received) − (just before producer.send of its batch), both on this process's monotonic
 * clock. The producer sends whatever is due every ~1 ms.
 *
 * (f5) and (f6) Throughput (rows 5 and 6, "as fast as it goes"): a backlog of M events is produced while
 * no follower runs, then the follower is started and its checkpoints in rebuild_projection.checkpoints
 * (committed with the rows, in the same transaction) are polled. Sustained events/s = events committed
 * after its first commit / time from its first commit to its last (start-up and group join excluded; the
 * time from spawn is reported too). Rows written over the backlog are PostgreSQL's counts (pg-stats.ts),
 * and the follower's /metrics (--metrics-port) is scraped at the end: its row and event counters, and any
 * series about generation it exposes.
 */
import { createServer } from 'node:net';
import type { Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import pg from 'pg';
import { encodeAvro, encodeKey } from '../src/events/encode.js';
import type { WorkspaceValueEvent } from '../projections/agentk-states/events.js';
import { followArgs, type KafkaTarget } from './cli-invocation.js';
import { FollowWorkload, spreadIds, type ConfigChange } from './follow-workload.js';
import { summarizeReadModel, type ReadModelSummary } from './load-postgres.js';
import { settledWrites, writesBetween, type WritesByTable } from './pg-stats.js';
import { failureOf, startRebuilder, type RebuilderRun } from './rebuilder-process.js';

const CHANNEL = 'bench_agentk_states';
/** Messages per producer.send of a backlog (about what a batching producer puts in one request). */
const SEND_MESSAGES = 1000;
const POLL_MS = 20;

export interface FollowOptions {
  rate: number;
  warmupSeconds: number;
  seconds: number;
  /** How long to wait for stragglers after the last event. */
  drainSeconds: number;
  /** Profile the follower with node --cpu-prof into this directory (its latencies are then not representative). */
  cpuProfDir?: string | undefined;
  /** Stop as stalled when the checkpoints do not move for this long (reaching the end after the restoring events). */
  stallMs: number;
}

/** What every follow step reports about the table afterwards. */
interface Restored {
  /** Events sent after the measurement to bring the touched workspaces back to their final state. */
  restoreEvents: number;
  /** The read model once the follower reached the end (must equal (b)). */
  summary: ReadModelSummary;
}

export interface FollowResult extends Restored {
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
  /** Events an earlier step left unapplied (it failed), applied untimed before this step. */
  leftOver: number;
  run: RebuilderRun;
}

export type BacklogKind = 'config' | 'no-input';

export interface FollowBacklogResult extends Restored {
  kind: BacklogKind;
  /** Distinct workspaces the backlog touched. */
  workspaces: number;
  /** Events between the checkpoints before the backlog and the end of the topic after it. */
  events: number;
  /** Events an earlier step left unapplied (it failed), applied untimed before the backlog. */
  leftOver: number;
  /** Spawn → first commit of the follower. */
  readyMs: number;
  /** Events committed after the first commit, and the time they took. */
  sustainedEvents: number;
  sustainedMs: number;
  /** Spawn → every event committed. */
  totalMs: number;
  /** PostgreSQL's counts over the backlog (the restoring events excluded). */
  writes: WritesByTable;
  /** Selected series of the follower's /metrics at the end of the backlog (undefined if it could not be read). */
  metrics: Record<string, number> | undefined;
  /** Why /metrics could not be read. */
  metricsError?: string | undefined;
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

const message = (event: WorkspaceValueEvent) => ({ key: encodeKey(event.workspaceId), value: encodeAvro(event) });

async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

async function produceAll(producer: Producer, topic: string, events: readonly WorkspaceValueEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += SEND_MESSAGES) {
    await producer.send({ topic, acks: -1, messages: events.slice(i, i + SEND_MESSAGES).map(message) });
  }
}

/** next_offset per partition of the topic, from the follower's checkpoints. */
async function checkpoints(db: pg.Client, topic: string): Promise<Map<number, bigint>> {
  const { rows } = await db.query<{ kafka_partition: number; next_offset: string }>(
    'SELECT kafka_partition, next_offset::text AS next_offset FROM rebuild_projection.checkpoints WHERE topic = $1',
    [topic],
  );
  return new Map(rows.map((row) => [row.kafka_partition, BigInt(row.next_offset)]));
}

async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Events between `from` (checkpoints; a partition never consumed counts from 0) and `to` (end offsets). */
function eventsBetween(from: Map<number, bigint>, to: Map<number, bigint>): number {
  let events = 0n;
  for (const [partition, end] of to) events += end - (from.get(partition) ?? 0n);
  return Number(events);
}

/** A port nobody listens on now (the follower's --metrics-port). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free TCP port');
  return address.port;
}

/** The rebuild_projection_* series of /metrics (and any series named after generation), by name and labels. */
async function scrapeMetrics(port: number): Promise<Record<string, number>> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  const series: Record<string, number> = {};
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (!match || !/^rebuild_projection_|generat/i.test(match[1]!) || /_bucket\{/.test(match[1]!)) continue;
    series[match[1]!] = Number(match[2]);
  }
  return series;
}

/** A follower run: started, watched for an early exit, stopped once. */
interface Follower {
  /** Rejects when the follower exits before stop() was called. */
  exited: Promise<never>;
  startedAt: number;
  /** SIGTERM, then its run once it exited. */
  stop: () => Promise<RebuilderRun>;
}

function startFollower(target: KafkaTarget, options: { cpuProfDir?: string | undefined; metricsPort?: number }): Follower {
  const startedAt = performance.now();
  const running = startRebuilder(followArgs(target, options.metricsPort), { cpuProfDir: options.cpuProfDir });
  let stopping = false;
  const exited = running.done.then((r) => {
    if (stopping) throw new Error('the follower was stopped');
    // Its own last words on the first line (the report's notes keep only that line).
    throw new Error(failureOf(r, '--follow (before it was stopped)') ?? `the follower exited with 0 before it was stopped:\n${r.stderr.slice(-4000)}`);
  });
  exited.catch(() => undefined);
  return {
    exited,
    startedAt,
    stop: () => {
      stopping = true;
      running.stop();
      return running.done;
    },
  };
}

/**
 * Polls the checkpoints until every partition reaches `end`; returns when the first commit past `from` and
 * the last were seen. Fails when the follower exits, or makes no progress for `stallMs`.
 */
async function waitForEnd(
  db: pg.Client,
  topic: string,
  from: Map<number, bigint>,
  end: Map<number, bigint>,
  follower: Follower,
  stallMs: number,
): Promise<{ firstCommitAt: number; committedAtFirst: number; doneAt: number }> {
  const total = eventsBetween(from, end);
  let first: { at: number; committed: number } | undefined;
  let last = -1;
  let lastAdvanceAt = performance.now();
  for (;;) {
    const committed = total - eventsBetween(await checkpoints(db, topic), end);
    const now = performance.now();
    if (committed > 0 && first === undefined) first = { at: now, committed };
    if (committed >= total) return { firstCommitAt: first?.at ?? now, committedAtFirst: first?.committed ?? committed, doneAt: now };
    if (committed !== last) {
      last = committed;
      lastAdvanceAt = now;
    } else if (now - lastAdvanceAt > stallMs) {
      throw new Error(`the follower made no progress for ${(stallMs / 1000).toFixed(0)} s (${committed} of ${total} events committed)`);
    }
    await Promise.race([sleep(POLL_MS), follower.exited]);
  }
}

/**
 * Sends the events that bring every touched workspace back, waits until a follower has them all (the one
 * given, or one started for this and stopped after), summarizes the read model.
 */
async function restore(
  kafka: Kafka,
  producer: Producer,
  db: pg.Client,
  target: KafkaTarget,
  workload: FollowWorkload,
  running: Follower | undefined,
  stallMs: number,
): Promise<Restored> {
  const events = workload.restoreEvents().map((change) => change.event);
  if (events.length > 0) {
    const from = await checkpoints(db, target.topic);
    await produceAll(producer, target.topic, events);
    const end = await endOffsets(kafka, target.topic);
    const follower = running ?? startFollower(target, {});
    try {
      await waitForEnd(db, target.topic, from, end, follower, stallMs);
    } finally {
      if (running === undefined) await follower.stop();
    }
  }
  return { restoreEvents: events.length, summary: await summarizeReadModel(target.databaseUrl) };
}

/**
 * Applies, untimed, what an earlier step left unapplied (it failed before its follower reached the end),
 * with a follower of its own; returns how many events that was.
 */
async function drainLeftOver(kafka: Kafka, target: KafkaTarget, stallMs: number): Promise<number> {
  const db = new pg.Client({ connectionString: target.databaseUrl, application_name: 'rebuild-projection bench (follow drain)' });
  await db.connect();
  try {
    const from = await checkpoints(db, target.topic);
    const end = await endOffsets(kafka, target.topic);
    const leftOver = eventsBetween(from, end);
    if (leftOver > 0) {
      const follower = startFollower(target, {});
      try {
        await waitForEnd(db, target.topic, from, end, follower, stallMs);
      } finally {
        await follower.stop();
      }
    }
    return leftOver;
  } finally {
    await db.end();
  }
}

export async function measureFollowLatency(kafka: Kafka, target: KafkaTarget, workload: FollowWorkload, n: number, options: FollowOptions): Promise<FollowResult> {
  const leftOver = await drainLeftOver(kafka, target, options.stallMs);
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
  db.on('notification', (notification) => {
    const receivedAt = performance.now();
    const [idText, replicas] = (notification.payload ?? '').split(':');
    const id = Number(idText);
    const entry = inFlight.get(id);
    if (entry === undefined || entry.expected !== replicas) return;
    inFlight.delete(id);
    if (entry.measure) latencies.push(receivedAt - entry.sentAt);
    firstVisible?.();
  });

  // Only desired_state flips: the notification names the replicas an event makes, a devfile change keeps them.
  const pool = spreadIds(n, options.rate * 20).filter((id) => !FollowWorkload.changesDevfile(id));
  if (pool.length === 0) throw new Error(`no workspace to flip among N = ${n}`);
  let cursor = 0;
  let skippedInFlight = 0;
  const nextChange = (): ConfigChange | undefined => {
    for (let tries = 0; tries < pool.length; tries++) {
      const id = pool[cursor]!;
      cursor = (cursor + 1) % pool.length;
      if (!inFlight.has(id)) return workload.toggle(id);
      skippedInFlight++;
    }
    return undefined;
  };

  const producer = await connectProducer(kafka);
  const sendErrors: Error[] = [];
  const sendEvents = (count: number, measure: boolean): number => {
    const messages = [];
    const sentAt = performance.now();
    for (let i = 0; i < count; i++) {
      const change = nextChange();
      if (change === undefined) break;
      inFlight.set(change.event.workspaceId, { sentAt, expected: change.replicas, measure });
      messages.push(message(change.event));
    }
    if (messages.length > 0) producer.send({ topic: target.topic, acks: -1, messages }).catch((error: Error) => sendErrors.push(error));
    return messages.length;
  };

  const follower = startFollower(target, { cpuProfDir: options.cpuProfDir });
  let run: RebuilderRun | undefined;
  try {
    // Ready: the first event made visible (includes the follower's start, group join and seek).
    const ready = new Promise<void>((resolve) => (firstVisible = resolve));
    sendEvents(1, false);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the follower made no row visible within 120 s')), 120_000);
    });
    try {
      await Promise.race([ready, follower.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
    firstVisible = undefined;
    const readyMs = performance.now() - follower.startedAt;

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

    const restored = await restore(kafka, producer, db, target, workload, follower, options.stallMs);
    run = await follower.stop();
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
      leftOver,
      ...restored,
      run,
    };
  } finally {
    if (run === undefined) await follower.stop().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await db.query('DROP TRIGGER IF EXISTS bench_agentk_state_notify ON workspace_agentk_states').catch(() => undefined);
    await db.query('DROP FUNCTION IF EXISTS bench_notify_agentk_state()').catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}

export interface BacklogOptions {
  kind: BacklogKind;
  /** M: events in the backlog. */
  events: number;
  /** Stop as stalled when the checkpoints do not move for this long. */
  stallMs: number;
}

/**
 * (f5) config-changing events, (f6) agent reports, over min(N, M) workspaces round-robin: with M ≤ N each
 * workspace gets one event, so no batch can fold two events of a workspace into no change (a backlog
 * that went away and back would be rightly applied as nothing).
 */
export async function measureFollowBacklog(kafka: Kafka, target: KafkaTarget, workload: FollowWorkload, n: number, options: BacklogOptions): Promise<FollowBacklogResult> {
  const leftOver = await drainLeftOver(kafka, target, options.stallMs);
  const ids = spreadIds(n, options.events);
  if (options.kind === 'config') await workload.prepare(ids);
  const events = Array.from({ length: options.events }, (_, i) => {
    const id = ids[i % ids.length]!;
    return options.kind === 'config' ? workload.toggle(id).event : workload.noInput(id);
  });
  const db = new pg.Client({ connectionString: target.databaseUrl, application_name: 'rebuild-projection bench (follow backlog)' });
  await db.connect();
  const producer = await connectProducer(kafka);
  let follower: Follower | undefined;
  let run: RebuilderRun | undefined;
  try {
    const from = await checkpoints(db, target.topic);
    await produceAll(producer, target.topic, events);
    const end = await endOffsets(kafka, target.topic);
    const before = await settledWrites(target.databaseUrl);
    const metricsPort = await freePort();
    follower = startFollower(target, { metricsPort });
    const timing = await waitForEnd(db, target.topic, from, end, follower, options.stallMs);
    let metrics: Record<string, number> | undefined;
    let metricsError: string | undefined;
    try {
      metrics = await scrapeMetrics(metricsPort);
    } catch (error) {
      metricsError = error instanceof Error ? error.message : String(error);
    }
    // Stopped before reading pg_stat: an idle backend may hold its counts for up to 10 s, an exiting one flushes them.
    run = await follower.stop();
    const writes = writesBetween(before, await settledWrites(target.databaseUrl));
    const restored = await restore(kafka, producer, db, target, workload, undefined, options.stallMs);
    return {
      kind: options.kind,
      workspaces: ids.length,
      events: eventsBetween(from, end),
      leftOver,
      readyMs: timing.firstCommitAt - follower.startedAt,
      sustainedEvents: eventsBetween(from, end) - timing.committedAtFirst,
      sustainedMs: timing.doneAt - timing.firstCommitAt,
      totalMs: timing.doneAt - follower.startedAt,
      writes,
      metrics,
      metricsError,
      ...restored,
      run,
    };
  } finally {
    if (follower && run === undefined) await follower.stop().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}
