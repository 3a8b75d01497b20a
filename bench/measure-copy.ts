/**
 * (b) The PostgreSQL side's limit: one `COPY … FROM STDIN (FORMAT csv)` of the final rows (written by (c))
 * into a fresh table shaped like `workspace_agentk_states`: same columns, defaults and indexes
 * (`LIKE … INCLUDING ALL`), plus the foreign key to `workspaces` that the real table has. The table is
 * created and checkpointed before the timer starts; the COPY commits on its own (autocommit).
 *
 * The session has the rebuilder's own settings (OWN_SESSION_SETTINGS: lz4 TOAST compression, no JIT), so that
 * (b) is the limit of the writes the rebuilder makes; a setting the server refuses is measured without, as the
 * rebuilder then runs without it (the result says which).
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { connectWithOwnSettings } from '../src/sink/postgres/session-settings.js';

export const COPY_TABLE = 'bench_copy_agentk_states';

export interface CopyResult {
  elapsedMs: number;
  bytes: number;
  rows: number;
  /** The session settings the COPY ran with (OWN_SESSION_SETTINGS but those the server refused). */
  sessionSettings: Readonly<Record<string, string>>;
}

async function copySession(url: string): Promise<{ client: pg.Client; settings: Readonly<Record<string, string>> }> {
  const application_name = 'rebuild-projection bench (copy)';
  const { connected, settings } = await connectWithOwnSettings(async (options) => {
    const client = new pg.Client({ connectionString: url, application_name, ...(options === undefined ? {} : { options }) });
    await client.connect().catch(async (error: unknown) => {
      await client.end().catch(() => undefined);
      throw error;
    });
    return client;
  });
  return { client: connected, settings };
}

export async function measureCopy(url: string, copyFile: string, bytes: number): Promise<CopyResult> {
  const { client, settings } = await copySession(url);
  try {
    await client.query(`DROP TABLE IF EXISTS ${COPY_TABLE}`);
    await client.query(`CREATE TABLE ${COPY_TABLE} (LIKE workspace_agentk_states INCLUDING ALL)`);
    await client.query(`ALTER TABLE ${COPY_TABLE} ADD FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE`);
    await client.query('CHECKPOINT');
    const started = performance.now();
    const copy = client.query(copyFrom(`COPY ${COPY_TABLE} (workspace_id, project_id, desired_config, created_at, updated_at) FROM STDIN (FORMAT csv)`));
    await pipeline(createReadStream(copyFile, { highWaterMark: 1024 * 1024 }), copy);
    const elapsedMs = performance.now() - started;
    return { elapsedMs, bytes, rows: Number(copy.rowCount ?? 0), sessionSettings: settings };
  } finally {
    await client.end();
  }
}

export async function dropCopyTable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${COPY_TABLE}`);
  } finally {
    await client.end();
  }
}
