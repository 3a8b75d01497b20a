/**
 * `projects.path` per project id (spec §1.3: the default working directory of some postStart commands).
 * GitLab's database has `projects`; a database without it (tests, a reduced replica) yields no paths, which
 * the spec defines as "project path not known".
 */
import type { Session } from '../sink/postgres/database.js';

/**
 * Whether a connection's database has `projects`, asked once per connection (pooled connections are reused
 * batch after batch, and a table does not appear mid-run): one round trip less per batch.
 */
const hasProjectsTable = new WeakMap<Session, boolean>();

async function projectsTableExists(client: Session): Promise<boolean> {
  let exists = hasProjectsTable.get(client);
  if (exists === undefined) {
    const { rows } = await client.query<{ projects: string | null }>(`SELECT to_regclass('projects')::text AS projects`);
    exists = Boolean(rows[0]?.projects);
    hasProjectsTable.set(client, exists);
  }
  return exists;
}

export async function loadProjectPaths(client: Session, projectIds: readonly number[]): Promise<Map<number, string>> {
  const paths = new Map<number, string>();
  if (projectIds.length === 0 || !(await projectsTableExists(client))) return paths;
  const { rows } = await client.query<{ id: string; path: string }>('SELECT id::text, path FROM projects WHERE id = ANY($1::bigint[])', [
    [...new Set(projectIds)],
  ]);
  for (const row of rows) paths.set(Number(row.id), row.path);
  return paths;
}
