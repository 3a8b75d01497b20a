/**
 * `projects.path` per project id (spec §1.3: the default working directory of some postStart commands).
 * GitLab's database has `projects`; a database without it (tests, a reduced replica) yields no paths, which
 * the spec defines as "project path not known".
 */
import type pg from 'pg';

export async function loadProjectPaths(client: pg.ClientBase, projectIds: readonly number[]): Promise<Map<number, string>> {
  const paths = new Map<number, string>();
  if (projectIds.length === 0) return paths;
  const { rows: exists } = await client.query<{ projects: string | null }>(`SELECT to_regclass('projects')::text AS projects`);
  if (!exists[0]?.projects) return paths;
  const { rows } = await client.query<{ id: string; path: string }>('SELECT id::text, path FROM projects WHERE id = ANY($1::bigint[])', [
    [...new Set(projectIds)],
  ]);
  for (const row of rows) paths.set(Number(row.id), row.path);
  return paths;
}
