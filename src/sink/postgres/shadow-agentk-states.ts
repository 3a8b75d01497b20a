/**
 * The shadow copy a rebuild writes while the live `workspace_agentk_states` keeps serving GitLab
 * (`rebuild_projection.shadow_agentk_states`, keyed by rebuild). Same contract as the live sink, so the
 * engine does not know which one it feeds.
 */
import type { Session } from './database.js';
import type { AgentkStateRow } from '../../../projections/agentk-states/projection.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';
import type { RowSink, UpsertResult } from './row-sink.js';
import { rowsAsJson } from './upsert-agentk-states.js';

export function shadowAgentkStates(rebuildId: number): RowSink {
  return {
    description: `the shadow table of rebuild ${rebuildId}`,
    async upsert(client: Session, rows: readonly AgentkStateRow[]): Promise<UpsertResult> {
      if (rows.length === 0) return { written: 0, unchanged: 0, missingWorkspaceIds: [] };
      const sorted = [...rows].sort((a, b) => a.workspaceId - b.workspaceId);
      const { rows: result } = await client.query<{ written: string; missing: string[] }>(
        `WITH input AS (
           SELECT * FROM jsonb_to_recordset($2::jsonb) AS t(workspace_id bigint, project_id bigint, desired_config jsonb)
         ), present AS (
           SELECT input.* FROM input JOIN workspaces w ON w.id = input.workspace_id
         ), upserted AS (
           INSERT INTO ${BOOKKEEPING_SCHEMA}.shadow_agentk_states AS s (rebuild_id, workspace_id, project_id, desired_config)
           SELECT $1, workspace_id, project_id, desired_config FROM present ORDER BY workspace_id
           ON CONFLICT (rebuild_id, workspace_id) DO UPDATE
             SET project_id = EXCLUDED.project_id, desired_config = EXCLUDED.desired_config
             WHERE s.desired_config IS DISTINCT FROM EXCLUDED.desired_config OR s.project_id IS DISTINCT FROM EXCLUDED.project_id
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM upserted)::text AS written,
                ARRAY(SELECT workspace_id::text FROM input EXCEPT SELECT workspace_id::text FROM present) AS missing`,
        [rebuildId, rowsAsJson(sorted)],
      );
      const written = Number(result[0]?.written ?? 0);
      const missingWorkspaceIds = (result[0]?.missing ?? []).map(Number);
      return { written, unchanged: rows.length - written - missingWorkspaceIds.length, missingWorkspaceIds };
    },
    async delete(client: Session, workspaceIds: readonly number[]): Promise<number> {
      if (workspaceIds.length === 0) return 0;
      const { rowCount } = await client.query(
        `DELETE FROM ${BOOKKEEPING_SCHEMA}.shadow_agentk_states WHERE rebuild_id = $1 AND workspace_id = ANY($2::bigint[])`,
        [rebuildId, [...workspaceIds]],
      );
      return rowCount ?? 0;
    },
  };
}

/**
 * Makes the shadow hold exactly the rows of the workspaces with ids in (afterId, uptoId] that a snapshot pass
 * just generated (`kept`): a resumed snapshot rebuild drops what it generated before for workspaces that
 * vanished or no longer project. `uptoId` undefined: no upper bound (after the last batch).
 */
export async function pruneShadowRange(
  client: Session,
  rebuildId: number,
  afterId: number,
  uptoId: number | undefined,
  kept: readonly number[],
): Promise<void> {
  await client.query(
    `DELETE FROM ${BOOKKEEPING_SCHEMA}.shadow_agentk_states
      WHERE rebuild_id = $1 AND workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3) AND NOT workspace_id = ANY($4::bigint[])`,
    [rebuildId, afterId, uptoId ?? null, [...kept]],
  );
}

/** The switch has merged the shadow: its rows are no longer needed. */
export async function dropShadowRows(client: Session, rebuildId: number): Promise<void> {
  await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.shadow_agentk_states WHERE rebuild_id = $1`, [rebuildId]);
}
