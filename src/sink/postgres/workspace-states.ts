/**
 * The folded state of each workspace, its parked updates and the origins of its last versions
 * (`rebuild_projection.workspace_states`, `parked_updates`, `workspace_origins`). Loaded with locks for a
 * batch's workspaces and written back set-based; read without locks by `--explain`.
 */
import { statementParams, type Session, type StatementParams } from './database.js';
import { z } from 'zod';
import {
  emptyFold,
  ORIGINS_KEPT,
  type FoldedWorkspace,
  type ParkedUpdate,
  type VersionOrigin,
  type WorkspaceFold,
} from '../../../projections/agentk-states/fold.js';
import type { AgentConfig } from '../../../projections/agentk-states/inputs.js';
import { workspaceChangesSchema, type WorkspaceRow } from '../../../projections/agentk-states/events.js';
import { checkpointForUpdate, checkpointsUpsert, type Checkpoint } from './checkpoints.js';
import { lockFolds } from './projection-locks.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** The columns of `workspaces` that are timestamps: JSON keeps them as ISO-8601 text, the row holds Dates. */
type TimestampColumn = { [K in keyof WorkspaceRow]-?: WorkspaceRow[K] extends Date | null ? K : never }[keyof WorkspaceRow];
// A Record, so that the compiler checks the list is exactly the row's timestamp columns.
const TIMESTAMP_COLUMNS = Object.keys({
  created_at: true, updated_at: true, desired_state_updated_at: true, responded_to_agent_at: true, actual_state_updated_at: true,
} satisfies Record<TimestampColumn, true>) as TimestampColumn[];

/** The columns generation reads (plan-batch.ts GENERATION_INPUT_COLUMNS, the devfile aside), with their JSON types. */
export const GENERATED_FROM: readonly [keyof WorkspaceRow, 'number' | 'string'][] = [
  ['id', 'number'], ['name', 'string'], ['namespace', 'string'], ['desired_state', 'string'], ['cluster_agent_id', 'number'],
  ['workspaces_agent_config_version', 'number'], ['project_id', 'number'],
];

/** A state row as selected (STATE_COLUMNS): pg's own types, bigints as text. */
interface StateRow {
  workspace_id: string;
  version: string;
  deleted: boolean;
  workspace: Record<string, unknown> | null;
  processed_devfile: string | null;
  agent_config: AgentConfig | null;
  offsets: Record<string, string>;
  deleted_on: string | null;
  oversized_devfile: FoldedWorkspace['oversizedDevfile'];
}

const STATE_COLUMNS = 's.version::text, s.deleted, s.workspace, s.agent_config, s.offsets, s.deleted_on, s.oversized_devfile';

/**
 * The fold state of a stored row, trusted instead of parsed again with zod: only saveFolds writes these rows,
 * from events and rows that passed the event schemas, in our own schema, with the agent config's defaults
 * already applied; zod re-validation of the whole row was a large share of a follow batch's CPU. What JSON
 * cannot carry is restored (the timestamps), and a row whose shape or generator columns are not what saveFolds
 * writes (edited by hand, say) is refused loudly, as a corrupt state.
 */
function storedState(row: StateRow): FoldedWorkspace {
  if (typeof row.version !== 'string' || typeof row.deleted !== 'boolean' || typeof row.offsets !== 'object' || row.offsets === null) {
    throw new CorruptFoldError(row.workspace_id, 'version, deleted or offsets missing');
  }
  let workspace: WorkspaceRow | null = null;
  if (row.workspace !== null) {
    if (typeof row.workspace !== 'object') throw new CorruptFoldError(row.workspace_id, 'workspace is not a row');
    for (const [column, type] of GENERATED_FROM) {
      if (typeof row.workspace[column] !== type) throw new CorruptFoldError(row.workspace_id, `workspace.${column} is not a ${type}`);
    }
    const revived: Record<string, unknown> = { ...row.workspace, processed_devfile: row.processed_devfile };
    for (const column of TIMESTAMP_COLUMNS) {
      const value = revived[column];
      if (typeof value === 'string') revived[column] = new Date(value);
    }
    workspace = revived as unknown as WorkspaceRow;
  }
  return {
    version: Number(row.version),
    deleted: row.deleted,
    workspace,
    agentConfig: row.agent_config,
    offsets: row.offsets,
    deletedOn: row.deleted_on,
    oversizedDevfile: row.oversized_devfile,
  };
}

