/**
 * A rebuild is never silently wrong or stuck: a resumed snapshot misses no committed change, a busy --follow
 * consumer beside it does not make it give up, two databases' rebuilds do not share a Kafka group, a lost
 * connection stops it cleanly (or is retried), and a transaction-pooling PgBouncer is refused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { testProducerConfig } from '../support/kafka-broker.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';
import { asAvro, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'rebuild-safety-tests', dnsZone: 'gen1.example', topicPrefix: 'workspace-events', groupPrefix: 'rebuild-safety' });
const { brokers, kafka, db } = ctx;
const cleanups: (() => Promise<void>)[] = [];

// Registered after the context's hooks, so it runs before the test's database is dropped.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const kafkaArgs = (url = db.url) => ['--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', url];
const cli = (...args: string[]) => runCli(['agentk-states', ...args, ...kafkaArgs()], {}, 180_000);

async function count(sql: string, on = db): Promise<number> {
  return Number((await on.pool.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
}

/** Replicas of each workspace's Deployment (the generator: Running → 1, Stopped → 0). */
async function replicas(on = db): Promise<Map<number, number>> {
  const model = await readModel(on.pool);
  return new Map([...model].map(([id, config]) => [id, (config as { spec?: { replicas?: number } }[])[1]!.spec!.replicas!]));
}

const zonesOf = async (on = db) =>
  (
    await on.pool.query<{ zone: string; n: number }>(
      `SELECT substring(desired_config -> 0 -> 'metadata' -> 'annotations' ->> 'workspaces.gitlab.com/host-template' FROM '[.]([a-z0-9]+[.]example)$') AS zone,
              count(*)::int AS n FROM workspace_agentk_states GROUP BY 1 ORDER BY 1`,
    )
  ).rows;

/** N workspaces in `workspaces` of each database, and their creates in a 3-partition topic. */
async function streamTo(n: number, databases: Pick<TestDatabase, 'url' | 'pool'>[]): Promise<void> {
  await createTopic(kafka, ctx.topic, 3);
  const rows = Array.from({ length: n }, (_, i) => workspaceRow(i + 1));
  for (const target of databases) await upsertWorkspaceRows(target.pool, rows);
  await produce(kafka, ctx.topic, rows.map((row) => asAvro(createdEvent(row))));
}

/** The live table at generation 1 (from Kafka), then the agent config says generation 2. */
async function liveGenerationOne(n: number): Promise<void> {
  await streamTo(n, [db]);
  expect((await cli('--from-beginning')).code).toBe(0);
  expect(await zonesOf()).toEqual([{ zone: 'gen1.example', n }]);
  await db.pool.query(`UPDATE workspaces_agent_configs SET dns_zone = 'gen2.example'`);
}

/** The one-line failure contract: no stack trace, no unhandled event, one fatal line and no other error. */
function expectOneLine(stderr: string): void {
  expect(stderr).not.toMatch(/Unhandled|\n\s+at /);
  expect(fatalMessages(stderr)).toHaveLength(1);
  expect(logEntries(stderr).filter((e) => e.level === 'error')).toEqual([]);
}

