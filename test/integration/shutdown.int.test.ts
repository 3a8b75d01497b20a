/**
 * A graceful stop ends within a bound: SIGTERM lets the batch in flight finish, but a batch that cannot finish
 * (its database waits on a lock) does not keep the process alive past --shutdown-timeout.
 */
import { randomBytes } from 'node:crypto';
import { expect, it, inject } from 'vitest';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { asJson, createdEvent, createTopic, produce, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');

it('SIGTERM while a batch is stuck on a lock: exits 1 after --shutdown-timeout with one line, and resumes correctly later', async () => {
  const kafka = createTestKafka(brokers, 'shutdown-tests');
  const topic = `shutdown-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  const rows = [workspaceRow(1), workspaceRow(2)];
  await upsertWorkspaceRows(db.pool, rows);
  const follower = spawnCli(['agentk-states', '--follow', '--shutdown-timeout', '2', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  await produce(kafka, topic, [asJson(createdEvent(rows[0]!))]);
  await waitFor(async () => (await readModel(db.pool)).size === 1, 30_000);

  const blocker = await db.pool.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE rebuild_projection.checkpoints IN ACCESS EXCLUSIVE MODE');
    await produce(kafka, topic, [asJson(createdEvent(rows[1]!))]);
    await waitFor(async () => {
      const { rows: waiting } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return waiting.length > 0;
    }, 10_000);
    const signalled = Date.now();
    follower.child.kill('SIGTERM');
    const exited = await Promise.race([follower.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000))]);
    if (exited === undefined) follower.child.kill('SIGKILL');
    expect(exited?.code, exited?.stderr).toBe(1);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(exited?.stderr).toContain('still not stopped 2 s after SIGTERM, exiting now (committed work is kept)');
    expect(exited?.stderr).not.toMatch(/^\s+at /m);
  } finally {
    await blocker.query('COMMIT');
    blocker.release();
  }
  // The stuck batch never committed: a catch-up applies it.
  const caughtUp = await runCli(['agentk-states', '--from-checkpoint', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  expect(caughtUp.code, caughtUp.stderr).toBe(0);
  expect((await readModel(db.pool)).size).toBe(2);
});