/** A stored folded state that is not what saveFolds writes: a permanent failure of the batch. */
export class CorruptFoldError extends Error {
  override readonly name = 'CorruptFoldError';
  readonly retriable = false;
  constructor(workspaceId: string, why: string) {
    super(`rebuild_projection.workspace_states row of workspace ${workspaceId} is corrupt: ${why}`);
  }
}

const parkedSchema = z.array(
  z.object({ version: z.number(), changes: workspaceChangesSchema, topic: z.string(), partition: z.number(), offset: z.string() }),
);

/** What a batch reads of its workspaces: their folds, and which are held or have a failed generation. */
export interface BatchFolds {
  /** An entry per workspace; a never-seen one has no state and no parked updates. */
  folds: Map<number, WorkspaceFold>;
  /** Workspaces with held events (held-events.ts). */
  held: Set<number>;
  /** Workspaces with a workspace letter (a failed generation) in the letters' projection. */
  failed: Set<number>;
  /** The checkpoint asked for (next offset), locked; undefined: never consumed, or not asked. */
  checkpoint: string | undefined;
}

export interface BatchFoldsOptions {
  /** Whose processed_devfile to load ('all', or these): the others' states hold null instead (see saveFolds). */
  devfile: 'all' | ReadonlySet<number>;
  /** The dead letters' projection, to find failed workspaces (whose devfile is then loaded too); none: not asked. */
  letters?: string | undefined;
  /** Also lock and read this partition's checkpoint, in the same statement (one round trip less per batch). */
  checkpoint?: { topic: string; partition: number } | undefined;
}

/**
 * Reads, in one statement and without taking the fold locks (the caller holds them, projection-locks.ts
 * lockFolds, or reads inside its own snapshot), the folds of `workspaceIds`, whether they are held, whether
 * their last generation failed, and (locked) the checkpoint asked for.
 */