describe('rebuild safety', () => {
  it('a resumed snapshot rebuild applies changes committed after the first snapshot even with an older updated_at', async () => {
    const n = 1500;
    await upsertWorkspaceRows(db.pool, Array.from({ length: n }, (_, i) => workspaceRow(i + 1)));
    const first = spawnCli(['agentk-states', '--source', 'snapshot', '--batch-size', '25', '--database-url', db.url]);
    await waitFor(async () => (await count(`SELECT coalesce(max(snapshot_after_id), 0) AS n FROM rebuild_projection.rebuilds`)) >= 300);
    first.child.kill('SIGKILL');
    await first.exited;
    const cursor = await count(`SELECT snapshot_after_id AS n FROM rebuild_projection.rebuilds`);
    expect(cursor).toBeLessThan(n);
    // GitLab (Rails) set updated_at before COMMIT, here long before the first snapshot was taken.
    await db.pool.query(`BEGIN; UPDATE workspaces SET updated_at = '2024-01-01T00:00:00Z', desired_state = 'Stopped' WHERE id <= ${cursor}; COMMIT;`);

    const resumed = await cli('--source', 'snapshot');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/\(resumed\)/);
    const live = await replicas();
    expect(live.size).toBe(n);
    for (const [id, count] of live) expect([id, count]).toEqual([id, id <= cursor ? 0 : 1]);
    // A rebuild from scratch generates exactly the same rows: it writes none.
    const fresh = await cli('--source', 'snapshot');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(new RegExp(`rebuild #2 from snapshot: ${n} workspaces, 0 written, ${n} unchanged`));
  });

  it('two rebuilds into two databases from one topic with the same --group both finish, and leave no group behind', async () => {
    const other = await createTestDatabase();
    cleanups.push(() => other.drop());
    await insertAgentConfig(other.pool, { cluster_agent_id: 1, dns_zone: 'gen1.example' });
    await streamTo(400, [db, other]);
    const [a, b] = await Promise.all([
      runCli(['agentk-states', ...kafkaArgs(db.url)], {}, 90_000),
      runCli(['agentk-states', ...kafkaArgs(other.url)], {}, 90_000),
    ]);
    expect([a.code, a.stderr]).toEqual([0, expect.any(String)]);
    expect([b.code, b.stderr]).toEqual([0, expect.any(String)]);
    expect(a.stdout).toMatch(/rebuild #1 from kafka: 400 workspaces, 400 written/);
    expect(b.stdout).toMatch(/rebuild #1 from kafka: 400 workspaces, 400 written/);
    expect((await readModel(db.pool)).size).toBe(400);
    expect((await readModel(other.pool)).size).toBe(400);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      expect(groups.map((g) => g.groupId).filter((id) => id.startsWith(`${ctx.group}.rebuild`))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });

  it('converges beside a busy --follow consumer (a producer at ~400 msg/s) and switches in what it applied', async () => {
    const n = 300;
    await liveGenerationOne(n);
    const follower = spawnCli(['agentk-states', '--follow', ...kafkaArgs()]);
    cleanups.push(async () => {
      if (follower.child.exitCode === null) follower.child.kill('SIGKILL');
    });
    const producer = kafka.producer(testProducerConfig);
    await producer.connect();
    const version = new Map<number, number>();
    const stopped = new Map<number, boolean>();
    let producing = true;
    const loop = (async () => {
      while (producing) {
        const messages = Array.from({ length: 40 }, () => {
          const id = 1 + Math.floor(Math.random() * n);
          const next = (version.get(id) ?? 1) + 1;
          version.set(id, next);
          stopped.set(id, next % 2 === 0);
          return asAvro(updatedEvent(id, next, { desired_state: next % 2 === 0 ? 'Stopped' : 'Running' }));
        });
        await producer.send({ topic: ctx.topic, acks: -1, messages });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const rebuild = await cli();
      expect([rebuild.code, rebuild.stderr]).toEqual([0, expect.not.stringContaining('could not catch up')]);
    } finally {
      producing = false;
      await loop;
      await producer.disconnect();
    }
    expect(version.size).toBeGreaterThan(50);
    // The follower goes on after the switch; once it has everything, each row is its last event's state.
    await waitFor(async () => {
      const live = await replicas();
      return [...stopped].every(([id, isStopped]) => live.get(id) === (isStopped ? 0 : 1));
    }, 60_000);
    expect(await zonesOf()).toEqual([{ zone: 'gen2.example', n }]);
    follower.child.kill('SIGTERM');
    expect((await follower.exited).code).toBe(0);
  });

  /**
   * Terminates this test's rebuild backends; `sparingLock`: all but the session holding the rebuild lock (other
   * sessions hold advisory locks too: every batch transaction, the run's liveness session).
   */
  const terminateRebuildBackends = (sparingLock: boolean) =>
    db.pool.query(
      `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.application_name LIKE 'rebuild-projection%'
          AND NOT ($1 AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                                  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('rebuild:agentk-states', 0)))`,
      [sparingLock],
    );

  const phases = [
    ['kafka', 'building', `SELECT coalesce(sum(next_offset), 0) AS n FROM rebuild_projection.checkpoints WHERE projection LIKE '%@rebuild-%'`],
    ['kafka', 'materializing', `SELECT count(*) AS n FROM rebuild_projection.shadow_agentk_states`],
    ['snapshot', 'building', `SELECT coalesce(max(done), 0) AS n FROM rebuild_projection.rebuilds`],
  ];

  it.each(phases)('a %s rebuild whose every connection is terminated while %s stops before its switch with one line, then resumes', async (source, _phase, progressSql) => {
    // Enough workspaces that the phase is still running when the termination lands.
    const n = 1500;
    await liveGenerationOne(n);
    const before = await readModel(db.pool);
    const rebuild = spawnCli(['agentk-states', '--source', source!, '--batch-size', '10', ...kafkaArgs()]);
    await waitFor(async () => (await count(progressSql!)) > 0);
    await terminateRebuildBackends(false);
    const { code, stderr } = await rebuild.exited;
    expect(code).toBe(1);
    expectOneLine(stderr);
    expect(fatalMessages(stderr)[0]).toMatch(/^lost the rebuild lock \(its database session ended: terminating connection due to administrator command\); the rebuild stopped before its switch and the live table is untouched; run the same command again to resume it/);
    expect(await readModel(db.pool)).toEqual(before);
    const again = await cli('--source', source!);
    expect([again.code, again.stdout]).toEqual([0, expect.stringContaining('(resumed)')]);
    expect(await zonesOf()).toEqual([{ zone: 'gen2.example', n }]);
  });

  it.each(phases)('a %s rebuild whose pooled connections (not the lock\'s) are terminated while %s retries and completes', async (source, _phase, progressSql) => {
    const n = 800;
    await liveGenerationOne(n);
    const rebuild = spawnCli(['agentk-states', '--source', source!, '--batch-size', '10', ...kafkaArgs()]);
    await waitFor(async () => (await count(progressSql!)) > 0);
    // Until one pooled connection was open to be terminated (they come and go with the batches).
    let terminated = 0;
    let exited = false;
    void rebuild.exited.then(() => (exited = true));
    await waitFor(async () => exited || (terminated += (await terminateRebuildBackends(true)).rowCount ?? 0) > 0);
    expect(terminated).toBeGreaterThan(0);
    const { code, stderr } = await rebuild.exited;
    expect([code, stderr]).toEqual([0, expect.not.stringMatching(/Unhandled|\n\s+at /)]);
    expect(await zonesOf()).toEqual([{ zone: 'gen2.example', n }]);
  });

  it('refuses, with one line, a target reached through PgBouncer in transaction pooling mode', async (context) => {
    if (spawnSync('pgbouncer', ['--version']).status !== 0) {
      context.skip('pgbouncer is not installed (apt-get install pgbouncer): the PgBouncer test is skipped');
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
    chmodSync(dir, 0o777);
    const database = new URL(db.url).pathname.slice(1);
    writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      `[databases]\n${database} = host=127.0.0.1 port=5432 dbname=${database}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\n` +
        `unix_socket_dir =\nauth_type = trust\nauth_file = ${join(dir, 'users.txt')}\npool_mode = transaction\nmax_client_conn = 50\ndefault_pool_size = 10\n` +
        `ignore_startup_parameters = extra_float_digits,options\n`,
    );
    // PgBouncer refuses to run as root.
    const asUser = process.getuid?.() === 0 ? ['-u', 'postgres'] : [];
    const bouncer = spawn('pgbouncer', [...asUser, join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
    cleanups.push(async () => {
      bouncer.kill('SIGTERM');
      await new Promise((r) => bouncer.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    });
    await upsertWorkspaceRows(db.pool, Array.from({ length: 20 }, (_, i) => workspaceRow(i + 1)));
    const url = new URL(db.url);
    url.port = String(port);
    await waitFor(async () => (await runCli(['agentk-states', '--status', '--database-url', url.toString()])).code === 0, 20_000);

    const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', url.toString()]);
    expect(result.code).toBe(1);
    expectOneLine(result.stderr);
    expect(fatalMessages(result.stderr)[0]).toContain('PgBouncer in transaction pooling mode');
    expect(fatalMessages(result.stderr)[0]).toContain('connects directly to PostgreSQL or through a session-pooled PgBouncer');
    expect(await count('SELECT count(*) AS n FROM rebuild_projection.rebuilds')).toBe(0);
    expect((await readModel(db.pool)).size).toBe(0);
    // The same database, connected directly, rebuilds.
    expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url])).code).toBe(0);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
