/**
 * Whether the target is GitLab's database: checked before anything is created in it, by every mode.
 * Rule: GitLab's tables that the projection reads and writes exist, with the columns it uses. A database that
 * only happens to have a `workspaces` table is refused, and `workspace_agentk_states` is never created here:
 * GitLab's own migration creates it (18.1), and would fail on a table that already exists.
 * The catalog (pg_attribute), not information_schema, so that the answer does not depend on the role's grants.
 */
import type { Session } from './database.js';

/** Table → the columns we read or write (a subset of GitLab's; test/fixtures/sql/gitlab-schema.sql has all). */
export const GITLAB_TABLES = {
  workspaces: ['id', 'project_id', 'cluster_agent_id', 'name', 'namespace', 'desired_state', 'actual_state', 'processed_devfile', 'workspaces_agent_config_version'],
  workspaces_agent_configs: ['id', 'cluster_agent_id', 'dns_zone'],
  workspaces_agent_config_versions: ['id', 'item_id', 'item_type', 'object'],
  workspace_agentk_states: ['id', 'created_at', 'updated_at', 'workspace_id', 'project_id', 'desired_config'],
} as const satisfies Record<string, readonly string[]>;

export class NotAGitLabDatabaseError extends Error {
  override readonly name = 'NotAGitLabDatabaseError';
}

const quoted = (names: readonly string[]) => names.map((name) => `"${name}"`).join(', ');

/**
 * Throws NotAGitLabDatabaseError, one line naming `database` (a redacted URL) and everything missing, unless
 * GITLAB_TABLES are all there. Reads only.
 */
export async function requireGitLabDatabase(client: Session, database: string): Promise<void> {
  const { rows } = await client.query<{ name: string; columns: string[] | null }>(
    `SELECT t.name, (SELECT array_agg(a.attname::text) FROM pg_attribute a
                      WHERE a.attrelid = to_regclass(t.name) AND a.attnum > 0 AND NOT a.attisdropped) AS columns
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n) ORDER BY t.n`,
    [Object.keys(GITLAB_TABLES)],
  );
  const missingTables = rows.filter((row) => row.columns === null).map((row) => row.name);
  const missingColumns = rows.flatMap((row) => {
    if (row.columns === null) return [];
    const lacking = GITLAB_TABLES[row.name as keyof typeof GITLAB_TABLES].filter((column) => !row.columns?.includes(column));
    return lacking.length === 0 ? [] : [`"${row.name}" has no column${lacking.length > 1 ? 's' : ''} ${quoted(lacking)}`];
  });
  if (missingTables.length === 0 && missingColumns.length === 0) return;
  const tables = missingTables.length === 0 ? [] : [`the target database has no ${quoted(missingTables)} table${missingTables.length > 1 ? 's' : ''}`];
  const what = tables.length > 0 ? [...tables, ...missingColumns].join(', and ') : `in the target database, ${missingColumns.join(', and ')}`;
  const hint =
    missingTables.length === 1 && missingTables[0] === 'workspace_agentk_states' && missingColumns.length === 0
      ? `${database} looks like GitLab's database before 18.1, which creates that table (it is not created here)`
      : `${database} is not GitLab's database (point --database-url at it)`;
  throw new NotAGitLabDatabaseError(`${what}: ${hint}; nothing was created in it`);
}
