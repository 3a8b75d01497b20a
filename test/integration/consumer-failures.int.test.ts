/**
 * The Kafka consumer is never silently stuck: unstorable text is a dead letter, a permanent failure inside a
 * batch exits 1 with one line naming the position, a killed database connection is retried, a retention gap
 * past the checkpoint is refused. Each test runs the real CLI against the real PostgreSQL and broker.
 */
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { describe, expect, it, inject } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });

const ctx = useKafkaTestContext({ clientId: 'consumer-failure-tests', dnsZone: 'test.workspace.me', topicPrefix: 'consumer-failures', groupPrefix: 'consumer-failures' });
const { brokers, kafka, db } = ctx;

const cliArgs = (...mode: string[]) => ['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url, ...mode];
/** Bounded: on the code before the fix these runs never ended (runCli reports a timeout as code -1). */
const catchUp = () => runCli(cliArgs('--from-checkpoint'), {}, 30_000);
const expectedModel = (rows: WorkspaceRow[]) => new Map(rows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })]));
const json = (text: string, key: string): OutgoingMessage => ({ key: Buffer.from(key), value: Buffer.from(text) });
/** No stack trace or unhandled event: only log entries. */
const noStackTrace = (stderr: string) => {
  expect(stderr).not.toMatch(/^\s+at |Unhandled|node:internal/m);
  logEntries(stderr);
};

async function deadLetters() {
  const { rows } = await db.pool.query(
    `SELECT kafka_offset::int AS offset, error_kind, error_path, message, message_key FROM rebuild_projection.dead_letters ORDER BY kafka_offset`,
  );
  return rows as { offset: number; error_kind: string; error_path: string | null; message: string; message_key: string | null }[];
}

async function runStatus(): Promise<string | undefined> {
  const { rows } = await db.pool.query(`SELECT status FROM rebuild_projection.runs ORDER BY id DESC LIMIT 1`);
  return rows[0]?.status as string | undefined;
}

