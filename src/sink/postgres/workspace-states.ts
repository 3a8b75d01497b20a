/**
 * The folded state of each workspace, its parked updates and the origins of its last versions
 * (`rebuild_projection.workspace_states`, `parked_updates`, `workspace_origins`). Loaded with locks for a
 * batch's workspaces and written back set-based; read without locks by `--explain`.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import { agentConfigSchema } from '../../../projections/agentk-states/inputs.js';
import {
  emptyFold,
  ORIGINS_KEPT,
  type FoldedWorkspace,
  type ParkedUpdate,
  type VersionOrigin,
  type WorkspaceFold,
} from '../../../projections/agentk-states/fold.js';
import { workspaceChangesSchema, workspaceRowSchema } from '../../events/workspace-event.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

const stateRowSchema = z
  .object({
    workspace_id: z.string(),
    version: z.string(),
    deleted: z.boolean(),
    workspace: z.record(z.string(), z.unknown()).nullable(),
    processed_devfile: z.string().nullable(),
    agent_config: agentConfigSchema.nullable(),
    offsets: z.record(z.string(), z.string()),
    deleted_on: z.string().nullable(),
    oversized_devfile: z.object({ characters: z.number(), sha256: z.string() }).nullable(),
  })
  // The devfile is stored in its own column (migration 004); the row is whole again here.
  .transform(({ workspace, processed_devfile, ...rest }) => ({
    ...rest,
    workspace: workspace === null ? null : workspaceRowSchema.parse({ ...workspace, processed_devfile }),
  }));

/** Enough to keep unrelated batches apart, few enough for any lock table (4 concurrent batches: 1,024 locks). */
const LOCK_BUCKETS = 256;

const STATE_COLUMNS = 'workspace_id::text, version::text, deleted, workspace, processed_devfile, agent_config, offsets, deleted_on, oversized_devfile';

const parkedRowSchema = z.object({
  workspace_id: z.string(),
  version: z.string(),
  changes: workspaceChangesSchema,
  topic: z.string(),
  kafka_partition: z.number(),
  kafka_offset: z.string(),
});

/**
 * Locks (in workspace id order, so concurrent batches cannot deadlock) and loads the folds of `workspaceIds`.
 * Every id gets an entry; a never-seen workspace has no state and no parked updates.
 */
export async function loadFolds(
  client: Session,
  projection: string,
  workspaceIds: readonly number[],
): Promise<Map<number, WorkspaceFold>> {
  const ids = [...new Set(workspaceIds)].sort((a, b) => a - b);
  if (ids.length === 0) return new Map();
  // Serialize batches that touch the same workspaces (created/updated topics are consumed concurrently),
  // including workspaces that have no state row yet: FOR UPDATE cannot lock a row that does not exist.
  // One advisory lock per id would not scale: a batch of small updates holds tens of thousands of ids, and
  // PostgreSQL's shared lock table (max_locks_per_transaction × connections) runs out ("out of shared
  // memory"). So ids hash into LOCK_BUCKETS buckets: at most that many locks per batch, taken in order.
  const buckets = [...new Set(ids.map((id) => id % LOCK_BUCKETS))].sort((a, b) => a - b);
  await client.query(
    `SELECT pg_advisory_xact_lock(hashtext($1), bucket) FROM (SELECT bucket FROM unnest($2::int[]) AS bucket ORDER BY bucket) AS sorted`,
    [projection, buckets],
  );
  return selectFolds(client, projection, ids);
}

/** One workspace's fold, read without locks (`--explain`: read-only, inside the caller's snapshot). */
export async function readFold(client: Session, projection: string, workspaceId: number): Promise<WorkspaceFold> {
  return (await selectFolds(client, projection, [workspaceId])).get(workspaceId)!;
}

