/**
 * Configuration and safety at the edges, through the built binary: --config and the environment, nothing created
 * in a database that is not GitLab's, a read-only --status, and bounded waits for an unreachable database or broker.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, inject } from 'vitest';
import { CLI_PATH, runCli } from '../support/cli.js';
import { useFreshGitLabDatabase, withReadOnlyRole } from '../support/database.js';
import { insertWorkspace } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logLines } from '../support/log-lines.js';
import { createTopic, seedDevfile } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rebuild-projection-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const writeConfig = (name: string, lines: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
};

/** Every table, view, sequence and schema a user created: what a run must not add to a database it refuses. */
async function userObjects(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       UNION ALL
       SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public') AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
       ORDER BY 1`,
    );
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

describe('a database that is not GitLab\'s', () => {
  let url: string;
  let name: string;
  beforeEach(async () => {
    name = `${inject('postgresRunPrefix')}_empty_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`).finally(() => admin.end());
    const parsed = new URL(inject('postgresAdminUrl'));
    parsed.pathname = `/${name}`;
    url = parsed.toString();
  });
  afterEach(async () => {
    const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => admin.end());
  });

  const kafka = ['--brokers', brokers, '--topic', 'not-created-here'];
  const everyMode = [
    ['--source', 'snapshot'],
    kafka,
    ['--follow', ...kafka],
    ['--from-beginning', ...kafka],
    ['--source', 'snapshot', '--follow', ...kafka],
    ['--no-switch', '--source', 'snapshot'],
    ['--preview'],
    ['--switch', '--fingerprint', 'a'.repeat(64)],
    ['--rollback'],
    ['--status', ...kafka],
    ['--verify'],
    ['--explain', '1'],
    ['--dead-letters'],
    ['--retry-dead-letters'],
    ['--purge-dead-letters', '--yes'],
    ['--source', 'file:/nonexistent/events.ndjson'],
    ['--export-events', ...kafka],
  ];

  it('is refused by every mode with one line naming it and what is missing, and nothing is created in an empty one', async () => {
    const results = await Promise.all(everyMode.map((mode) => runCli(['agentk-states', ...mode, '--database-url', url])));
    for (const [i, result] of results.entries()) {
      expect({ mode: everyMode[i], code: result.code, stdout: result.stdout, stderr: logLines(result.stderr) }).toEqual({
        mode: everyMode[i],
        code: 1,
        stdout: '',
        stderr: [
          'fatal: the target database has no "workspaces", "workspaces_agent_configs", "workspaces_agent_config_versions", ' +
            `"workspace_agentk_states" tables: ${url} is not GitLab's database (point --database-url at it); nothing was created in it`,
        ],
      });
    }
    expect(await userObjects(url)).toEqual([]);
  });

  it("is refused when it only happens to have a workspaces table, which is left as it was", async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE workspaces (id bigint PRIMARY KEY, name text, owner text)').finally(() => client.end());
    const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', url]);
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([
      'fatal: the target database has no "workspaces_agent_configs", "workspaces_agent_config_versions", "workspace_agentk_states" tables, ' +
        'and "workspaces" has no columns "project_id", "cluster_agent_id", "namespace", "desired_state", "actual_state", "processed_devfile", ' +
        `"workspaces_agent_config_version": ${url} is not GitLab's database (point --database-url at it); nothing was created in it`,
    ]);
    expect(await userObjects(url)).toEqual(['public.workspaces', 'public.workspaces_pkey']);
  });
});

