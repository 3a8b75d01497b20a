/**
 * Makes sure the target database is GitLab's (it has `workspaces`) and has `workspace_agentk_states`,
 * creating the latter with GitLab's exact definition when missing. An existing table is never altered.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Session } from './database.js';
import { gitlabSchemaDir } from '../../package-paths.js';

export class NotAGitLabDatabaseError extends Error {
  override readonly name = 'NotAGitLabDatabaseError';
}

/** Whether `workspace_agentk_states` exists; throws when `workspaces` does not (not GitLab's database). */
async function findAgentkStatesTable(client: Session): Promise<boolean> {
  const { rows } = await client.query<{ workspaces: string | null; states: string | null }>(
    `SELECT to_regclass('workspaces')::text AS workspaces, to_regclass('workspace_agentk_states')::text AS states`,
  );
  const found = rows[0];
  if (!found?.workspaces) {
    throw new NotAGitLabDatabaseError(
      'the target database has no "workspaces" table: point --database-url at GitLab\'s database',
    );
  }
  return Boolean(found.states);
}

/** For commands that read only `workspaces` (--export-events): it must exist; nothing is created. */
export async function requireGitLabDatabase(client: Session): Promise<void> {
  await findAgentkStatesTable(client);
}

/** For read-only commands: both GitLab tables must exist; nothing is created. */
export async function requireAgentkStatesTable(client: Session): Promise<void> {
  if (!(await findAgentkStatesTable(client))) {
    throw new NotAGitLabDatabaseError('the target database has no "workspace_agentk_states" table: nothing to verify (a rebuild creates it)');
  }
}

export async function ensureAgentkStatesTable(client: Session): Promise<'existed' | 'created'> {
  if (await findAgentkStatesTable(client)) return 'existed';
  await client.query(readFileSync(join(gitlabSchemaDir, 'workspace_agentk_states.sql'), 'utf8'));
  return 'created';
}