/** The stored states and parked updates of `ids`, an entry per id. */
async function selectFolds(client: Session, projection: string, ids: readonly number[]): Promise<Map<number, WorkspaceFold>> {
  const folds = new Map<number, WorkspaceFold>(ids.map((id) => [id, emptyFold()]));
  const states = await client.query(
    `SELECT ${STATE_COLUMNS}
       FROM ${BOOKKEEPING_SCHEMA}.workspace_states WHERE projection = $1 AND workspace_id = ANY($2::bigint[])`,
    [projection, ids],
  );
  for (const raw of states.rows) {
    const [workspaceId, { state }] = toFold(stateRowSchema.parse(raw));
    folds.get(workspaceId)!.state = state;
  }
  const parked = await client.query(
    `SELECT workspace_id::text, version::text, changes, topic, kafka_partition, kafka_offset::text
       FROM ${BOOKKEEPING_SCHEMA}.parked_updates AS p WHERE projection = $1 AND workspace_id = ANY($2::bigint[])
      ORDER BY p.workspace_id, p.version`,
    [projection, ids],
  );
  for (const raw of parked.rows) {
    const row = parkedRowSchema.parse(raw);
    const update: ParkedUpdate = {
      version: Number(row.version),
      changes: row.changes,
      position: { topic: row.topic, partition: row.kafka_partition, offset: row.kafka_offset },
    };
    folds.get(Number(row.workspace_id))!.parked.push(update);
  }
  return folds;
}

/** One page of live (not deleted) folded states in workspace id order, without locks (a rebuild's own shadow). */
export async function readLiveFoldsPage(
  client: Session,
  projection: string,
  afterWorkspaceId: number,
  limit: number,
): Promise<Map<number, WorkspaceFold>> {
  const { rows } = await client.query(
    `SELECT ${STATE_COLUMNS}
       FROM ${BOOKKEEPING_SCHEMA}.workspace_states AS s
      WHERE projection = $1 AND workspace_id > $2 AND NOT deleted
      -- Qualified: the unqualified name would sort by the selected workspace_id::text, i.e. as strings.
      ORDER BY s.workspace_id LIMIT $3`,
    [projection, afterWorkspaceId, limit],
  );
  return new Map(rows.map((raw) => toFold(stateRowSchema.parse(raw))));
}

function toFold(row: z.output<typeof stateRowSchema>): [number, WorkspaceFold] {
  const state: FoldedWorkspace = {
    version: Number(row.version),
    deleted: row.deleted,
    workspace: row.workspace,
    agentConfig: row.agent_config,
    offsets: row.offsets,
    deletedOn: row.deleted_on,
    oversizedDevfile: row.oversized_devfile,
  };
  return [Number(row.workspace_id), { state, parked: [], newOrigins: [] }];
}

/**
 * Writes back the folds of these workspaces: states upserted, parked updates replaced, new origins appended.
 * `loaded` (what loadFolds returned) lets an unchanged devfile stay as stored instead of being rewritten.
 */
