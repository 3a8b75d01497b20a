/**
 * The embedded default (no --database-url, no DATABASE_URL): the built CLI on a real PGlite data directory,
 * each mode, compared with what the pg path writes into a real PostgreSQL for the same workspaces.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import { openEmbeddedDatabase, type EmbeddedDatabase } from '../../src/sink/postgres/embedded.js';
import { SessionWaitError, SingleSessionDatabase } from '../../src/sink/postgres/single-session.js';
import { withTransaction } from '../../src/sink/postgres/transaction.js';
import type { Session } from '../../src/sink/postgres/database.js';
import { runCli, spawnCli, waitFor, type CliResult } from '../support/cli.js';
import { createTestDatabase, readFixture } from '../support/database.js';
import { insertAgentConfig, insertWorkspace } from '../support/gitlab-rows.js';
import { gitlabBackfillGolden } from '../support/golden.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logLines, logMessages } from '../support/log-lines.js';
import { asAvro, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const seedDevfile = readFixture('gitlab/seed-processed-devfile.yaml');
const root = mkdtempSync(join(tmpdir(), 'rebuild-projection-embedded-'));
const template = join(root, 'template');
let dataDir: string;

let firstRun: Promise<CliResult> | undefined;
/** The first run on a new data dir creates it (PGlite's initdb costs seconds): once, then copied for each test. */
const createTemplate = () => (firstRun ??= runCli(['agentk-states', '--status', '--data-dir', template]));

