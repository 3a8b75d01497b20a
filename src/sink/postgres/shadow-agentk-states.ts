/**
 * The shadow copy a rebuild writes while the live `workspace_agentk_states` keeps serving GitLab
 * (`rebuild_projection.shadow_agentk_states`, keyed by rebuild). Same contract as the live sink, so the
 * engine does not know which one it feeds.
 *
 * A page of the build (a range of ids) is compared with the live table first: a generated row equal to its
 * live row is not copied, only marked (`shadow_unchanged`, with the live row's version), so a routine rebuild
 * over a table that is nearly right writes about as many rows as differ. The comparison is PostgreSQL's: the
 * generated rows of workspaces that have a live row are sent as JSON arrays, and each is equal when its
 * project and its desired config's jsonb hash (`jsonb_hash_extended`, consistent with jsonb equality) are the
 * live row's (see sameAsLive). The switch checks the markers' versions.
 *
 * A first install (`insertNew`: no consumer has written the live table, and no preview or guard waits for the
 * switch) writes the row of a workspace that has no live row straight into the live table, once, instead of
 * into the shadow and again at the switch: GitLab has no older row of it to see mixed with newer ones. Such a
 * row is marked `inserted` with its version, and its undo entry (existed = false) is recorded with it, so the
 * switch counts it as inserted and --rollback removes it.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import type { AgentkStateRow } from '../../../projections/agentk-states/projection.js';
import { copyRows, postgresNow, type CopyColumn } from './copy-rows.js';
import { lockProjectionExclusive } from './projection-locks.js';
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
  { name: 'inserted', type: 'boolean' },
];
const LIVE_COLUMNS: readonly CopyColumn[] = [
  { name: 'workspace_id', type: 'bigint' },
  { name: 'project_id', type: 'bigint' },
  { name: 'desired_config', type: 'jsonb' },
  { name: 'created_at', type: 'timestamptz' },
  { name: 'updated_at', type: 'timestamptz' },
];
const UNDO_COLUMNS: readonly CopyColumn[] = [
  { name: 'rebuild_id', type: 'bigint' },
  { name: 'workspace_id', type: 'bigint' },
  { name: 'existed', type: 'boolean' },
];

/** Where a first install writes new rows directly: the live projection, whose batches its lock holds back. */
export interface InsertNew {
  liveProjection: string;
}

/** A compared row (sameAsLive); `same` is null when a side's project is. */
const comparedRowSchema = z.object({ workspace_id: z.string(), version: z.string(), same: z.boolean().nullable() });

const liveRowSchema = z.object({
  workspace_id: z.string(),
  present: z.boolean(),
  version: z.string().nullable(),
  ours: z.boolean(),
});

