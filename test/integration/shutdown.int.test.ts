/**
 * A graceful stop ends within a bound: SIGTERM lets the batch in flight finish and commit, then the process
 * exits 0; a batch that cannot finish (its database waits on a lock) does not keep the process alive past
 * --shutdown-timeout; a second signal exits at once. A real follower process, a real broker and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { expect, it, inject } from 'vitest';
import { runCli, spawnCli, waitFor, type SpawnedCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');

interface StuckFollower {
  topic: string;
  follower: SpawnedCli;
  /** The session whose lock holds the follower's second batch; COMMIT releases it. */
  blocker: pg.PoolClient;
}

/**
 * A follower that applied workspace 1 and is in the middle of the batch of workspace 2: that batch waits for a
 * lock on the checkpoints table, so it is in flight until `blocker` commits.
 */
async function followerWithBatchInFlight(shutdownTimeoutS: number): Promise<StuckFollower> {
  const kafka = createTestKafka(brokers, 'shutdown-tests');
  const topic = `shutdown-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  const rows = [workspaceRow(1), workspaceRow(2)];
  await upsertWorkspaceRows(db.pool, rows);
  const follower = spawnCli([
    'agentk-states', '--follow', '--shutdown-timeout', String(shutdownTimeoutS), '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url,
  ]);
  await produce(kafka, topic, [asJson(createdEvent(rows[0]!))]);
  await waitFor(async () => (await readModel(db.pool)).size === 1, 30_000);
  const blocker = await db.pool.connect();
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE rebuild_projection.checkpoints IN ACCESS EXCLUSIVE MODE');
  await produce(kafka, topic, [asJson(createdEvent(rows[1]!))]);
  await waitFor(async () => {
    const { rows: waiting } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    return waiting.length > 0;
  }, 10_000);
  return { topic, follower, blocker };
}

/** The process's exit, or undefined (after killing it) when it has not exited within `ms`. */
async function exitWithin(follower: SpawnedCli, ms: number) {
  const exited = await Promise.race([follower.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);
  if (exited === undefined) follower.child.kill('SIGKILL');
  return exited;
}

async function release(blocker: pg.PoolClient): Promise<void> {
  await blocker.query('COMMIT').catch(() => undefined);
  blocker.release();
}

it('SIGTERM while a batch is in flight: the batch finishes and commits, then the process exits 0 within the bound', async () => {
  const { follower, blocker } = await followerWithBatchInFlight(20);
  const signalled = Date.now();
  try {
    follower.child.kill('SIGTERM');
    // The batch is still waiting: the process must not exit before it has committed.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(follower.child.exitCode).toBeNull();
  } finally {
    await release(blocker);
  }
  const exited = await exitWithin(follower, 15_000);
  expect(exited?.code, exited?.stderr).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(15_000);
  // Drained, not dropped: the batch in flight at the signal is in the table.
  expect((await readModel(db.pool)).size).toBe(2);
  const entries = logEntries(exited!.stderr);
  expect(entries).toContainEqual(expect.objectContaining({ level: 'info', msg: 'SIGTERM received, finishing the batch in flight…', signal: 'SIGTERM' }));
  expect(fatalMessages(exited!.stderr)).toEqual([]);
  expect(exited!.stdout).toMatch(/^agentk-states kafka follow: 2 events, 2 written/);
});

it('SIGTERM while a batch is stuck on a lock: exits 1 after --shutdown-timeout with one line, and resumes correctly later', async () => {
  const { topic, follower, blocker } = await followerWithBatchInFlight(2);
  try {
    const signalled = Date.now();
    follower.child.kill('SIGTERM');
    const exited = await exitWithin(follower, 15_000);
    expect(exited?.code, exited?.stderr).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(fatalMessages(exited!.stderr)).toEqual(['still not stopped 2 s after SIGTERM, exiting now (committed work is kept)']);
    expect(exited?.stderr).not.toMatch(/^\s+at /m);
  } finally {
    await release(blocker);
  }
  // The stuck batch never committed: a catch-up applies it.
  const caughtUp = await runCli(['agentk-states', '--from-checkpoint', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  expect(caughtUp.code, caughtUp.stderr).toBe(0);
  expect((await readModel(db.pool)).size).toBe(2);
});

it('a second signal exits at once, without waiting for the batch or the timeout', async () => {
  const { follower, blocker } = await followerWithBatchInFlight(30);
  try {
    follower.child.kill('SIGTERM');
    await waitFor(async () => logEntries(follower.stderrSoFar()).some((e) => e.signal === 'SIGTERM'), 5_000);
    const second = Date.now();
    follower.child.kill('SIGINT');
    const exited = await exitWithin(follower, 5_000);
    expect(exited?.code, exited?.stderr).toBe(1);
    expect(Date.now() - second).toBeLessThan(3_000);
    expect(fatalMessages(exited!.stderr)).toEqual(['second SIGINT, exiting now']);
  } finally {
    await release(blocker);
  }
});

it('SIGTERM during a finite replay: exit 1 saying how to finish, never exit 0 for a replay that may not have reached its end', async () => {
  const kafka = createTestKafka(brokers, 'shutdown-tests');
  const topic = `shutdown-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  const row = workspaceRow(1);
  await upsertWorkspaceRows(db.pool, [row]);
  const replay = ['agentk-states', '--from-checkpoint', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url];
  // Nothing to replay yet: this creates our bookkeeping, so that its checkpoints table can be locked below.
  expect((await runCli(replay)).code).toBe(0);
  await produce(kafka, topic, [asJson(createdEvent(row))]);
  const blocker = await db.pool.connect();
  await blocker.query('BEGIN');
  await blocker.query('LOCK TABLE rebuild_projection.checkpoints IN ACCESS EXCLUSIVE MODE');
  const stopped = spawnCli(replay);
  try {
    await waitFor(async () => (await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows.length > 0, 20_000);
    stopped.child.kill('SIGTERM');
    await waitFor(async () => logEntries(stopped.stderrSoFar()).some((e) => e.signal === 'SIGTERM'), 5_000);
  } finally {
    await release(blocker);
  }
  const exited = await exitWithin(stopped, 20_000);
  expect(exited?.code, exited?.stderr).toBe(1);
  expect(fatalMessages(exited!.stderr)).toEqual([
    expect.stringMatching(/^kafka replay stopped by a signal after \d+ events, before it was known to reach the end: .* run again with --from-checkpoint to finish$/),
  ]);
  // What it says to run finishes the replay.
  const finished = await runCli(replay);
  expect(finished.code, finished.stderr).toBe(0);
  expect((await readModel(db.pool)).size).toBe(1);
});