export async function saveFolds(
  client: Session,
  projection: string,
  folds: ReadonlyMap<number, WorkspaceFold>,
  loaded: ReadonlyMap<number, WorkspaceFold> = new Map(),
): Promise<void> {
  if (folds.size === 0) return;
  const states = [...folds]
    .filter(([, fold]) => fold.state !== undefined)
    .map(([workspaceId, fold]) => {
      const { workspace, version, deleted, agentConfig, offsets, deletedOn, oversizedDevfile } = fold.state!;
      const devfile = workspace?.processed_devfile ?? null;
      const stored = loaded.get(workspaceId)?.state;
      const devfileChanged = stored === undefined || (stored.workspace?.processed_devfile ?? null) !== devfile;
      return {
        workspace_id: workspaceId,
        version,
        deleted,
        workspace: workspace === null ? null : { ...workspace, processed_devfile: undefined },
        devfile_changed: devfileChanged,
        processed_devfile: devfileChanged ? devfile : null,
        agent_config: agentConfig,
        offsets,
        deleted_on: deletedOn,
        oversized_devfile: oversizedDevfile,
      };
    });
  const rewritten = states.filter((state) => state.devfile_changed);
  const kept = states.filter((state) => !state.devfile_changed);
  if (rewritten.length > 0) {
    await client.query(
      `INSERT INTO ${BOOKKEEPING_SCHEMA}.workspace_states AS s
         (projection, workspace_id, version, deleted, workspace, processed_devfile, agent_config, offsets, deleted_on, oversized_devfile)
       SELECT $1, r.workspace_id, r.version, r.deleted, r.workspace, r.processed_devfile, r.agent_config, r.offsets, r.deleted_on, r.oversized_devfile
         FROM jsonb_to_recordset($2::jsonb)
           AS r(workspace_id bigint, version bigint, deleted boolean, workspace jsonb, processed_devfile text, agent_config jsonb,
                offsets jsonb, deleted_on text, oversized_devfile jsonb)
       ON CONFLICT (projection, workspace_id) DO UPDATE
         SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, workspace = EXCLUDED.workspace,
             processed_devfile = EXCLUDED.processed_devfile, agent_config = EXCLUDED.agent_config, offsets = EXCLUDED.offsets,
             deleted_on = EXCLUDED.deleted_on, oversized_devfile = EXCLUDED.oversized_devfile, updated_at = now()`,
      [projection, JSON.stringify(rewritten)],
    );
  }
  if (kept.length > 0) {
    // These states exist (loaded above) and keep their devfile: the column is left out of the update.
    await client.query(
      `UPDATE ${BOOKKEEPING_SCHEMA}.workspace_states AS s
          SET version = r.version, deleted = r.deleted, workspace = r.workspace, agent_config = r.agent_config, offsets = r.offsets,
              deleted_on = r.deleted_on, oversized_devfile = r.oversized_devfile, updated_at = now()
         FROM jsonb_to_recordset($2::jsonb)
           AS r(workspace_id bigint, version bigint, deleted boolean, workspace jsonb, agent_config jsonb,
                offsets jsonb, deleted_on text, oversized_devfile jsonb)
        WHERE s.projection = $1 AND s.workspace_id = r.workspace_id`,
      [projection, JSON.stringify(kept)],
    );
  }
  await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.parked_updates WHERE projection = $1 AND workspace_id = ANY($2::bigint[])`, [
    projection,
    [...folds.keys()],
  ]);
  const parked = [...folds].flatMap(([workspaceId, fold]) =>
    fold.parked.map((update) => ({
      workspace_id: workspaceId,
      version: update.version,
      changes: update.changes,
      topic: update.position.topic,
      kafka_partition: update.position.partition,
      kafka_offset: update.position.offset,
    })),
  );
  if (parked.length > 0) {
    await client.query(
      `INSERT INTO ${BOOKKEEPING_SCHEMA}.parked_updates (projection, workspace_id, version, changes, topic, kafka_partition, kafka_offset)
       SELECT $1, r.workspace_id, r.version, r.changes, r.topic, r.kafka_partition, r.kafka_offset
         FROM jsonb_to_recordset($2::jsonb) AS r(workspace_id bigint, version bigint, changes jsonb, topic text, kafka_partition int, kafka_offset bigint)`,
      [projection, JSON.stringify(parked)],
    );
  }
  await appendOrigins(client, projection, folds);
}

/**
 * Appends each fold's new origins after the workspace's last one (seq). The table is a ring of ORIGINS_KEPT
 * slots per workspace (slot = seq mod ORIGINS_KEPT), so an append overwrites the oldest kept origin in place:
 * one upsert per applied event, no DELETE, never more than ORIGINS_KEPT rows per workspace.
 */
async function appendOrigins(client: Session, projection: string, folds: ReadonlyMap<number, WorkspaceFold>): Promise<void> {
  const origins = [...folds].flatMap(([workspaceId, fold]) =>
    fold.newOrigins
      .map((origin, index) => ({
        workspace_id: workspaceId,
        n: index + 1,
        version: origin.version,
        kind: origin.kind,
        topic: origin.kind === 'snapshot' ? null : origin.topic,
        kafka_partition: origin.kind === 'snapshot' ? null : origin.partition,
        kafka_offset: origin.kind === 'snapshot' ? null : origin.offset,
        snapshot_taken_at: origin.kind === 'snapshot' ? origin.takenAt : null,
      }))
      // The older ones would be overwritten in this very statement (which may touch a row only once).
      .slice(-ORIGINS_KEPT),
  );
  if (origins.length === 0) return;
  await client.query(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.workspace_origins AS o
            (projection, workspace_id, slot, seq, version, kind, topic, kafka_partition, kafka_offset, snapshot_taken_at)
     SELECT $1, r.workspace_id, r.seq % $3, r.seq, r.version, r.kind, r.topic, r.kafka_partition, r.kafka_offset, r.snapshot_taken_at
       FROM (SELECT r.*, coalesce((SELECT max(k.seq) FROM ${BOOKKEEPING_SCHEMA}.workspace_origins AS k
                                    WHERE k.projection = $1 AND k.workspace_id = r.workspace_id), 0) + r.n AS seq
               FROM jsonb_to_recordset($2::jsonb) AS r(workspace_id bigint, n bigint, version bigint, kind text, topic text,
                                                       kafka_partition int, kafka_offset bigint, snapshot_taken_at timestamptz)) AS r
     ON CONFLICT (projection, workspace_id, slot) DO UPDATE
       SET seq = EXCLUDED.seq, version = EXCLUDED.version, kind = EXCLUDED.kind, topic = EXCLUDED.topic,
           kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset, snapshot_taken_at = EXCLUDED.snapshot_taken_at`,
    [projection, JSON.stringify(origins), ORIGINS_KEPT],
  );
}

