/**
 * The shadow copy a rebuild writes while the live `workspace_agentk_states` keeps serving GitLab
 * (`rebuild_projection.shadow_agentk_states`, keyed by rebuild). Same contract as the live sink, so the
 * engine does not know which one it feeds.
 *
 * A page of the build (a range of ids) is compared with the live table first: a generated row equal to its
 * live row is not copied, only marked (`shadow_unchanged`, with the live row's version), so a routine rebuild
 * over a table that is nearly right writes about as many rows as differ. The comparison is a digest of the
 * jsonb text on both sides (jsonb-digest.ts; PostgreSQL's `md5(desired_config::text)`); a row whose digest
 * cannot be computed here counts as differing, never as equal. The switch checks the markers' versions.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import type { AgentkStateRow } from '../../../projections/agentk-states/projection.js';
import { jsonbDigest } from '../../../projections/agentk-states/jsonb-digest.js';
import type { JsonValue } from '../../../projections/agentk-states/inputs.js';
import { copyRows, type CopyColumn } from './copy-rows.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';
import type { IdRange, RowSink, UpsertResult } from './row-sink.js';
import { rowsAsJson } from './upsert-agentk-states.js';

const S = BOOKKEEPING_SCHEMA;

const SHADOW_COLUMNS: readonly CopyColumn[] = [
  { name: 'rebuild_id', type: 'bigint' },
  { name: 'workspace_id', type: 'bigint' },
  { name: 'project_id', type: 'bigint' },
  { name: 'desired_config', type: 'jsonb' },
];
const MARKER_COLUMNS: readonly CopyColumn[] = [
  { name: 'rebuild_id', type: 'bigint' },
  { name: 'workspace_id', type: 'bigint' },
  { name: 'live_version', type: 'text' },
];

const liveRowSchema = z.object({
  workspace_id: z.string(),
  present: z.boolean(),
  version: z.string().nullable(),
  project_id: z.string().nullable(),
  digest: z.string().nullable(),
});

export function shadowAgentkStates(rebuildId: number): RowSink {
  return {
    description: `the shadow table of rebuild ${rebuildId}`,
    upsert: (client, rows, range) => (range ? replaceRange(client, rebuildId, rows, range) : upsertRows(client, rebuildId, rows)),
    async delete(client: Session, workspaceIds: readonly number[]): Promise<number> {
      if (workspaceIds.length === 0) return 0;
      const ids = [...workspaceIds];
      await client.query(`DELETE FROM ${S}.shadow_unchanged WHERE rebuild_id = $1 AND workspace_id = ANY($2::bigint[])`, [rebuildId, ids]);
      const { rowCount } = await client.query(`DELETE FROM ${S}.shadow_agentk_states WHERE rebuild_id = $1 AND workspace_id = ANY($2::bigint[])`, [rebuildId, ids]);
      return rowCount ?? 0;
    },
  };
}

/** A page of the build: what the range held is replaced by these rows, copied only where they differ from live. */
async function replaceRange(client: Session, rebuildId: number, rows: readonly AgentkStateRow[], range: IdRange): Promise<UpsertResult> {
  const { rows: live } = await client.query(
    `SELECT ids.id::text AS workspace_id, w.id IS NOT NULL AS present, l.xmin::text AS version, l.project_id::text AS project_id,
            md5(l.desired_config::text) AS digest
       FROM unnest($1::bigint[]) AS ids(id)
       LEFT JOIN workspaces w ON w.id = ids.id
       LEFT JOIN workspace_agentk_states l ON l.workspace_id = ids.id`,
    [rows.map((row) => row.workspaceId)],
  );
  const liveById = new Map(live.map((raw) => liveRowSchema.parse(raw)).map((row) => [Number(row.workspace_id), row]));
  const bounds = [rebuildId, range.after, range.upTo ?? null];
  const within = 'rebuild_id = $1 AND workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3)';
  await client.query(`DELETE FROM ${S}.shadow_unchanged WHERE ${within}`, bounds);
  await client.query(`DELETE FROM ${S}.shadow_agentk_states WHERE ${within}`, bounds);
  const copied: (number | string)[][] = [];
  const markers: (number | string)[][] = [];
  const missingWorkspaceIds: number[] = [];
  for (const row of [...rows].sort((a, b) => a.workspaceId - b.workspaceId)) {
    const current = liveById.get(row.workspaceId);
    if (!current?.present) missingWorkspaceIds.push(row.workspaceId);
    else if (current.version !== null && Number(current.project_id) === row.projectId && current.digest === digestOf(row)) markers.push([rebuildId, row.workspaceId, current.version]);
    else copied.push([rebuildId, row.workspaceId, row.projectId, row.desiredConfigJson]);
  }
  await copyRows(client, `${S}.shadow_agentk_states`, SHADOW_COLUMNS, copied);
  await copyRows(client, `${S}.shadow_unchanged`, MARKER_COLUMNS, markers);
  return { written: copied.length, unchanged: markers.length, missingWorkspaceIds };
}

function digestOf(row: AgentkStateRow): string | undefined {
  return jsonbDigest(JSON.parse(row.desiredConfigJson) as JsonValue);
}

/** Rows of a catch-up (a few workspaces): upserted over the shadow, superseding their markers. */
async function upsertRows(client: Session, rebuildId: number, rows: readonly AgentkStateRow[]): Promise<UpsertResult> {
  if (rows.length === 0) return { written: 0, unchanged: 0, missingWorkspaceIds: [] };
  const sorted = [...rows].sort((a, b) => a.workspaceId - b.workspaceId);
  await client.query(`DELETE FROM ${S}.shadow_unchanged WHERE rebuild_id = $1 AND workspace_id = ANY($2::bigint[])`, [rebuildId, sorted.map((row) => row.workspaceId)]);
  const { rows: result } = await client.query<{ written: string; missing: string[] }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS t(workspace_id bigint, project_id bigint, desired_config jsonb)
     ), present AS (
       SELECT input.* FROM input JOIN workspaces w ON w.id = input.workspace_id
     ), upserted AS (
       INSERT INTO ${S}.shadow_agentk_states AS s (rebuild_id, workspace_id, project_id, desired_config)
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
}

/**
 * Drops what the shadow holds for ids in (afterId, uptoId] except `kept` (uptoId undefined: no upper bound):
 * after a snapshot pass, the ids past its last workspace.
 */
export async function pruneShadowRange(
  client: Session,
  rebuildId: number,
  afterId: number,
  uptoId: number | undefined,
  kept: readonly number[],
): Promise<void> {
  for (const table of ['shadow_agentk_states', 'shadow_unchanged']) {
    await client.query(
      `DELETE FROM ${S}.${table}
        WHERE rebuild_id = $1 AND workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3) AND NOT workspace_id = ANY($4::bigint[])`,
      [rebuildId, afterId, uptoId ?? null, [...kept]],
    );
  }
}

/** The switch has merged the shadow, or the rebuild was abandoned: its rows and markers are no longer needed. */
export async function dropShadowRows(client: Session, rebuildId: number): Promise<void> {
  await client.query(`DELETE FROM ${S}.shadow_unchanged WHERE rebuild_id = $1`, [rebuildId]);
  await client.query(`DELETE FROM ${S}.shadow_agentk_states WHERE rebuild_id = $1`, [rebuildId]);
}