describe('the Kafka consumer is never silently stuck', () => {
  it('dead-letters NUL, lone surrogates and invalid UTF-8 (value and key) with their field path, and projects the neighbours', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const rows = [1, 2, 3].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    const created = (id: number) => JSON.parse(asJson(createdEvent(workspaceRow(id))).value!.toString('utf8')) as { workspace: Record<string, unknown> };
    const withName = (id: number, nameJson: string) => {
      const text = JSON.stringify(created(id)).replace(`"name":"workspace-${id}"`, `"name":${nameJson}`);
      return json(text, String(id));
    };
    const invalidUtf8 = Buffer.concat([Buffer.from(JSON.stringify(created(13)).split('workspace-13')[0]!), Buffer.from([0xc3, 0x28]), Buffer.from(JSON.stringify(created(13)).split('workspace-13')[1]!)]);
    await produce(kafka, ctx.topic, [
      asJson(createdEvent(rows[0]!)), // 0
      withName(10, '"a\\u0000b"'), // 1: NUL by JSON escape
      withName(11, '"x\\ud800y"'), // 2: lone surrogate by JSON escape
      { key: Buffer.from('12\u0000'), value: asJson(createdEvent(workspaceRow(12))).value }, // 3: NUL in the key
      { key: Buffer.from('13'), value: invalidUtf8 }, // 4: invalid UTF-8 inside a string
      asJson(createdEvent(rows[1]!)), // 5
      json(JSON.stringify({ ...created(14), occurred_at: '2026-01-01T00:00:00Z\u0000' }), '14'), // 6: NUL in occurred_at
      asJson(createdEvent(rows[2]!)), // 7
    ]);
    const result = await catchUp();
    expect(result.code).toBe(2);
    noStackTrace(result.stderr);
    expect(await readModel(db.pool)).toEqual(expectedModel(rows));
    const letters = await deadLetters();
    expect(letters.map((l) => [l.offset, l.error_kind, l.error_path])).toEqual([
      [1, 'unstorable_text', 'workspace.name'],
      [2, 'unstorable_text', 'workspace.name'],
      [3, 'unstorable_text', 'key'],
      [4, 'invalid_utf8', null],
      [6, 'unstorable_text', 'occurred_at'],
    ]);
    // The key is stored escaped, never rejected; the message names the position.
    expect(letters[2]!.message_key).toBe('12\\u0000');
    expect(letters[0]!.message).toContain(`${ctx.topic}[0]@1`);
    expect(letters[3]!.message).toMatch(/not valid UTF-8 at byte \d+/);
    expect(await runStatus()).toBe('succeeded_with_dead_letters');
  });

  it('exits 1 within seconds, naming topic, partition and offsets, when a folded state row is corrupt', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const row = workspaceRow(21);
    await upsertWorkspaceRows(db.pool, [row]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(row))]);
    expect((await catchUp()).code).toBe(0);
    await db.pool.query(`UPDATE rebuild_projection.workspace_states SET workspace = '{"bogus":1}'`);
    await produce(kafka, ctx.topic, [asJson(updatedEvent(21, 2, { desired_state: 'Stopped' }))]);
    const started = Date.now();
    const result = await catchUp();
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    noStackTrace(result.stderr);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringMatching(new RegExp(`^${ctx.topic}\\[0\\] offsets 1\\.\\.1: CorruptFoldError: rebuild_projection\\.workspace_states row of workspace 21 is corrupt: `))]);
    expect(await runStatus()).toBe('failed');
  });

  it('exits 1 with the SQLSTATE when the sink violates a constraint (23514), without retrying it', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const row = workspaceRow(31);
    await upsertWorkspaceRows(db.pool, [row]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(row))]);
    expect((await catchUp()).code).toBe(0);
    // Our own bookkeeping table, never GitLab's: a checkpoint past 1 now violates a check constraint.
    await db.pool.query(`ALTER TABLE rebuild_projection.checkpoints ADD CONSTRAINT test_small_offsets CHECK (next_offset < 2)`);
    await produce(kafka, ctx.topic, [asJson(updatedEvent(31, 2, { desired_state: 'Stopped' }))]);
    const result = await catchUp();
    expect(result.code).toBe(1);
    noStackTrace(result.stderr);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringMatching(new RegExp(`^${ctx.topic}\\[0\\] offsets 1\\.\\.1: error 23514: .*test_small_offsets`))]);
    expect(result.stderr).not.toMatch(/transient failure/);
  });

  it('keeps following when its database backends are terminated in the middle of batches; the table ends exactly right', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const rows = Array.from({ length: 60 }, (_, i) => workspaceRow(100 + i));
    await upsertWorkspaceRows(db.pool, rows);
    const follower = spawnCli(cliArgs('--follow'));
    // Started and consuming (a connection lost during start-up is "could not run", exit 1): then the kills begin.
    await produce(kafka, ctx.topic, rows.map((r) => asJson(createdEvent(r))));
    await waitFor(async () => (await readModel(db.pool)).size === rows.length, 30_000);
    const dbName = new URL(db.url).pathname.slice(1);
    const killer = new pg.Client({ connectionString: inject('postgresAdminUrl') });
    await killer.connect();
    let terminated = 0;
    try {
      for (let round = 1; round <= 5; round++) {
        // desired_state is an input of generation: these batches generate and write rows (a url alone would
        // not, and its short batches would rarely be in flight when the backends are terminated).
        await produce(kafka, ctx.topic, rows.map((r) => asJson(updatedEvent(r.id, round + 1, { url: `https://r${round}`, desired_state: round % 2 ? 'Stopped' : 'Running' }))));
        // Often: a batch takes a few statements, so its window is short.
        for (let k = 0; k < 15; k++) {
          await new Promise((r) => setTimeout(r, 20));
          // Only this test's CLI: its database is unique, and its connections carry the CLI's application_name.
          const { rowCount } = await killer.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'rebuild-projection (%' AND pid <> pg_backend_pid()`,
            [dbName],
          );
          terminated += rowCount ?? 0;
        }
      }
    } finally {
      await killer.end();
    }
    const finalRows = rows.map((r) => ({ ...r, url: 'https://r5', desired_state: 'Stopped' }));
    const converged = await waitFor(async () => isDeepStrictEqual(await readModel(db.pool), expectedModel(finalRows)), 30_000).then(
      () => true,
      () => false,
    );
    follower.child.kill('SIGTERM');
    const { code, stderr } = await follower.exited;
    expect({ converged, stderr: converged ? '' : stderr }).toEqual({ converged: true, stderr: '' });
    expect(terminated).toBeGreaterThan(0);
    expect(code).toBe(0);
    noStackTrace(stderr);
    expect(logEntries(stderr).filter((e) => e.level === 'warn').map((e) => e.msg)).toContainEqual(expect.stringMatching(/transient failure \(attempt \d+\), retrying in \d+ ms/));
  });

  it('a follower restarted after kill -9 applies a new event within 12 s (not after the 30 s session timeout)', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const rows = [51, 52].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    const first = spawnCli(cliArgs('--follow'));
    await produce(kafka, ctx.topic, [asJson(createdEvent(rows[0]!))]);
    await waitFor(async () => (await readModel(db.pool)).size === 1, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnCli(cliArgs('--follow'));
    const started = Date.now();
    await produce(kafka, ctx.topic, [asJson(createdEvent(rows[1]!))]);
    try {
      await waitFor(async () => (await readModel(db.pool)).size === 2, 40_000);
      expect(Date.now() - started).toBeLessThan(12_000);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    expect(await readModel(db.pool)).toEqual(expectedModel(rows));
  });

  it('refuses a retention gap past the checkpoint, naming partition, checkpoint and log start', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const rows = [41, 42, 43, 44, 45, 46].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    await produce(kafka, ctx.topic, rows.slice(0, 3).map((r) => asJson(createdEvent(r))));
    expect((await catchUp()).code).toBe(0);
    await produce(kafka, ctx.topic, rows.slice(3).map((r) => asJson(createdEvent(r))));
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [ctx.topic] });
      await admin.deleteTopicRecords({ topic: ctx.topic, partitions: [{ partition: 0, offset: '5' }] });
    } finally {
      await admin.disconnect();
    }
    const gap = new RegExp(`${ctx.topic}\\[0\\].*checkpoint is at offset 3 but the log now starts at 5.*--source snapshot`);
    for (const mode of [['--from-checkpoint'], ['--follow']]) {
      const result = await runCli(cliArgs(...mode), {}, 30_000);
      expect(result.code).toBe(1);
      expect(fatalMessages(result.stderr)).toEqual([expect.stringMatching(gap)]);
      noStackTrace(result.stderr);
    }
    expect(await readModel(db.pool)).toEqual(expectedModel(rows.slice(0, 3)));
  });

  it('a running follower refuses a retention gap that opens while it lags (detected at fetch, not only at start)', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const rows = [61, 62, 63, 64, 65, 66, 67].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    const follower = spawnCli(cliArgs('--follow'));
    await produce(kafka, ctx.topic, rows.slice(0, 3).map((r) => asJson(createdEvent(r))));
    await waitFor(async () => (await readModel(db.pool)).size === 3, 30_000);
    // Make the follower lag: its next batch waits for this lock while records past it are produced and deleted.
    const blocker = await db.pool.connect();
    const admin = kafka.admin();
    await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE rebuild_projection.checkpoints IN ACCESS EXCLUSIVE MODE');
      await produce(kafka, ctx.topic, [asJson(createdEvent(rows[3]!))]);
      await waitFor(async () => {
        const { rows: waiting } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return waiting.length > 0;
      }, 10_000);
      await produce(kafka, ctx.topic, rows.slice(4).map((r) => asJson(createdEvent(r))));
      await admin.fetchTopicMetadata({ topics: [ctx.topic] });
      await admin.deleteTopicRecords({ topic: ctx.topic, partitions: [{ partition: 0, offset: '6' }] });
    } finally {
      await blocker.query('COMMIT');
      blocker.release();
      await admin.disconnect();
    }
    const exited = await Promise.race([follower.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    if (exited === undefined) follower.child.kill('SIGKILL');
    expect(exited?.code).toBe(1);
    expect(exited?.stderr).toMatch(new RegExp(`${ctx.topic}\\[0\\].*checkpoint is at offset 4 but the log now starts at 6.*--source snapshot`));
    noStackTrace(exited?.stderr ?? '');
    expect(await readModel(db.pool)).toEqual(expectedModel(rows.slice(0, 4)));
    expect(await runStatus()).toBe('failed');
  });
});
