/** A fresh GitLab-shaped database per test (cloned from the template built in postgres-setup.ts). */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterEach, beforeEach, inject } from 'vitest';
import { insertAgentConfig } from './gitlab-rows.js';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  drop: () => Promise<void>;
}

/** A fresh database cloned from the GitLab-shaped template, or `empty` (for a test that loads GitLab's schema itself). */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `${inject('postgresRunPrefix')}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}${options.empty ? '' : ` TEMPLATE ${inject('postgresTemplate')}`}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // DROP DATABASE … WITH (FORCE) can reach a connection pool.end() is still closing: its FATAL must not
  // surface as an unhandled 'error' event in the test run.
  pool.on('error', () => undefined);
  return {
    url: url.toString(),
    pool,
    drop: async () => {
      // pool.end() resolves before its last connections have closed; DROP … WITH (FORCE) may then terminate one
      // (FATAL 57P01), which the pool re-emits as 'error': expected here, and without a listener it would throw.
      pool.on('error', () => undefined);
      await pool.end();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

export function readFixture(relativePath: string): string {
  return readFileSync(new URL(`../fixtures/${relativePath}`, import.meta.url), 'utf8');
}

/**
 * Registers a fresh GitLab-shaped database, holding one agent config (cluster agent 1, `dnsZone`), for every
 * test of the calling file, dropped after it. The returned object reads the current test's database.
 */
export function useFreshGitLabDatabase(dnsZone: string): Pick<TestDatabase, 'url' | 'pool'> {
  let current: TestDatabase | undefined;
  beforeEach(async () => {
    current = await createTestDatabase();
    await insertAgentConfig(current.pool, { cluster_agent_id: 1, dns_zone: dnsZone });
  });
  afterEach(async () => {
    await current?.drop();
    current = undefined;
  });
  const now = (): TestDatabase => {
    if (!current) throw new Error('useFreshGitLabDatabase: read the database inside a test');
    return current;
  };
  return {
    get url() {
      return now().url;
    },
    get pool() {
      return now().pool;
    },
  };
}

/**
 * Runs `work` with the URL of a new LOGIN role that may only SELECT (GitLab's tables, and ours when our schema
 * exists), as an operator's read-only role would; the role is dropped afterwards.
 */
export async function withReadOnlyRole(db: Pick<TestDatabase, 'url' | 'pool'>, work: (url: string) => Promise<void>): Promise<void> {
  const role = `read_only_${randomBytes(5).toString('hex')}`;
  await db.pool.query(`CREATE ROLE ${role} LOGIN`);
  try {
    await db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    if ((await db.pool.query(`SELECT to_regnamespace('rebuild_projection') IS NOT NULL AS ours`)).rows[0].ours) {
      await db.pool.query(`GRANT USAGE ON SCHEMA rebuild_projection TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA rebuild_projection TO ${role}`);
    }
    const url = new URL(db.url);
    url.username = role;
    await work(url.toString());
  } finally {
    await db.pool.query(`DROP OWNED BY ${role}`);
    await db.pool.query(`DROP ROLE ${role}`);
  }
}