describe('--status', () => {
  const db = useFreshGitLabDatabase('test.workspace.me');
  const schemaMigrations = async () =>
    (await db.pool.query<{ version: number }>('SELECT version FROM rebuild_projection.schema_migrations ORDER BY version')).rows.map((r) => r.version);

  it('runs as a role that may only SELECT, and creates nothing in a database nothing has run against', async () => {
    await withReadOnlyRole(db, async (readOnly) => {
      const result = await runCli(['agentk-states', '--status', '--database-url', readOnly]);
      expect(result).toEqual({
        code: 0,
        stdout: 'projection: agentk-states\nbookkeeping: none (no rebuild_projection schema: nothing has run against this database yet)\n',
        stderr: '',
      });
    });
    expect((await db.pool.query(`SELECT to_regnamespace('rebuild_projection') AS oid`)).rows[0].oid).toBeNull();
  });

  it('reads the bookkeeping as a SELECT-only role: reports a gone run without marking it, and applies no migration', async () => {
    await insertWorkspace(db.pool, { name: 'ws-status', processed_devfile: seedDevfile });
    expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url])).code).toBe(0);
    // A run whose process is gone: 'running', but nobody holds its liveness lock.
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO rebuild_projection.runs (projection, mode, source, host, pid, session_pid) VALUES ('agentk-states', 'follow', 'kafka', 'gone-host', 4242, 0) RETURNING id::text`,
    );
    const goneId = rows[0]!.id;
    const migrations = await schemaMigrations();
    await withReadOnlyRole(db, async (readOnly) => {
      const result = await runCli(['agentk-states', '--status', '--database-url', readOnly]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^generation: rebuild #1 from snapshot, switched, /m);
      expect(result.stdout).toContain('checkpoints: none (nothing consumed from Kafka yet)\ndead letters: 0\ncrashed runs: 1 (latest first)\n');
      expect(result.stdout).toMatch(new RegExp(`^  #${goneId} follow, started .* by pid 4242 on gone-host, its process is gone \\(marked crashed by the next run\\)$`, 'm'));

      // A bookkeeping schema older than this version: reported, not migrated.
      await db.pool.query('DELETE FROM rebuild_projection.schema_migrations WHERE version = $1', [migrations.at(-1)]);
      const outdated = await runCli(['agentk-states', '--status', '--database-url', readOnly]);
      expect(outdated).toEqual({
        code: 0,
        stdout: `projection: agentk-states\nbookkeeping: migration ${migrations.at(-1)} not applied yet (the next rebuild, replay or --follow applies them; --status only reads)\n`,
        stderr: '',
      });
    });
    expect((await db.pool.query('SELECT status FROM rebuild_projection.runs WHERE id = $1', [goneId])).rows[0].status).toBe('running');
    expect(await schemaMigrations()).toEqual(migrations.slice(0, -1));
  });

  it('asks Kafka even before anything ran: the end offsets, or exit 1 with the reason on stderr', async () => {
    const topic = `status-${randomBytes(4).toString('hex')}`;
    const kafka = createTestKafka(brokers, 'configuration-tests');
    await createTopic(kafka, topic, 2);
    const reachable = await runCli(['agentk-states', '--status', '--database-url', db.url, '--brokers', brokers, '--topic', topic]);
    expect(reachable).toEqual({
      code: 0,
      stdout: `projection: agentk-states\nbookkeeping: none (no rebuild_projection schema: nothing has run against this database yet)\nkafka: end offsets ${topic}:0 0, ${topic}:1 0\n`,
      stderr: '',
    });
    const unreachable = await runCli(['agentk-states', '--status', '--database-url', db.url, '--brokers', '127.0.0.1:1', '--topic', topic]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toContain(`\nkafka: unavailable (topics ${topic}): cannot reach Kafka brokers 127.0.0.1:1`);
    expect(logLines(unreachable.stderr)).toEqual([expect.stringMatching(/^fatal: cannot reach Kafka brokers 127\.0\.0\.1:1 /)]);
    expect((await db.pool.query(`SELECT to_regnamespace('rebuild_projection') AS oid`)).rows[0].oid).toBeNull();
  });

  it('prints the PostgreSQL part and one line when a topic is missing, exit 1', async () => {
    expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url])).code).toBe(0);
    const topic = `never-created-${randomBytes(4).toString('hex')}`;
    const result = await runCli(['agentk-states', '--status', '--database-url', db.url, '--brokers', brokers, '--topic', topic]);
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([`fatal: topic not found on the broker: ${topic}`]);
    expect(result.stdout).toMatch(/^generation: rebuild #1 from snapshot/m);
    expect(result.stdout).toContain(`\nkafka: unavailable (topics ${topic}): topic not found on the broker: ${topic}; lag unknown\ncheckpoints: none`);
  });

  it('answers within its bound when no broker listens, with the PostgreSQL part and one line saying so', async () => {
    expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url])).code).toBe(0);
    const started = Date.now();
    const result = await runCli(['agentk-states', '--status', '--database-url', db.url, '--brokers', '127.0.0.1:1', '--topic', 'workspace-events']);
    const elapsed = Date.now() - started;
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual(['fatal: cannot reach Kafka brokers 127.0.0.1:1 (PLAINTEXT): connection refused (after 3 attempts)']);
    expect(result.stdout).toMatch(/^generation: rebuild #1 from snapshot/m);
    expect(result.stdout).toMatch(/^kafka: unavailable \(topics workspace-events\): cannot reach Kafka brokers 127\.0\.0\.1:1 .+; lag unknown$/m);
    expect(elapsed).toBeLessThan(20_000);
  });
});