export async function readBatchFolds(
  client: Session,
  projection: string,
  workspaceIds: Iterable<number>,
  options: BatchFoldsOptions,
): Promise<BatchFolds> {
  const ids = [...new Set(workspaceIds)];
  const result: BatchFolds = { folds: new Map(ids.map((id) => [id, emptyFold()])), held: new Set(), failed: new Set(), checkpoint: undefined };
  const { checkpoint } = options;
  if (ids.length === 0 && checkpoint === undefined) return result;
  const param = statementParams();
  const p = param(projection);
  // Per id, whether to load its devfile: an array beside the ids (not `= ANY`, quadratic in a large batch).
  const wanted = options.devfile;
  const devfile = wanted === 'all' ? 's.processed_devfile' : 'CASE WHEN i.devfile OR f.failed THEN s.processed_devfile END';
  const folds = `SELECT i.id::text AS workspace_id, s.workspace_id IS NOT NULL AS exists, ${STATE_COLUMNS}, ${devfile} AS processed_devfile,
            (SELECT jsonb_agg(jsonb_build_object('version', p.version, 'changes', p.changes, 'topic', p.topic,
                                                 'partition', p.kafka_partition, 'offset', p.kafka_offset::text) ORDER BY p.version)
               FROM ${BOOKKEEPING_SCHEMA}.parked_updates AS p WHERE p.projection = ${p} AND p.workspace_id = i.id) AS parked,
            EXISTS (SELECT 1 FROM ${BOOKKEEPING_SCHEMA}.held_events AS h WHERE h.projection = ${p} AND h.workspace_id = i.id) AS held,
            f.failed
       FROM unnest(${param(ids)}::bigint[], ${param(ids.map((id) => wanted === 'all' || wanted.has(id)))}::boolean[]) AS i(id, devfile)
       CROSS JOIN LATERAL (SELECT ${options.letters === undefined ? 'false' : `EXISTS (SELECT 1 FROM ${BOOKKEEPING_SCHEMA}.dead_letters AS d
                                  WHERE d.projection = ${param(options.letters)} AND d.dead_letter_key = 'workspace:' || i.id)`}) AS f(failed)
       LEFT JOIN ${BOOKKEEPING_SCHEMA}.workspace_states AS s ON s.projection = ${p} AND s.workspace_id = i.id`;
  // With the checkpoint: one row at least (it), joined to the folds' rows, so that no workspace still reads it.
  const { rows } = await client.query<StateRow & { exists: boolean; parked: unknown; held: boolean; failed: boolean; checkpoint?: string | null }>(
    checkpoint === undefined
      ? folds
      : `WITH checkpoint AS (${checkpointForUpdate(param, projection, checkpoint.topic, checkpoint.partition)})
         SELECT (SELECT next_offset FROM checkpoint) AS checkpoint, w.* FROM (SELECT) AS one LEFT JOIN (${folds}) AS w ON true`,
    param.values,
  );
  result.checkpoint = rows[0]?.checkpoint ?? undefined;
  for (const row of rows) {
    // The checkpoint's row when there is no workspace.
    if (row.workspace_id === null) continue;
    const id = Number(row.workspace_id);
    const fold = result.folds.get(id)!;
    if (row.exists) fold.state = storedState(row);
    // Parked updates are few (updates before their create) and their changes are parsed as at the boundary.
    if (row.parked !== null) {
      fold.parked = parkedSchema.parse(row.parked).map((u): ParkedUpdate => ({
        version: u.version,
        changes: u.changes,
        position: { topic: u.topic, partition: u.partition, offset: u.offset },
      }));
    }
    if (row.held) result.held.add(id);
    if (row.failed) result.failed.add(id);
  }
  return result;
}

/** Locks (projection-locks.ts lockFolds) and loads the whole folds of `workspaceIds`, an entry per id. */
export async function loadFolds(
  client: Session,
  projection: string,
  workspaceIds: readonly number[],
): Promise<Map<number, WorkspaceFold>> {
  if (workspaceIds.length === 0) return new Map();
  await lockFolds(client, projection, workspaceIds, { projectionShared: false });
  return (await readBatchFolds(client, projection, workspaceIds, { devfile: 'all' })).folds;
}

/** One workspace's fold, read without locks (`--explain`: read-only, inside the caller's snapshot). */
export async function readFold(client: Session, projection: string, workspaceId: number): Promise<WorkspaceFold> {
  return (await readBatchFolds(client, projection, [workspaceId], { devfile: 'all' })).folds.get(workspaceId)!;
}

/** One page of live (not deleted) folded states in workspace id order, without locks (a rebuild's own shadow). */
export async function readLiveFoldsPage(
  client: Session,
  projection: string,
  afterWorkspaceId: number,
  limit: number,
): Promise<Map<number, WorkspaceFold>> {
  const { rows } = await client.query<StateRow>(
    `SELECT s.workspace_id::text AS workspace_id, ${STATE_COLUMNS}, s.processed_devfile
       FROM ${BOOKKEEPING_SCHEMA}.workspace_states AS s
      WHERE projection = $1 AND workspace_id > $2 AND NOT deleted
      ORDER BY s.workspace_id LIMIT $3`,
    [projection, afterWorkspaceId, limit],
  );
  return new Map(rows.map((row) => [Number(row.workspace_id), { state: storedState(row), parked: [], newOrigins: [] }]));
}

/**
 * Writes back the folds of these workspaces, in one statement (and a second when a create applied parked
 * updates): states upserted, new parked updates added, new origins appended, and `checkpoint` saved with them.
 *
 * `loaded` (what was read for these folds) lets an unchanged processed_devfile stay as stored instead of being
 * rewritten: a state whose devfile was not loaded (readBatchFolds) holds null there, and so does its fold as
 * long as no event changed the devfile, which readers load it for. A deleted state drops its devfile.
 */