beforeAll(() => {
  // The embedded default is what runs without one (spawnCli passes this process's environment on).
  delete process.env.DATABASE_URL;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(async () => {
  await createTemplate();
  dataDir = mkdtempSync(join(root, 'data-'));
  cpSync(template, dataDir, { recursive: true });
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(['agentk-states', ...args, '--data-dir', dataDir]);

async function withEmbedded<T>(work: (db: EmbeddedDatabase) => Promise<T>): Promise<T> {
  const db = await openEmbeddedDatabase({ dataDir });
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

/** GitLab's seed workspace (its INSERT verbatim), two more, and one whose devfile is broken; name → id. */
async function insertWorkspaces(db: Session): Promise<Map<string, number>> {
  await insertAgentConfig(db, { cluster_agent_id: 1, dns_zone: 'test.workspace.me' });
  await db.query(readFixture('sql/seed-workspace-insert.sql'));
  await insertWorkspace(db, { name: 'ws-a', processed_devfile: seedDevfile });
  await insertWorkspace(db, { name: 'ws-b', processed_devfile: seedDevfile, desired_state: 'Stopped', project_id: 61 });
  await insertWorkspace(db, { name: 'ws-broken', processed_devfile: 'components: [' });
  const { rows } = await db.query<{ name: string; id: string }>('SELECT name, id FROM workspaces');
  return new Map(rows.map((row) => [row.name, Number(row.id)]));
}

/** workspace name → the row's project_id and desired_config (ids may differ between databases). */
async function rowsByName(db: Session): Promise<Map<string, { project_id: string; desired_config: unknown }>> {
  const { rows } = await db.query<{ name: string; project_id: string; desired_config: unknown }>(
    'SELECT w.name, s.project_id::text, s.desired_config FROM workspace_agentk_states s JOIN workspaces w ON w.id = s.workspace_id ORDER BY w.name',
  );
  return new Map(rows.map((row) => [row.name, { project_id: row.project_id, desired_config: row.desired_config }]));
}

describe('the single-session adapter', () => {
  let pglite: PGlite;
  let db: SingleSessionDatabase;
  beforeEach(async () => {
    pglite = await PGlite.create({ dataDir: join(dataDir, 'postgres') });
    const client = new pg.Client(createPgConfig(pglite));
    await client.connect();
    db = new SingleSessionDatabase(client, { waitLimitMs: 1_000 });
    await db.query('CREATE TABLE t (x int)');
  });
  afterEach(async () => {
    await db.end();
    await pglite.close();
  });
  const count = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n;

  it("gives a lease's transaction the session to itself: another lease's statement runs after its ROLLBACK, not inside it", async () => {
    const a = await db.connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO t VALUES (1)');
    let seen: number | undefined;
    const beside = count().then((n) => (seen = n));
    await a.query('INSERT INTO t VALUES (2)');
    expect(seen).toBeUndefined();
    await a.query('ROLLBACK');
    a.release();
    expect(await beside).toBe(0);
  });

  it('rolls back a transaction whose lease is given back inside it, before any other statement', async () => {
    const a = await db.connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO t VALUES (1)');
    a.release(new Error('its connection broke'));
    expect(await count()).toBe(0);
  });

  it('does not hold a READ ONLY transaction open: transactions of other leases commit beside it', async () => {
    const reader = await db.connect();
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await withTransaction(db, (client) => client.query('INSERT INTO t VALUES (1)'));
    expect((await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0]!.n).toBe(1);
    await reader.query('COMMIT');
    reader.release();
  });

  it('fails a statement that waits too long for a transaction (one that waits for it) instead of hanging', async () => {
    const a = await db.connect();
    await a.query('BEGIN');
    await expect(db.query('SELECT 1')).rejects.toThrow(SessionWaitError);
    await expect(db.query('SELECT 1')).rejects.toThrow(/one session has been in another transaction of this process for 1 s while a statement waited/);
    await a.query('ROLLBACK');
    a.release();
    expect(await count()).toBe(0);
  });
});

describe('the embedded PostgreSQL (no --database-url)', () => {
  it("creates GitLab's tables in a new data dir on first use, says where the data is kept, and opens it again later", async () => {
    const first = await createTemplate();
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`using the embedded PostgreSQL in ${template} (created, with GitLab's tables)`);
    expect(first.stdout).toContain('bookkeeping: none (no rebuild_projection schema: nothing has run against this database yet)');
    const second = await cli('--status');
    expect(second.code).toBe(0);
    expect(logMessages(second.stderr)).toEqual([expect.stringContaining(`using the embedded PostgreSQL in ${dataDir};`)]);
    expect(logMessages(second.stderr)[0]).not.toContain('created');
    const { created, tables } = await withEmbedded(async (db) => ({
      created: db.created,
      tables: (await db.query<{ t: string | null }>(`SELECT unnest(ARRAY[to_regclass('workspaces'), to_regclass('workspace_agentk_states'), to_regclass('rebuild_projection.runs')])::text AS t`)).rows,
    }));
    expect(created).toBe(false);
    // --status only reads: GitLab's tables are there, our schema is not created by it.
    expect(tables.map((r) => r.t)).toEqual(['workspaces', 'workspace_agentk_states', null]);
  });

  it('refuses a data dir that holds something else, or is not a directory, with one line', async () => {
    const other = mkdtempSync(join(root, 'other-'));
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const result = await runCli(['agentk-states', '--status', '--data-dir', other]);
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([
      `fatal: --data-dir ${other} holds files that are not an embedded database of rebuild-projection (notes.txt…): pass an empty or new directory`,
    ]);
    expect(readdirSync(other)).toEqual(['notes.txt']);
    const notADirectory = await runCli(['agentk-states', '--status', '--data-dir', join(other, 'notes.txt')]);
    expect(notADirectory.code).toBe(1);
    expect(logLines(notADirectory.stderr)).toEqual([expect.stringMatching(/^fatal: cannot use --data-dir .*notes\.txt: EEXIST/)]);
  });

  it('rebuilds from a snapshot the rows the pg path writes; --verify, --status, --explain, --dead-letters read them; a second run finds them kept', async () => {
    const ids = await withEmbedded(insertWorkspaces);
    const rebuild = await cli('--source', 'snapshot');
    // ws-broken is dead-lettered: exit 2.
    expect(rebuild.stdout).toMatch(/rebuild #1 from snapshot: 4 workspaces, 3 written, 0 unchanged, 0 deleted, 1 failed/);
    expect(rebuild.code).toBe(2);

    const pgDb = await createTestDatabase();
    let expected;
    try {
      await insertWorkspaces(pgDb.pool);
      expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', pgDb.url])).code).toBe(2);
      expected = await rowsByName(pgDb.pool);
    } finally {
      await pgDb.drop();
    }
    const rows = await withEmbedded(rowsByName);
    expect([...rows.keys()]).toEqual(['workspace-2', 'ws-a', 'ws-b']);
    expect(rows).toEqual(expected);
    expect(rows.get('workspace-2')).toEqual({
      project_id: '60',
      desired_config: gitlabBackfillGolden({ name: 'workspace-2', namespace: 'workspace_2_namespace', id: ids.get('workspace-2')!, replicas: 1 }),
    });

    const verify = await cli('--verify');
    expect(verify.stdout).toMatch(/^agentk-states verify: 4 workspaces, 3 equal, 0 differing, 0 missing, 0 extra, 1 failed/);
    expect(verify.code).toBe(0);

    const status = await cli('--status');
    expect(status.stdout).toMatch(/generation: rebuild #1 from snapshot, switched/);
    expect(status.stdout).toContain('dead letters: 1');
    expect(status.code).toBe(0);

    const brokenId = ids.get('ws-broken')!;
    const explained = await cli('--explain', String(brokenId), '--json');
    expect(JSON.parse(explained.stdout)).toMatchObject({ workspace_id: brokenId, dead_letters: [expect.objectContaining({ source: 'snapshot' })], dead_letters_total: 1 });
    expect(explained.code).toBe(2);

    const letters = await cli('--dead-letters', '--json');
    expect(JSON.parse(letters.stdout)).toMatchObject({ total: 1, letters: [expect.objectContaining({ workspace_id: brokenId })] });
    expect(letters.code).toBe(2);

    const again = await cli('--source', 'snapshot');
    expect(again.stdout).toMatch(/rebuild #2 from snapshot: 4 workspaces, 0 written, 3 unchanged, 0 deleted, 1 failed/);
    expect(again.code).toBe(2);
  });

  it('refuses a second process on the same data dir while the first holds it, with one line', async () => {
    await withEmbedded(async () => {
      const second = await cli('--status');
      expect(second.code).toBe(1);
      expect(logLines(second.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(`^fatal: the embedded database in ${dataDir} is in use by process ${process.pid} on .+ \\(one process at a time; its lock: .+\\): wait for it to end`),
        ),
      ]);
    });
  });

  it('takes over the lock of a process that died without releasing it (kill -9)', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dataDir, 'rebuild-projection.lock'), JSON.stringify({ pid: dead, host: hostname() }));
    const status = await cli('--status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('bookkeeping: none (no rebuild_projection schema: nothing has run against this database yet)');
    expect(readdirSync(dataDir)).toEqual(['postgres']);
  });
});

describe('the embedded PostgreSQL with Kafka', () => {
  const brokers = inject('kafkaBrokers');
  let kafka: Kafka;
  let topic: string;
  let group: string;
  beforeAll(() => {
    kafka = createTestKafka(brokers, 'embedded-tests');
  });
  beforeEach(() => {
    const suffix = randomBytes(4).toString('hex');
    topic = `embedded-events-${suffix}`;
    group = `embedded-${suffix}`;
  });
  const kafkaArgs = () => ['--brokers', brokers, '--topic', topic, '--group', group];

  /** The replicas of a workspace's Deployment (1 running, 0 stopped). */
  const replicas = (config: unknown) => (config as { kind: string; spec?: { replicas?: number } }[]).find((o) => o.kind === 'Deployment')?.spec?.replicas;

  /** Until the group has committed (after PostgreSQL) every partition's end offset. */
  async function consumedToEnd(groupId: string): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        const ends = await admin.fetchTopicOffsets(topic);
        const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
        return ends.every((end) => committed.find((c) => c.partition === end.partition)?.offset === end.high);
      });
    } finally {
      await admin.disconnect();
    }
  }

  it('rebuilds from a 3-partition topic, then follows it (partitions consumed concurrently on the one session): the rows the pg path writes', async () => {
    const n = 30;
    const rows = Array.from({ length: n }, (_, i) => workspaceRow(i + 1));
    await createTopic(kafka, topic, 3);
    await produce(kafka, topic, rows.flatMap((row) => [asAvro(createdEvent(row)), asAvro(updatedEvent(row.id, 2, { desired_state: 'Stopped' }))]));
    const prepare = async (db: Session) => {
      await insertAgentConfig(db, { cluster_agent_id: 1, dns_zone: 'embedded.example' });
      await upsertWorkspaceRows(db, rows);
    };
    await withEmbedded(prepare);

    const rebuild = await cli(...kafkaArgs());
    expect(rebuild.stdout).toMatch(new RegExp(`rebuild #1 from kafka: ${n} workspaces, ${n} written, 0 unchanged, 0 deleted, 0 failed`));
    expect(rebuild.code).toBe(0);

    const follower = spawnCli(['agentk-states', '--follow', ...kafkaArgs(), '--data-dir', dataDir]);
    // Ten workspaces start again, spread over the three partitions.
    await produce(kafka, topic, rows.slice(0, 10).map((row) => asAvro(updatedEvent(row.id, 3, { desired_state: 'Running' }))));
    await consumedToEnd(group);
    const beside = await cli('--status');
    expect(beside.code).toBe(1);
    expect(logLines(beside.stderr)).toEqual([expect.stringMatching(new RegExp(`^fatal: .*in use by process ${follower.child.pid} on `))]);
    follower.child.kill('SIGTERM');
    const followed = await follower.exited;
    expect(followed.stdout).toMatch(/agentk-states kafka follow: 10 events, 10 written/);
    expect(followed.code).toBe(0);

    const embedded = await withEmbedded(readModel);
    expect(embedded.size).toBe(n);
    expect([...embedded].map(([id, config]) => [id, replicas(config)])).toEqual(rows.map((row) => [row.id, row.id <= 10 ? 1 : 0]));
    const pgDb = await createTestDatabase();
    try {
      await prepare(pgDb.pool);
      const pgRun = await runCli(['agentk-states', ...kafkaArgs(), '--group', `${group}-pg`, '--database-url', pgDb.url]);
      expect(pgRun.code).toBe(0);
      expect(await readModel(pgDb.pool)).toEqual(embedded);
    } finally {
      await pgDb.drop();
    }
  });
});