export function shadowAgentkStates(rebuildId: number, insertNew?: InsertNew): RowSink {
  return {
    description: `the shadow table of rebuild ${rebuildId}`,
    upsert: (client, rows, range) => (range ? replaceRange(client, rebuildId, rows, range, insertNew) : upsertRows(client, rebuildId, rows)),
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
async function replaceRange(client: Session, rebuildId: number, rows: readonly AgentkStateRow[], range: IdRange, insertNew: InsertNew | undefined): Promise<UpsertResult> {
  const live = await readLiveRows(client, rebuildId, rows.map((row) => row.workspaceId));
  const same = await sameAsLive(client, rows.filter((row) => live.get(row.workspaceId)?.version != null));
  const bounds = [rebuildId, range.after, range.upTo ?? null];
  const within = 'rebuild_id = $1 AND workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3)';
  await client.query(`DELETE FROM ${S}.shadow_unchanged WHERE ${within}`, bounds);
  await client.query(`DELETE FROM ${S}.shadow_agentk_states WHERE ${within}`, bounds);
  let copied: AgentkStateRow[] = [];
  const markers: (number | string)[][] = [];
  const fresh: AgentkStateRow[] = [];
  const missingWorkspaceIds: number[] = [];
  let unchanged = 0;
  let inserted = 0;
  for (const row of [...rows].sort((a, b) => a.workspaceId - b.workspaceId)) {
    const current = live.get(row.workspaceId);
    if (!current?.present) missingWorkspaceIds.push(row.workspaceId);
    else if (current.version === null) (insertNew ? fresh : copied).push(row);
    else if (same.has(row.workspaceId)) {
      // A row this rebuild inserted before (a resumed first install) is still its insert.
      markers.push([rebuildId, row.workspaceId, same.get(row.workspaceId)!, current.ours ? 1 : 0]);
      if (current.ours) inserted++;
      else unchanged++;
    } else copied.push(row);
  }
  if (insertNew && fresh.length > 0) {
    const freshMarkers = await insertFresh(client, rebuildId, fresh, insertNew);
    if (freshMarkers) {
      markers.push(...freshMarkers);
      inserted += freshMarkers.length;
    } else copied = [...copied, ...fresh].sort((a, b) => a.workspaceId - b.workspaceId);
  }
  await copyRows(client, `${S}.shadow_agentk_states`, SHADOW_COLUMNS, copied.map((row) => [rebuildId, row.workspaceId, row.projectId, row.desiredConfigJson]));
  await copyRows(client, `${S}.shadow_unchanged`, MARKER_COLUMNS, markers);
  return { written: copied.length + inserted, unchanged, missingWorkspaceIds };
}

/**
 * Whether these workspaces have a live row (its version: null when none), `present`: the workspace exists in
 * GitLab; `ours`: this rebuild inserted the row (its undo log says the row did not exist).
 */
async function readLiveRows(client: Session, rebuildId: number, workspaceIds: readonly number[]): Promise<Map<number, z.output<typeof liveRowSchema>>> {
  const { rows } = await client.query(
    `SELECT ids.id::text AS workspace_id, w.id IS NOT NULL AS present, l.xmin::text AS version,
            EXISTS (SELECT 1 FROM ${S}.previous_agentk_states p WHERE p.rebuild_id = $2 AND p.workspace_id = ids.id AND NOT p.existed) AS ours
       FROM unnest($1::bigint[]) AS ids(id)
       LEFT JOIN workspaces w ON w.id = ids.id
       LEFT JOIN workspace_agentk_states l ON l.workspace_id = ids.id`,
    [[...workspaceIds], rebuildId],
  );
  return new Map(rows.map((raw) => liveRowSchema.parse(raw)).map((row) => [Number(row.workspace_id), row]));
}

/**
 * Inserts rows of workspaces that had no live row, holding the live projection's lock so that no batch of ours
 * inserts one meanwhile. Returns their markers, or undefined when another writer inserted one of them first
 * (a unique violation, undone to the savepoint): the caller then puts them in the shadow like any other.
 */
async function insertFresh(client: Session, rebuildId: number, rows: readonly AgentkStateRow[], insertNew: InsertNew): Promise<(number | string)[][] | undefined> {
  await lockProjectionExclusive(client, insertNew.liveProjection);
  const now = await postgresNow(client);
  await client.query('SAVEPOINT insert_fresh');
  try {
    await copyRows(client, 'workspace_agentk_states', LIVE_COLUMNS, rows.map((row) => [row.workspaceId, row.projectId, row.desiredConfigJson, now, now]));
  } catch (error) {
    if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
    await client.query('ROLLBACK TO SAVEPOINT insert_fresh');
    return undefined;
  }
  await client.query('RELEASE SAVEPOINT insert_fresh');
  const ids = rows.map((row) => row.workspaceId);
  await copyRows(client, `${S}.previous_agentk_states`, UNDO_COLUMNS, ids.map((id) => [rebuildId, id, 0]));
  const { rows: versions } = await client.query<{ workspace_id: string; version: string }>(
    'SELECT workspace_id::text, xmin::text AS version FROM workspace_agentk_states WHERE workspace_id = ANY($1::bigint[])',
    [ids],
  );
  return versions.map((v) => [rebuildId, Number(v.workspace_id), v.version, 1]);
}

const UNIQUE_VIOLATION = '23505';

/**
 * The rows equal to their live row, with the version compared: the same project, and desired configs whose
 * jsonb hashes are equal. PostgreSQL's own 64-bit hash (`jsonb_hash_extended`, the one its hash indexes use):
 * equal for configs equal as jsonb (key order and number forms aside), so no text form has to be reproduced
 * here, and a differing pair collides with a chance of 2^-64. The live row's config is read once, without
 * printing it as text; the generated ones travel as JSON arrays of about a megabyte, each parsed once. Measured on the benchmark's
 * rows (pages of 250, N = 10,000): about 0.32 ms of PostgreSQL per row, against 0.10 ms for the
 * `md5(desired_config::text)` this replaced plus 0.35 ms here to print each generated row as jsonb text and
 * digest it (on the generation threads).
 */
async function sameAsLive(client: Session, rows: readonly AgentkStateRow[]): Promise<Map<number, string>> {
  const same = new Map<number, string>();
  for (let start = 0; start < rows.length; ) {
    let end = start;
    for (let characters = 0; end < rows.length && (end === start || characters < COMPARE_CHARACTERS); end++) characters += rows[end]!.desiredConfigJson.length;
    const chunk = rows.slice(start, end);
    start = end;
    // The comparison in the select list, not in WHERE: there, the hashes' equality is a join clause the planner
    // may hash the whole live table on (measured: a hash of every live row for each page).
    const { rows: compared } = await client.query(
      `SELECT g.id::text AS workspace_id, l.xmin::text AS version,
              l.project_id = g.project_id AND jsonb_hash_extended(l.desired_config, 0) = jsonb_hash_extended(g.desired_config, 0) AS same
         FROM ROWS FROM (unnest($1::bigint[]), unnest($2::bigint[]), jsonb_array_elements($3::jsonb)) AS g(id, project_id, desired_config)
         JOIN workspace_agentk_states l ON l.workspace_id = g.id`,
      [chunk.map((row) => row.workspaceId), chunk.map((row) => row.projectId), `[${chunk.map((row) => row.desiredConfigJson).join(',')}]`],
    );
    for (const row of compared.map((raw) => comparedRowSchema.parse(raw))) if (row.same === true) same.set(Number(row.workspace_id), row.version);
  }
  return same;
}

/**
 * JSON text per comparing statement (about 60 of the benchmark's rows): a page's whole array was held three times
 * over (the text, its bytes, the message), which raised a snapshot rebuild's peak RSS by about 25 MB at N = 100,000.
 */
const COMPARE_CHARACTERS = 1_000_000;



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
