/**
 * vitest globalSetup: builds a template database holding GitLab's tables (schemas/gitlab/gitlab-schema.sql)
 * once per run, so that every test file can clone a fresh, isolated database from it in milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    postgresTemplate: string;
    postgresRunPrefix: string;
  }
}

/**
 * This run's own prefix: the server may be shared with other checkouts and other runs, so the run creates,
 * and later drops, only databases whose names start with it (never a pattern that could match theirs).
 */
export const RUN_PREFIX = `rebuild_projection_test_${randomBytes(4).toString('hex')}`;
const TEMPLATE_DATABASE = `${RUN_PREFIX}_template`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  const template = new pg.Client({ connectionString: templateUrl.toString() });
  await template.connect();
  try {
    await template.query(readFileSync(new URL('../../schemas/gitlab/gitlab-schema.sql', import.meta.url), 'utf8'));
  } finally {
    await template.end();
  }
  project.provide('postgresAdminUrl', adminUrl);
  project.provide('postgresTemplate', TEMPLATE_DATABASE);
  project.provide('postgresRunPrefix', RUN_PREFIX);
  return async () => {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    try {
      // Only this run's databases: LIKE with the run's random prefix (no wildcard characters in it).
      const { rows: dbs } = await cleanup.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`,
        [RUN_PREFIX],
      );
      for (const { datname } of dbs) await cleanup.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    } finally {
      await cleanup.end();
    }
  };
}