const originRowSchema = z
  .object({
    seq: z.string(),
    version: z.string(),
    kind: z.enum(['created', 'updated', 'deleted', 'full-row', 'snapshot']),
    topic: z.string().nullable(),
    kafka_partition: z.number().nullable(),
    kafka_offset: z.string().nullable(),
    snapshot_taken_at: z.date().nullable(),
  })
  .transform((row): VersionOrigin => {
    const version = Number(row.version);
    if (row.kind === 'snapshot') return { version, kind: row.kind, takenAt: row.snapshot_taken_at!.toISOString() };
    return { version, kind: row.kind, topic: row.topic!, partition: row.kafka_partition!, offset: row.kafka_offset! };
  });

export interface StoredOrigins {
  /** The kept origins, oldest first. */
  origins: VersionOrigin[];
  /** How many older origins were recorded and dropped. */
  dropped: number;
}

/** A workspace's kept origins (`--explain`). */
export async function readOrigins(client: Session, projection: string, workspaceId: number): Promise<StoredOrigins> {
  const { rows } = await client.query(
    `SELECT seq::text, version::text, kind, topic, kafka_partition, kafka_offset::text, snapshot_taken_at
       FROM ${BOOKKEEPING_SCHEMA}.workspace_origins AS o WHERE projection = $1 AND workspace_id = $2
      -- Qualified: the unqualified name would sort by the selected seq::text, i.e. as strings.
      ORDER BY o.seq`,
    [projection, workspaceId],
  );
  const last = rows.at(-1) as { seq: string } | undefined;
  // seq numbers a workspace's origins from 1 without gaps: the last one is how many were ever recorded.
  return { origins: rows.map((raw) => originRowSchema.parse(raw)), dropped: last === undefined ? 0 : Number(last.seq) - rows.length };
}

/** Workspaces whose parked updates no create (or full row) in the projection's history applied. */
export interface UnappliedParked {
  workspaces: number;
  updates: number;
  /** The first PARKED_REPORT_LIMIT workspaces, in id order, with where their updates were read. */
  sample: { workspaceId: number; updates: number; from: string }[];
}

/** How many parked workspaces a report names; the count covers them all. */
export const PARKED_REPORT_LIMIT = 20;

/**
 * The parked updates of a projection that are still waiting for their workspace's create. At the end of a
 * rebuild from zero they never will be: the history lacks the create (compacted or truncated topic).
 */
export async function listUnappliedParked(client: Session, projection: string): Promise<UnappliedParked> {
  const { rows } = await client.query(
    `WITH waiting AS (
       SELECT p.workspace_id, count(*)::int AS updates,
              string_agg(format('%s[%s]@%s', p.topic, p.kafka_partition, p.kafka_offset), ', ' ORDER BY p.version) AS from_positions
         FROM ${BOOKKEEPING_SCHEMA}.parked_updates AS p
        WHERE p.projection = $1
          AND NOT EXISTS (SELECT 1 FROM ${BOOKKEEPING_SCHEMA}.workspace_states AS s
                           WHERE s.projection = p.projection AND s.workspace_id = p.workspace_id AND NOT s.deleted)
        GROUP BY p.workspace_id)
     SELECT w.workspace_id::text, w.updates, w.from_positions,
            count(*) OVER ()::int AS workspaces, sum(w.updates) OVER ()::int AS total_updates
       FROM waiting AS w ORDER BY w.workspace_id LIMIT $2`,
    [projection, PARKED_REPORT_LIMIT],
  );
  const parsed = z
    .array(z.object({ workspace_id: z.string(), updates: z.number(), from_positions: z.string(), workspaces: z.number(), total_updates: z.number() }))
    .parse(rows);
  return {
    workspaces: parsed[0]?.workspaces ?? 0,
    updates: parsed[0]?.total_updates ?? 0,
    sample: parsed.map((r) => ({ workspaceId: Number(r.workspace_id), updates: r.updates, from: r.from_positions })),
  };
}

/** How many workspaces of a projection have a live (not deleted) folded state: a materialize's total. */
export async function countLiveFolds(client: Session, projection: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${BOOKKEEPING_SCHEMA}.workspace_states WHERE projection = $1 AND NOT deleted`, [projection]);
  return Number(rows[0]?.n ?? 0);
}