describe('an unreachable database', () => {
  let silent: Server;
  let port: number;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts connections and never answers: what a firewalled or hung host looks like to a client.
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails within seconds with one line naming the database without its password', async () => {
    const started = Date.now();
    const config = writeConfig('unreachable.yaml', [`database-url: postgres://app:hunter2@127.0.0.1:${port}/gitlab?sslpassword=hunter2`]);
    const result = await runCli(['agentk-states', '--status', '--config', config]);
    const elapsed = Date.now() - started;
    expect({ ...result, stderr: logLines(result.stderr) }).toEqual({
      code: 1,
      stdout: '',
      stderr: [`fatal: could not connect to the target database postgres://app:***@127.0.0.1:${port}/gitlab: no answer within 10 s`],
    });
    expect(result.stderr).not.toContain('hunter2');
    expect(elapsed).toBeGreaterThanOrEqual(9_000);
    expect(elapsed).toBeLessThan(14_000);
  });
});

describe('--config and the environment, through the binary', () => {
  const db = useFreshGitLabDatabase('test.workspace.me');

  it('runs from a config file, with a variable overriding it, and refuses a mistyped key with exit 64', async () => {
    for (const name of ['ws-1', 'ws-2', 'ws-3']) await insertWorkspace(db.pool, { name, processed_devfile: seedDevfile });
    const config = writeConfig('service.yaml', [`database-url: ${db.url}`, 'source: snapshot', 'batch-size: 2']);
    const rebuilt = await runCli(['agentk-states', '--config', config]);
    expect(rebuilt.stdout).toMatch(/^agentk-states rebuild #1 from snapshot: 3 workspaces, 3 written, /);
    expect(rebuilt.code).toBe(0);

    const badEnv = await runCli(['agentk-states'], { REBUILD_PROJECTION_CONFIG: config, REBUILD_PROJECTION_BATCH_SIZE: '0' });
    expect({ ...badEnv, stderr: logLines(badEnv.stderr) }).toEqual({ code: 64, stdout: '', stderr: ['fatal: REBUILD_PROJECTION_BATCH_SIZE must be between 1 and 100000 (see --help)'] });

    const typo = writeConfig('typo.yaml', [`database-url: ${db.url}`, 'batch-sise: 2']);
    const refused = await runCli(['agentk-states', '--config', typo, '--status']);
    expect({ ...refused, stderr: logLines(refused.stderr) }).toEqual({ code: 64, stdout: '', stderr: [`fatal: ${typo}: batch-sise: unknown key (did you mean batch-size?) (see --help)`] });
  });

  it('prints the version from package.json, and -h prints the help', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: `rebuild-projection ${version}\n`, stderr: '' });
    const help = await runCli(['-h']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: rebuild-projection agentk-states/);
    expect(help.stdout).toContain('  -h, --help ');
  });

  it("runs as the README says (npx rebuild-projection) through the bin's shebang, with its node flags (--max-semi-space-size=2)", async () => {
    // npx executes the bin itself: `npm run build` makes it executable (npx's own chmod happens only when it
    // first links the package, so a rebuilt dist/ behind a cached link would be refused: "Permission denied").
    expect(statSync(CLI_PATH).mode & 0o111).toBe(0o111);
    // A `node` ahead on PATH that records its arguments: what `env -S` in the shebang started node with.
    const dir = mkdtempSync(join(tmpdir(), 'bin-flags-'));
    try {
      const log = join(dir, 'log');
      writeFileSync(join(dir, 'node'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
      const { stdout } = await promisify(execFile)('npx', ['--no-install', 'rebuild-projection', '--version'], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` },
      });
      expect(stdout).toMatch(/^rebuild-projection \d/);
      const started = readFileSync(log, 'utf8').split('\n').filter((line) => line.endsWith(' --version') && !line.includes('--no-install'));
      expect(started).toHaveLength(1);
      const [flag, bin] = started[0]!.split(' ');
      expect(flag).toBe('--max-semi-space-size=2');
      expect(realpathSync(bin!)).toBe(realpathSync(CLI_PATH));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
