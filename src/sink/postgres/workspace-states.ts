/**
 * The folded state of each workspace with the origins of its last versions, and its parked updates
 * (`rebuild_projection.workspace_states`, `parked_updates`). Loaded with locks for a batch's workspaces and
 * written back set-based; read without locks by `--explain`.
 */
import { statementParams, type Session } from './database.js';
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
import { checkpointsForUpdate, checkpointsUpsert, type Checkpoint, type PartitionRef } from './checkpoints.js';
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
  devfile: string | null;
  agent_config: AgentConfig | null;
  offsets: Record<string, string>;
  deleted_on: string | null;
  oversized_devfile: FoldedWorkspace['oversizedDevfile'];
}

const STATE_COLUMNS = 's.version::text, s.deleted, s.workspace, s.offsets, s.deleted_on, s.oversized_devfile';
/** The columns that only generation and a devfile change need (readBatchFolds loads them for those). */
const LARGE_COLUMNS = ['processed_devfile', 'devfile', 'agent_config'] as const;

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
    // In place: the object is this row's own, just parsed (a copy per state was a measurable share of a batch).
    const revived = row.workspace;
    revived['devfile'] = row.devfile;
    revived['processed_devfile'] = row.processed_devfile;
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

/** The checkpoints readBatchFolds locked (json_agg: null when none exists). */
const lockedCheckpointsSchema = z.array(z.object({ topic: z.string(), partition: z.number().int(), nextOffset: z.string() })).nullable();

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
  /**
   * Workspaces whose state was read without its devfiles and agent config (null there, see BatchFoldsOptions'
   * `devfile`): they may be folded and saved, which keeps those columns as stored, never generated.
   */
  partial: Set<number>;
  /** Of the checkpoints asked for, those that exist (a partition never consumed has none), locked. */
  checkpoints: Checkpoint[];
}

export interface BatchFoldsOptions {
  /**
   * Whose devfiles (processed_devfile and devfile, each a column of its own) and agent config to load ('all',
   * or these, and those with a workspace letter): the others' states hold null instead (see saveFolds) and are
   * listed in BatchFolds' `partial`.
   */
  devfile: 'all' | ReadonlySet<number>;
  /** The dead letters' projection, to find failed workspaces (whose devfile is then loaded too); none: not asked. */
  letters?: string | undefined;
  /** Also lock and read these partitions' checkpoints, in the same statement (one round trip less per batch). */
  checkpoints?: readonly PartitionRef[] | undefined;
}

/**
 * Reads, in one statement and without taking the fold locks (the caller holds them, projection-locks.ts
 * lockFolds, or reads inside its own snapshot), the folds of `workspaceIds`, whether they are held, whether
 * their last generation failed, and (locked) the checkpoints asked for.
 */
export async function readBatchFolds(
  client: Session,
  projection: string,
  workspaceIds: Iterable<number>,
  options: BatchFoldsOptions,
): Promise<BatchFolds> {
  const ids = [...new Set(workspaceIds)];
  const result: BatchFolds = { folds: new Map(ids.map((id) => [id, emptyFold()])), held: new Set(), failed: new Set(), partial: new Set(), checkpoints: [] };
  const partitions = options.checkpoints ?? [];
  if (ids.length === 0 && partitions.length === 0) return result;
  const param = statementParams();
  const p = param(projection);
  // Per id, whether to load its devfile: an array beside the ids (not `= ANY`, quadratic in a large batch).
  const wanted = options.devfile;
  const large = LARGE_COLUMNS.map((column) => (wanted === 'all' ? `s.${column}` : `CASE WHEN i.devfile OR f.failed THEN s.${column} END AS ${column}`));
  const folds = `SELECT i.id::text AS workspace_id, s.workspace_id IS NOT NULL AS exists, ${STATE_COLUMNS}, ${large.join(', ')},
            (SELECT jsonb_agg(jsonb_build_object('version', p.version, 'changes', p.changes, 'topic', p.topic,
                                                 'partition', p.kafka_partition, 'offset', p.kafka_offset::text) ORDER BY p.version)
               FROM ${BOOKKEEPING_SCHEMA}.parked_updates AS p WHERE p.projection = ${p} AND p.workspace_id = i.id) AS parked,
            EXISTS (SELECT 1 FROM ${BOOKKEEPING_SCHEMA}.held_events AS h WHERE h.projection = ${p} AND h.workspace_id = i.id) AS held,
            f.failed
       FROM unnest(${param(ids)}::bigint[], ${param(ids.map((id) => wanted === 'all' || wanted.has(id)))}::boolean[]) AS i(id, devfile)
       CROSS JOIN LATERAL (SELECT ${options.letters === undefined ? 'false' : `EXISTS (SELECT 1 FROM ${BOOKKEEPING_SCHEMA}.dead_letters AS d
                                  WHERE d.projection = ${param(options.letters)} AND d.dead_letter_key = 'workspace:' || i.id)`}) AS f(failed)
       LEFT JOIN ${BOOKKEEPING_SCHEMA}.workspace_states AS s ON s.projection = ${p} AND s.workspace_id = i.id`;
  // With checkpoints: one row at least (they, aggregated), joined to the folds' rows, so that no workspace still reads them.
  const { rows } = await client.query<StateRow & { exists: boolean; parked: unknown; held: boolean; failed: boolean; checkpoints?: unknown }>(
    partitions.length === 0
      ? folds
      : `WITH checkpoint AS (${checkpointsForUpdate(param, projection, partitions)})
         SELECT (SELECT json_agg(json_build_object('topic', topic, 'partition', kafka_partition, 'nextOffset', next_offset)) FROM checkpoint) AS checkpoints,
                w.*
           FROM (SELECT) AS one LEFT JOIN (${folds}) AS w ON true`,
    param.values,
  );
  if (partitions.length > 0) result.checkpoints = lockedCheckpointsSchema.parse(rows[0]?.checkpoints ?? null) ?? [];
  for (const row of rows) {
    // The checkpoints' row when there is no workspace.
    if (row.workspace_id === null) continue;
    const id = Number(row.workspace_id);
    const fold = result.folds.get(id)!;
    if (row.exists) {
      fold.state = storedState(row);
      if (wanted !== 'all' && !wanted.has(id) && !row.failed) result.partial.add(id);
    }
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
    `SELECT s.workspace_id::text AS workspace_id, ${STATE_COLUMNS}, ${LARGE_COLUMNS.map((column) => `s.${column}`).join(', ')}
       FROM ${BOOKKEEPING_SCHEMA}.workspace_states AS s
      WHERE projection = $1 AND workspace_id > $2 AND NOT deleted
      ORDER BY s.workspace_id LIMIT $3`,
    [projection, afterWorkspaceId, limit],
  );
  return new Map(rows.map((row) => [Number(row.workspace_id), { state: storedState(row), parked: [], newOrigins: [] }]));
}

