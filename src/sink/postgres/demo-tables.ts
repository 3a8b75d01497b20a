/**
 * `--demo` only. Reads for its summary, and the loading of its data: it fills GitLab's tables (`workspaces_agent_configs`, `workspaces`) of the demo's own database
 * with the demo data, as GitLab would hold them after the demo's events. The one place that writes GitLab
 * tables other than workspace_agentk_states, so it refuses any database whose tables hold anything else: it
 * loads into empty tables, or finds its own data already there (a second run), never a real GitLab's.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

export const demoGitLabTablesSchema = z.object({
  workspaces_agent_configs: z.array(z.record(z.string(), z.unknown())).min(1),
  workspaces: z.array(z.record(z.string(), z.unknown()).and(z.object({ id: z.number() }))).min(1),
});

export type DemoGitLabTables = z.infer<typeof demoGitLabTablesSchema>;

export class DemoDatabaseRefusedError extends Error {
  override readonly name = 'DemoDatabaseRefusedError';
}

/**
 * Loads the tables in one transaction; returns false when they already held exactly the demo's rows. Called
 * once the database is known to be GitLab's and before our schema is created, so a refused one is left as it was.
 */
export async function loadDemoGitLabTables(client: Session, tables: DemoGitLabTables): Promise<boolean> {
  await client.query('BEGIN');
  try {
    // Serializes two demo runs starting together on one database.
    await client.query('LOCK TABLE workspaces, workspaces_agent_configs IN EXCLUSIVE MODE');
    const { rows } = await client.query<{ configs: number; workspaces: number; ids_match: boolean }>(
      `SELECT (SELECT count(*)::int FROM workspaces_agent_configs) AS configs, (SELECT count(*)::int FROM workspaces) AS workspaces,
              (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM workspaces) = $1::bigint[] AS ids_match`,
      [tables.workspaces.map((w) => w.id)],
    );
    const held = rows[0]!;
    if (held.configs === 0 && held.workspaces === 0) {
      await insertRows(client, 'workspaces_agent_configs', tables.workspaces_agent_configs);
      await insertRows(client, 'workspaces', tables.workspaces);
      await client.query('COMMIT');
      return true;
    }
    if (held.configs === tables.workspaces_agent_configs.length && held.ids_match) {
      await client.query('COMMIT');
      return false;
    }
    throw new DemoDatabaseRefusedError(
      `--demo loads its data into an empty GitLab database only, and this one holds ${held.workspaces} workspaces and ${held.configs} agent configs ` +
        `that are not the demo's: run --demo on a database of its own (the embedded default without a database URL, with a --data-dir of its own, or a new, empty database)`,
    );
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

const COLUMN = /^[a-z_][a-z0-9_]*$/;

/** Inserts rows (one statement per set of columns): a column a row leaves out gets its default, as in GitLab. */
async function insertRows(client: Session, table: 'workspaces' | 'workspaces_agent_configs', rows: Record<string, unknown>[]): Promise<void> {
  const byColumns = new Map<string, Record<string, unknown>[]>();
  for (const row of rows) {
    const columns = Object.keys(row).sort().join(', ');
    byColumns.set(columns, [...(byColumns.get(columns) ?? []), row]);
  }
  for (const [columns, group] of byColumns) {
    if (!columns.split(', ').every((c) => COLUMN.test(c))) throw new Error(`demo data: a ${table} column name is not an identifier: ${columns}`);
    await client.query(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`, [JSON.stringify(group)]);
  }
}

/** The first row of workspace_agentk_states (lowest workspace id): the demo's sample. */
export async function firstAgentkState(client: Session): Promise<{ workspaceId: number; desiredConfig: unknown } | undefined> {
  const { rows } = await client.query<{ workspace_id: string; desired_config: unknown }>(
    'SELECT workspace_id, desired_config FROM workspace_agentk_states ORDER BY workspace_id LIMIT 1',
  );
  return rows[0] && { workspaceId: Number(rows[0].workspace_id), desiredConfig: rows[0].desired_config };
}

/** How many workspaces a projection has folded (deleted ones included). */
export async function countFoldedWorkspaces(client: Session, projection: string): Promise<{ live: number; deleted: number }> {
  const { rows } = await client.query<{ live: number; deleted: number }>(
    `SELECT count(*) FILTER (WHERE NOT deleted)::int AS live, count(*) FILTER (WHERE deleted)::int AS deleted
       FROM ${BOOKKEEPING_SCHEMA}.workspace_states WHERE projection = $1`,
    [projection],
  );
  return rows[0]!;
}

/** How many rows workspace_agentk_states holds. */
export async function countAgentkStates(client: Session): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_agentk_states');
  return rows[0]!.n;
}
