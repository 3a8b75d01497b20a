/**
 * The fault suite: kill -9 of followers and rebuilds at random moments, a broker outage with its data kept,
 * and PostgreSQL terminating our connections, while a simulated GitLab keeps changing workspaces. Whatever
 * happens in between, each case must end with `--verify` clean: the table equals what GitLab's own rules
 * make of the `workspaces` table.
 *
 * Moments are drawn from a seeded PRNG; the seed is printed, and FAULT_SEED=<n> replays a run.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kafka } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, inject } from 'vitest';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { runCli, spawnCli, waitFor, type SpawnedCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { GitLabSimulator, seededRandom } from '../support/gitlab-simulator.js';
import { createTestKafka, startOwnKafkaBroker } from '../support/kafka-broker.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';
import { createTopic } from '../support/workspace-events.js';

const sharedBrokers = inject('kafkaBrokers');
const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
console.log(`[faults] FAULT_SEED=${seed}`);
const random = seededRandom(seed);
const between = (min: number, max: number) => Math.round(min + random() * (max - min));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: TestDatabase;
let topic: string;
let group: string;

beforeEach(async () => {
  db = await createTestDatabase();
  await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'faults.example' });
  const suffix = randomBytes(4).toString('hex');
  topic = `faults-${suffix}`;
  group = `faults-${suffix}`;
});
/** Every process a case started: a failing or timed-out case must not leave them running. */
const children: SpawnedCli[] = [];
const spawnAgentkStates = (...cliArgs: string[]): SpawnedCli => {
  const spawned = spawnCli(['agentk-states', ...cliArgs]);
  children.push(spawned);
  return spawned;
};
afterEach(async () => {
  for (const { child } of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await db.drop();
});

const args = (brokers: string) => ['--brokers', brokers, '--topic', topic, '--group', group, '--database-url', db.url];

/** The oracle: `--verify` recomputes every row from GitLab's `workspaces` table and compares. */
async function expectVerifyClean(): Promise<void> {
  const verify = await runCli(['agentk-states', '--verify', '--database-url', db.url]);
  expect({ code: verify.code, stdout: verify.stdout, stderr: verify.stderr }).toMatchObject({ code: 0 });
  expect(verify.stdout).toMatch(/ 0 differing, 0 missing, 0 extra/);
}

/** A timeline of the case, printed as it goes (vitest shows it for a failing case). */
function step(label: string): void {
  console.log(`[faults] ${new Date().toISOString()} ${label}`);
}

/** SIGTERM, then the exit within a bound: a follower that does not stop is a finding, not a hung test. */
async function stopFollower(follower: SpawnedCli): Promise<{ code: number | null; stderr: string }> {
  follower.child.kill('SIGTERM');
  const timeout = sleep(30_000).then(() => undefined);
  const exited = await Promise.race([follower.exited, timeout]);
  if (exited === undefined) {
    follower.child.kill('SIGKILL');
    throw new Error(`the follower did not exit within 30 s of SIGTERM: ${(await follower.exited).stderr}`);
  }
  return exited;
}

/** No crash output: every failure is one line, never an unhandled event or a stack trace; only log entries. */
function expectNoCrashOutput(stderr: string): void {
  expect(stderr).not.toMatch(/Unhandled|\n\s+at .+:\d+:\d+/);
  logEntries(stderr);
}

/** Our backends in this test's database (the server is shared: never anyone else's). */
async function terminateOurBackends(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name LIKE 'rebuild-projection%' AND pid <> pg_backend_pid()`,
  );
  return rows[0]!.n;
}

/** The sum of the live projection's checkpoints: it grows with every committed batch. */
async function appliedOffsets(): Promise<number> {
  const { rows: exists } = await db.pool.query(`SELECT to_regclass('rebuild_projection.checkpoints') AS t`);
  if (!exists[0].t) return 0;
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT coalesce(sum(next_offset), 0)::text AS n FROM rebuild_projection.checkpoints WHERE projection = 'agentk-states' AND topic = $1`,
    [topic],
  );
  return Number(rows[0]!.n);
}

/** Catch up from the checkpoints and stop at the end: what cron would run after an incident. */
async function catchUp(brokers: string): Promise<void> {
  const result = await runCli(['agentk-states', '--from-checkpoint', ...args(brokers)], {}, 120_000);
  expectNoCrashOutput(result.stderr);
  expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
}

async function freePortPair(): Promise<number> {
  const probe = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const port = 30_000 + Math.floor(Math.random() * 10_000) * 2;
    if ((await probe(port)) && (await probe(port + 1))) return port;
  }
}