export async function saveFolds(
  client: Session,
  projection: string,
  folds: ReadonlyMap<number, WorkspaceFold>,
  loaded: ReadonlyMap<number, WorkspaceFold> = new Map(),
  checkpoint?: Checkpoint,
): Promise<void> {
  const param = statementParams();
  // Added on first use: a parameter no part references has no type (42P18).
  let placeholder: string | undefined;
  const p = (): string => (placeholder ??= param(projection));
  const parts: string[] = [];
  const states = [...folds].filter(([id, fold]) => fold.state !== undefined && fold.state !== loaded.get(id)?.state);
  const rewritten: unknown[] = [];
  const kept: unknown[] = [];
  for (const [workspaceId, fold] of states) {
    const { workspace, version, deleted, agentConfig, offsets, deletedOn, oversizedDevfile } = fold.state!;
    const devfile = workspace?.processed_devfile ?? null;
    const stored = loaded.get(workspaceId)?.state;
    const devfileChanged = stored === undefined || (stored.workspace?.processed_devfile ?? null) !== devfile;
    const record = {
      workspace_id: workspaceId,
      version,
      deleted,
      workspace: workspace === null ? null : { ...workspace, processed_devfile: undefined },
      processed_devfile: devfileChanged ? devfile : undefined,
      agent_config: agentConfig,
      offsets,
      deleted_on: deletedOn,
      oversized_devfile: oversizedDevfile,
    };
    (devfileChanged ? rewritten : kept).push(record);
  }
  const recordset = `workspace_id bigint, version bigint, deleted boolean, workspace jsonb, processed_devfile text, agent_config jsonb,
                     offsets jsonb, deleted_on text, oversized_devfile jsonb`;
  if (rewritten.length > 0) {
    parts.push(`INSERT INTO ${BOOKKEEPING_SCHEMA}.workspace_states AS s
         (projection, workspace_id, version, deleted, workspace, processed_devfile, agent_config, offsets, deleted_on, oversized_devfile)
       SELECT ${p()}, r.workspace_id, r.version, r.deleted, r.workspace, r.processed_devfile, r.agent_config, r.offsets, r.deleted_on, r.oversized_devfile
         FROM jsonb_to_recordset(${param(JSON.stringify(rewritten))}::jsonb) AS r(${recordset})
       ON CONFLICT (projection, workspace_id) DO UPDATE
         SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, workspace = EXCLUDED.workspace,
             processed_devfile = EXCLUDED.processed_devfile, agent_config = EXCLUDED.agent_config, offsets = EXCLUDED.offsets,
             deleted_on = EXCLUDED.deleted_on, oversized_devfile = EXCLUDED.oversized_devfile, updated_at = now()`);
  }
  if (kept.length > 0) {
    // These states exist (loaded above) and keep their devfile, unless deleted.
    parts.push(`UPDATE ${BOOKKEEPING_SCHEMA}.workspace_states AS s
          SET version = r.version, deleted = r.deleted, workspace = r.workspace, agent_config = r.agent_config, offsets = r.offsets,
              deleted_on = r.deleted_on, oversized_devfile = r.oversized_devfile, updated_at = now(),
              processed_devfile = CASE WHEN r.workspace IS NULL THEN NULL ELSE s.processed_devfile END
         FROM jsonb_to_recordset(${param(JSON.stringify(kept))}::jsonb) AS r(${recordset})
        WHERE s.projection = ${p()} AND s.workspace_id = r.workspace_id`);
  }
  // A loaded fold's parked updates only grow (updates before the create) until a create or delete clears them
  // all; a fold saved without its loaded one replaces whatever is stored.
  const cleared: number[] = [];
  const parked = [...folds].flatMap(([workspaceId, fold]) => {
    const before = loaded.get(workspaceId)?.parked;
    const grows = before !== undefined && before.every((update, i) => fold.parked[i] === update);
    if (!grows && before !== undefined && fold.parked.length > 0) {
      throw new Error(`workspace ${workspaceId}: its parked updates changed other than by growing or clearing (a fold bug)`);
    }
    if (!grows) cleared.push(workspaceId);
    return fold.parked.slice(grows ? before.length : 0).map((update) => ({
      workspace_id: workspaceId,
      version: update.version,
      changes: update.changes,
      topic: update.position.topic,
      kafka_partition: update.position.partition,
      kafka_offset: update.position.offset,
    }));
  });
  if (parked.length > 0) {
    parts.push(`INSERT INTO ${BOOKKEEPING_SCHEMA}.parked_updates (projection, workspace_id, version, changes, topic, kafka_partition, kafka_offset)
       SELECT ${p()}, r.workspace_id, r.version, r.changes, r.topic, r.kafka_partition, r.kafka_offset
         FROM jsonb_to_recordset(${param(JSON.stringify(parked))}::jsonb) AS r(workspace_id bigint, version bigint, changes jsonb, topic text, kafka_partition int, kafka_offset bigint)`);
  }
  const origins = appendOrigins(param, p, folds);
  if (origins !== undefined) parts.push(origins);
  if (checkpoint !== undefined) parts.push(checkpointsUpsert(param, projection, [checkpoint]));
  if (cleared.length > 0) {
    // Its own statement: in one, a DELETE and an INSERT of the same keys run in no defined order.
    await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.parked_updates WHERE projection = $1 AND workspace_id = ANY($2::bigint[])`, [projection, cleared]);
  }
  if (parts.length === 0) return;
  // Each part touches its own table (or its own rows of one): data-modifying WITH parts all run, to completion.
  const last = parts.pop()!;
  await client.query(parts.length === 0 ? last : `WITH ${parts.map((part, i) => `w${i} AS (${part})`).join(',\n')}\n${last}`, param.values);
}

/**
 * Appends each fold's new origins after the workspace's last one (seq). The table is a ring of ORIGINS_KEPT
 * slots per workspace (slot = seq mod ORIGINS_KEPT), so an append overwrites the oldest kept origin in place:
 * one upsert per applied event, no DELETE, never more than ORIGINS_KEPT rows per workspace.
 */
function appendOrigins(param: StatementParams, p: () => string, folds: ReadonlyMap<number, WorkspaceFold>): string | undefined {
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
  if (origins.length === 0) return undefined;
  const kept = param(ORIGINS_KEPT);
  return `INSERT INTO ${BOOKKEEPING_SCHEMA}.workspace_origins AS o
            (projection, workspace_id, slot, seq, version, kind, topic, kafka_partition, kafka_offset, snapshot_taken_at)
     SELECT ${p()}, r.workspace_id, r.seq % ${kept}, r.seq, r.version, r.kind, r.topic, r.kafka_partition, r.kafka_offset, r.snapshot_taken_at
       FROM (SELECT r.*, coalesce((SELECT max(k.seq) FROM ${BOOKKEEPING_SCHEMA}.workspace_origins AS k
                                    WHERE k.projection = ${p()} AND k.workspace_id = r.workspace_id), 0) + r.n AS seq
               FROM jsonb_to_recordset(${param(JSON.stringify(origins))}::jsonb) AS r(workspace_id bigint, n bigint, version bigint, kind text, topic text,
                                                       kafka_partition int, kafka_offset bigint, snapshot_taken_at timestamptz)) AS r
     ON CONFLICT (projection, workspace_id, slot) DO UPDATE
       SET seq = EXCLUDED.seq, version = EXCLUDED.version, kind = EXCLUDED.kind, topic = EXCLUDED.topic,
           kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset, snapshot_taken_at = EXCLUDED.snapshot_taken_at`;
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

/** Deletes a projection's folded states, parked updates and origins (a fold phase starting over: materialize-shadow.ts). */
export async function clearFolds(client: Session, projection: string): Promise<void> {
  for (const table of ['workspace_states', 'parked_updates', 'workspace_origins']) {
    await client.query(`DELETE FROM ${BOOKKEEPING_SCHEMA}.${table} WHERE projection = $1`, [projection]);
  }
}
