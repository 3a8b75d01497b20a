/**
 * Makes sure the target database is GitLab's (it has `workspaces`) and has `workspace_agentk_states`,
 * creating the latter with GitLab's exact definition when missing. An existing table is never altered.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { gitlabSchemaDir } from '../../package-paths.js';

export class NotAGitLabDatabaseError extends Error {
  override readonly name = 'NotAGitLabDatabaseError';
}

export async function ensureAgentkStatesTable(client: pg.ClientBase): Promise<'existed' | 'created'> {
  const { rows } = await client.query<{ workspaces: string | null; states: string | null }>(
    `SELECT to_regclass('workspaces')::text AS workspaces, to_regclass('workspace_agentk_states')::text AS states`,
  );
  const found = rows[0];
  if (!found?.workspaces) {
    throw new NotAGitLabDatabaseError(
      'the target database has no "workspaces" table: point --database-url at GitLab\'s database',
    );
  }
  if (found.states) return 'existed';
  await client.query(readFileSync(join(gitlabSchemaDir, 'workspace_agentk_states.sql'), 'utf8'));
  return 'created';
}