describe('fault suite', () => {
  it('ten kill -9 of the follower at random moments while GitLab keeps changing workspaces: --verify clean', async () => {
    const kafka = createTestKafka(sharedBrokers, 'faults-follower');
    await createTopic(kafka, topic, 4);
    const gitlab = new GitLabSimulator(db.pool, kafka, topic, random);
    await gitlab.connect();
    await gitlab.create(200);
    const stopProducing = gitlab.run(20, 50);
    try {
      for (let kill = 1; kill <= 10; kill++) {
        const before = await appliedOffsets();
        const follower = spawnAgentkStates('--follow', ...args(sharedBrokers));
        // Once it is applying batches (not while it joins the group), at a random moment.
        await waitFor(async () => (await appliedOffsets()) > before, 60_000);
        await sleep(between(0, 800));
        follower.child.kill('SIGKILL');
        await follower.exited;
      }
    } finally {
      await stopProducing();
      await gitlab.disconnect();
    }
    expect(gitlab.published).toBeGreaterThan(1_000);
    await catchUp(sharedBrokers);
    await expectVerifyClean();
  }, 300_000);

  it('pg_terminate_backend of the follower in the middle of batches: it retries, and --verify is clean', async () => {
    const kafka = createTestKafka(sharedBrokers, 'faults-terminate');
    await createTopic(kafka, topic, 4);
    const gitlab = new GitLabSimulator(db.pool, kafka, topic, random);
    await gitlab.connect();
    await gitlab.create(300);
    const follower = spawnAgentkStates('--follow', ...args(sharedBrokers));
    const stopProducing = gitlab.run(30, 50);
    let terminated = 0;
    try {
      for (let round = 1; round <= 6; round++) {
        await sleep(between(300, 1_200));
        terminated += await terminateOurBackends();
      }
    } finally {
      await stopProducing();
      await gitlab.disconnect();
    }
    expect(terminated).toBeGreaterThan(0);
    // The follower survived every termination and catches up by itself.
    await waitForFollowerToCatchUp(kafka, follower);
    const { code, stderr } = await stopFollower(follower);
    expectNoCrashOutput(stderr);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    await expectVerifyClean();
  }, 180_000);

  it('pg_terminate_backend of the follower while it records its start: it retries, then follows', async () => {
    const kafka = createTestKafka(sharedBrokers, 'faults-start');
    await createTopic(kafka, topic, 2);
    const gitlab = new GitLabSimulator(db.pool, kafka, topic, random);
    await gitlab.connect();
    await gitlab.create(20);
    await gitlab.disconnect();
    await migrate(db.pool);
    // Holding the runs table holds the follower inside its run's start (deterministic, unlike a random moment).
    const holder = await db.pool.connect();
    let follower: SpawnedCli;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE rebuild_projection.runs IN ACCESS EXCLUSIVE MODE');
      follower = spawnAgentkStates('--follow', ...args(sharedBrokers));
      await waitFor(async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name LIKE 'rebuild-projection%' AND wait_event_type = 'Lock'`,
        );
        return rows[0]!.n > 0;
      }, 30_000);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    await waitForFollowerToCatchUp(kafka, follower);
    const { code, stderr } = await stopFollower(follower);
    expectNoCrashOutput(stderr);
    expect({ code, stderr }).toMatchObject({ code: 0, stderr: expect.stringContaining('recording the run: transient failure') });
    await expectVerifyClean();
  }, 120_000);

  it('a broker outage (stopped with its data kept, then restarted) while the follower runs: --verify clean', async () => {
    const cache = fileURLToPath(new URL('../../.cache/', import.meta.url));
    mkdirSync(cache, { recursive: true });
    const stateDir = mkdtempSync(path.join(cache, 'fault-broker-'));
    const broker = await startOwnKafkaBroker({ stateDir, port: await freePortPair() });
    try {
      const kafka = createTestKafka(broker.brokers, 'faults-outage');
      await createTopic(kafka, topic, 4);
      const gitlab = new GitLabSimulator(db.pool, kafka, topic, random);
      await gitlab.connect();
      await gitlab.create(150);
      const follower = spawnAgentkStates('--follow', ...args(broker.brokers));
      await gitlab.burst(200);
      // The producer is GitLab's side: it stops publishing while the broker is down (no event is lost there).
      await gitlab.disconnect();
      // An outage of a running follower, not of one starting: a broker unreachable at startup is exit 1 by design.
      await waitFor(async () => (await appliedOffsets()) > 0, 60_000);
      await sleep(between(200, 1_000));
      step('broker stopping (data kept)');
      await broker.pause();
      await sleep(between(3_000, 6_000));
      step('broker restarting');
      await broker.resume();
      step('broker back');
      await gitlab.connect();
      await gitlab.burst(200);
      await gitlab.disconnect();
      step('waiting for the follower to catch up');
      await waitForFollowerToCatchUp(kafka, follower);
      step('stopping the follower');
      const { code, stderr } = await stopFollower(follower);
      expectNoCrashOutput(stderr);
      expect({ code, stderr }).toMatchObject({ code: 0 });
      await expectVerifyClean();
    } finally {
      await broker.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 180_000);

  describe('a rebuild from zero, interrupted in each phase', () => {
    /** Kills (or terminates the connections of) a rebuild once `inPhase` holds; returns false if it finished first. */
    async function interruptWhen(inPhase: () => Promise<boolean>, how: 'kill' | 'terminate'): Promise<{ interrupted: boolean; code: number | null; stderr: string }> {
      const rebuild = spawnAgentkStates(...args(sharedBrokers));
      let done = false;
      void rebuild.exited.then(() => (done = true));
      await waitFor(async () => done || (await inPhase()), 90_000);
      const interrupted = !done;
      if (interrupted) {
        if (how === 'kill') rebuild.child.kill('SIGKILL');
        else await terminateOurBackends();
      }
      const { code, stderr } = await rebuild.exited;
      expectNoCrashOutput(stderr);
      return { interrupted, code, stderr };
    }

    const building = async () =>
      (
        await db.pool.query(
          `SELECT 1 FROM rebuild_projection.rebuilds r JOIN rebuild_projection.checkpoints c ON c.projection = r.shadow_projection
            WHERE r.phase = 'building' AND c.next_offset > 0 LIMIT 1`,
        )
      ).rowCount === 1;
    // A page of rows is written: into the shadow, or (a first install) marked after its insert into the live table.
    const materializing = async () =>
      (await db.pool.query(`SELECT 1 FROM rebuild_projection.shadow_agentk_states UNION ALL SELECT 1 FROM rebuild_projection.shadow_unchanged LIMIT 1`))
        .rowCount === 1;
    /** Every live row with its version: a row rewritten, even identically, gets a new xmin. */
    const liveRows = async () =>
      new Map(
        (await db.pool.query<{ workspace_id: string; xmin: string; desired_config: unknown }>('SELECT workspace_id::text, xmin::text, desired_config FROM workspace_agentk_states')).rows.map(
          (row) => [row.workspace_id, row],
        ),
      );
    /** The switch holds the projection's exclusive advisory lock in its transaction. */
    const switching = async () =>
      (
        await db.pool.query(
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.granted AND a.datname = current_database()
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('projection:agentk-states', 0)
            LIMIT 1`,
        )
      ).rowCount === 1;

    async function history(n: number): Promise<Kafka> {
      const kafka = createTestKafka(sharedBrokers, 'faults-rebuild');
      await createTopic(kafka, topic, 4);
      const gitlab = new GitLabSimulator(db.pool, kafka, topic, random);
      await gitlab.connect();
      await gitlab.create(n);
      for (let i = 0; i < 3; i++) await gitlab.burst(n / 2);
      await gitlab.disconnect();
      return kafka;
    }

    for (const how of ['kill', 'terminate'] as const) {
      it(`${how === 'kill' ? 'kill -9' : 'pg_terminate_backend'} while building, materializing and switching: no live row changes before a rerun switches, --verify clean`, async () => {
        await history(1_500);
        // A first install (this one: no consumer has written the table) inserts the rows of workspaces that have
        // none as it generates them; every other row waits for the switch.
        const inserted = new Map<string, unknown>();
        for (const [phase, inPhase] of [['building', building], ['materializing', materializing], ['switching', switching]] as const) {
          const before = await liveRows();
          const outcome = await interruptWhen(inPhase, how);
          expect(outcome.interrupted, `the rebuild finished before it could be interrupted while ${phase}: exit ${outcome.code}, ${outcome.stderr}`).toBe(true);
          if (outcome.code !== 0) {
            // Interrupted before its switch committed: no row that existed changed; new rows are kept to compare.
            const after = await liveRows();
            for (const [id, row] of before) expect(after.get(id), `after ${how} in ${phase}: workspace ${id}`).toEqual(row);
            for (const [id, row] of after) if (!before.has(id)) inserted.set(id, row.desired_config);
          }
          if (how === 'terminate' && outcome.code !== 0 && outcome.code !== null) {
            expect(fatalMessages(outcome.stderr)).toHaveLength(1);
          }
        }
        const rerun = await runCli(['agentk-states', ...args(sharedBrokers)], {}, 120_000);
        expectNoCrashOutput(rerun.stderr);
        expect({ code: rerun.code, stderr: rerun.stderr }).toMatchObject({ code: 0 });
        await expectVerifyClean();
        // A row inserted before an interruption was already the finished rebuild's row.
        const final = await liveRows();
        for (const [id, config] of inserted) expect(final.get(id)?.desired_config, `workspace ${id}`).toEqual(config);
      }, 300_000);
    }
  });
});

/** Waits until the follower's checkpoints reach the end of every partition. */
async function waitForFollowerToCatchUp(kafka: Kafka, follower: SpawnedCli): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
    let exited = false;
    void follower.exited.then(() => (exited = true));
    await waitFor(async () => {
      if (exited) throw new Error(`the follower exited: ${(await follower.exited).stderr}`);
      const { rows } = await db.pool.query<{ kafka_partition: number; next_offset: string }>(
        `SELECT kafka_partition, next_offset FROM rebuild_projection.checkpoints WHERE projection = 'agentk-states' AND topic = $1`,
        [topic],
      );
      return [...ends].every(([partition, end]) => Number(rows.find((r) => r.kafka_partition === partition)?.next_offset ?? 0) >= end);
    }, 90_000);
  } finally {
    await admin.disconnect();
  }
}