/**
 * Writes back the folds of these workspaces, in one statement (and a second when a create applied parked
 * updates): states upserted, new parked updates added, new origins appended, and `checkpoints` saved with them.
 *
 * `loaded` (what was read for these folds) lets an unchanged processed_devfile and devfile stay as stored (TOAST
 * pointers) instead of being rewritten: a state whose devfiles were not loaded (readBatchFolds) holds null there,
 * and so does its fold as long as no event changed them, which readers load them for. An agent config the fold
 * left as loaded (the same object, or the null of a state loaded without it) is kept as stored too. A deleted
 * state drops its devfiles and agent config.
 */
export async function saveFolds(
  client: Session,
  projection: string,
  folds: ReadonlyMap<number, WorkspaceFold>,
  loaded: ReadonlyMap<number, WorkspaceFold> = new Map(),
  checkpoints: readonly Checkpoint[] = [],
): Promise<void> {
  const param = statementParams();
  // Added on first use: a parameter no part references has no type (42P18).
  let placeholder: string | undefined;
  const p = (): string => (placeholder ??= param(projection));
  const parts: string[] = [];
  const states = [...folds].filter(([id, fold]) => fold.state !== undefined && fold.state !== loaded.get(id)?.state);
  for (const [workspaceId, fold] of folds) {
    // Origins are kept in the state's row: a transition that records one always makes a new state (fold.ts).
    if (fold.newOrigins.length > 0 && (fold.state === undefined || fold.state === loaded.get(workspaceId)?.state)) {
      throw new Error(`workspace ${workspaceId}: new origins without a new state (a fold bug)`);
    }
  }
  const rewritten: unknown[] = [];
  const kept: unknown[] = [];
  for (const [workspaceId, fold] of states) {
    const { workspace, version, deleted, agentConfig, offsets, deletedOn, oversizedDevfile } = fold.state!;
    const processedDevfile = workspace?.processed_devfile ?? null;
    const devfile = workspace?.devfile ?? null;
    const stored = loaded.get(workspaceId)?.state;
    const devfileChanged =
      stored === undefined || (stored.workspace?.processed_devfile ?? null) !== processedDevfile || (stored.workspace?.devfile ?? null) !== devfile;
    const agentConfigChanged = stored === undefined || stored.agentConfig !== agentConfig;
    const record = {
      workspace_id: workspaceId,
      version,
      deleted,
      workspace: workspace === null ? null : { ...workspace, processed_devfile: undefined, devfile: undefined },
      processed_devfile: devfileChanged ? processedDevfile : undefined,
      devfile: devfileChanged ? devfile : undefined,
      // An unchanged agent config of a kept state is not sent (nor serialized and parsed again): the UPDATE keeps it.
      agent_config: devfileChanged || agentConfigChanged ? agentConfig : undefined,
      agent_config_changed: agentConfigChanged,
      offsets,
      deleted_on: deletedOn,
      oversized_devfile: oversizedDevfile,
      // Only the last ORIGINS_KEPT can stay; all of them are counted.
      origins: fold.newOrigins.slice(-ORIGINS_KEPT).map(storedOrigin),
      origins_added: fold.newOrigins.length,
    };
    (devfileChanged ? rewritten : kept).push(record);
  }
  const recordset = `workspace_id bigint, version bigint, deleted boolean, workspace jsonb, processed_devfile text, devfile text,
                     agent_config jsonb, agent_config_changed boolean, offsets jsonb, deleted_on text, oversized_devfile jsonb, origins jsonb, origins_added bigint`;
  // The new origins after the stored ones, of which the last ORIGINS_KEPT stay (lax mode: a shorter list stays whole).
  const appended = (stored: string, added: string): string => `jsonb_path_query_array(${stored} || ${added}, '$[last - ${ORIGINS_KEPT - 1} to last]')`;
  if (rewritten.length > 0) {
    parts.push(`INSERT INTO ${BOOKKEEPING_SCHEMA}.workspace_states AS s
         (projection, workspace_id, version, deleted, workspace, processed_devfile, devfile, agent_config, offsets, deleted_on, oversized_devfile,
          origins, origins_recorded)
       SELECT ${p()}, r.workspace_id, r.version, r.deleted, r.workspace, r.processed_devfile, r.devfile, r.agent_config, r.offsets, r.deleted_on,
              r.oversized_devfile,
              r.origins, r.origins_added
         FROM jsonb_to_recordset(${param(JSON.stringify(rewritten))}::jsonb) AS r(${recordset})
       ON CONFLICT (projection, workspace_id) DO UPDATE
         SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, workspace = EXCLUDED.workspace,
             processed_devfile = EXCLUDED.processed_devfile, devfile = EXCLUDED.devfile, agent_config = EXCLUDED.agent_config, offsets = EXCLUDED.offsets,
             deleted_on = EXCLUDED.deleted_on, oversized_devfile = EXCLUDED.oversized_devfile, updated_at = now(),
             origins = ${appended('s.origins', 'EXCLUDED.origins')}, origins_recorded = s.origins_recorded + EXCLUDED.origins_recorded`);
  }
  if (kept.length > 0) {
    // These states exist (loaded above) and keep their devfiles (TOAST pointers, not written again), unless
    // deleted, and their agent config unless it changed (not parsed and compressed again).
    parts.push(`UPDATE ${BOOKKEEPING_SCHEMA}.workspace_states AS s
          SET version = r.version, deleted = r.deleted, workspace = r.workspace, offsets = r.offsets,
              agent_config = CASE WHEN r.workspace IS NULL THEN NULL WHEN r.agent_config_changed THEN r.agent_config ELSE s.agent_config END,
              deleted_on = r.deleted_on, oversized_devfile = r.oversized_devfile, updated_at = now(),
              processed_devfile = CASE WHEN r.workspace IS NULL THEN NULL ELSE s.processed_devfile END,
              devfile = CASE WHEN r.workspace IS NULL THEN NULL ELSE s.devfile END,
              origins = ${appended('s.origins', 'r.origins')}, origins_recorded = s.origins_recorded + r.origins_added
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
  if (checkpoints.length > 0) parts.push(checkpointsUpsert(param, projection, checkpoints));
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
 * An origin as the state's row keeps it (migration 015): a short array rather than an object, because the
 * list is rewritten with every applied event; kinds and positions as in VersionOrigin.
 */
type StoredOrigin = [version: number, kind: Exclude<VersionOrigin['kind'], 'snapshot'>, topic: string, partition: number, offset: string] | [version: number, kind: 'snapshot', takenAt: string];

function storedOrigin(origin: VersionOrigin): StoredOrigin {
  return origin.kind === 'snapshot'
    ? [origin.version, origin.kind, origin.takenAt]
    : [origin.version, origin.kind, origin.topic, origin.partition, origin.offset];
}

const storedOriginSchema = z
  .union([
    z.tuple([z.number(), z.enum(['created', 'updated', 'deleted', 'full-row']), z.string(), z.number(), z.string()]),
    // Moved from workspace_origins, the time is PostgreSQL's text of a timestamptz; written here, an ISO string.
    z.tuple([z.number(), z.literal('snapshot'), z.string().refine((text) => !Number.isNaN(Date.parse(text)), 'not a timestamp')]),
  ])
  .transform((stored): VersionOrigin =>
    stored[1] === 'snapshot'
      ? { version: stored[0], kind: stored[1], takenAt: new Date(stored[2]).toISOString() }
      : { version: stored[0], kind: stored[1], topic: stored[2], partition: stored[3], offset: stored[4] },
  );

export interface StoredOrigins {
  /** The kept origins, oldest first. */
  origins: VersionOrigin[];
  /** How many older origins were recorded and dropped. */
  dropped: number;
}

/** A workspace's kept origins (`--explain`), read from its state's row; none when it has no state. */
export async function readOrigins(client: Session, projection: string, workspaceId: number): Promise<StoredOrigins> {
  const { rows } = await client.query<{ origins: unknown; recorded: string }>(
    `SELECT origins, origins_recorded::text AS recorded FROM ${BOOKKEEPING_SCHEMA}.workspace_states WHERE projection = $1 AND workspace_id = $2`,
    [projection, workspaceId],
  );
  const row = rows[0];
  if (row === undefined) return { origins: [], dropped: 0 };
  const origins = z.array(storedOriginSchema).parse(row.origins);
  return { origins, dropped: Number(row.recorded) - origins.length };
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
