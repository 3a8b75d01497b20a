/**
 * Reads of `workspace_agentk_states` for `--verify` and `--explain`: keyset pages by workspace id (never the whole table), the
 * rows of given workspaces, and a random sample of workspace ids. Read-only: they run inside the caller's
 * REPEATABLE READ READ ONLY snapshot, next to the workspaces they are compared with.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import { bigintId } from '../../../projections/agentk-states/inputs.js';

export interface StoredAgentkState {
  workspaceId: number;
  projectId: number;
  /** The jsonb value as node-postgres parses it. */
  desiredConfig: unknown;
  updatedAt: Date;
}

const storedRowSchema = z
  .object({ workspace_id: bigintId, project_id: bigintId, desired_config: z.unknown(), updated_at: z.date() })
  .transform(
    (row): StoredAgentkState => ({ workspaceId: row.workspace_id, projectId: row.project_id, desiredConfig: row.desired_config, updatedAt: row.updated_at }),
  );

const COLUMNS = 'workspace_id, project_id, desired_config, updated_at';

/** Rows with `after < workspace_id <= upTo` (no upper bound when `upTo` is null), in id order, at most `limit`. */
export async function readAgentkStatesPage(
  client: Session,
  range: { after: number; upTo: number | null; limit: number },
): Promise<StoredAgentkState[]> {
  const { rows } = await client.query(
    `SELECT ${COLUMNS} FROM workspace_agentk_states
      WHERE workspace_id > $1 AND ($2::bigint IS NULL OR workspace_id <= $2::bigint)
      ORDER BY workspace_id LIMIT $3`,
    [range.after, range.upTo, range.limit],
  );
  return rows.map((row) => storedRowSchema.parse(row));
}

export async function readAgentkStatesOf(client: Session, workspaceIds: readonly number[]): Promise<StoredAgentkState[]> {
  const { rows } = await client.query(`SELECT ${COLUMNS} FROM workspace_agentk_states WHERE workspace_id = ANY($1::bigint[]) ORDER BY workspace_id`, [
    [...workspaceIds],
  ]);
  return rows.map((row) => storedRowSchema.parse(row));
}

/**
 * `size` ids drawn at random from the workspaces and the rows together (so a row without a workspace can be
 * drawn too), in id order. Reads only ids: cheap next to generating every workspace's config.
 */
export async function sampleWorkspaceIds(client: Session, size: number): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT id::text FROM (SELECT id FROM workspaces UNION SELECT workspace_id FROM workspace_agentk_states) AS ids
      ORDER BY random() LIMIT $1`,
    [size],
  );
  return rows.map((row) => Number(row.id)).sort((a, b) => a - b);
}
