/** The rebuild history (`rebuild_projection.rebuilds`): one row per rebuild, its phase and its progress. */
import { hostname } from 'node:os';
import type { Session } from './database.js';
import { z } from 'zod';
import { BOOKKEEPING_SCHEMA, PROJECTION_TABLES } from './migrate.js';
import { dropShadowRows } from './shadow-agentk-states.js';

const S = BOOKKEEPING_SCHEMA;

export const REBUILD_SOURCES = ['kafka', 'snapshot', 'file'] as const;
export type RebuildSource = (typeof REBUILD_SOURCES)[number];
export type RebuildPhase = 'building' | 'catching_up' | 'switched' | 'failed' | 'abandoned' | 'rolled_back';

const rebuildRowSchema = z.object({
  id: z.coerce.number(),
  projection: z.string(),
  source: z.enum(REBUILD_SOURCES),
  /** A file rebuild's file (its topic name, `file:<basename>`); null otherwise (011). */
  source_file: z.string().nullable(),
  shadow_projection: z.string(),
  host: z.string(),
  pid: z.number(),
  started_at: z.date(),
  updated_at: z.date(),
  phase: z.enum(['building', 'catching_up', 'switched', 'failed', 'abandoned', 'rolled_back']),
  snapshot_after_id: z.coerce.number().nullable(),
  snapshot_taken_at: z.date().nullable(),
  start_offsets: z.record(z.string(), z.string()).nullable(),
  total: z.coerce.number().nullable(),
  done: z.coerce.number(),
  built_at: z.date().nullable(),
  switched_at: z.date().nullable(),
  inserted: z.coerce.number().nullable(),
  updated: z.coerce.number().nullable(),
  deleted: z.coerce.number().nullable(),
  error: z.string().nullable(),
  kafka_group_uuid: z.uuid(),
  undo_kept: z.boolean(),
  rolled_back_at: z.date().nullable(),
});
export type Rebuild = z.infer<typeof rebuildRowSchema>;

/** The Kafka consumer group a rebuild's shadow consumes in: its own, unique across databases (006). */
export function rebuildGroupId(group: string, rebuild: Rebuild): string {
  return `${group}.rebuild-${rebuild.kafka_group_uuid}`;
}

const parse = (rows: unknown[]): Rebuild[] => rows.map((row) => rebuildRowSchema.parse(row));

/** The unfinished rebuild of a projection, if a previous process died during one. */
export async function findUnfinishedRebuild(db: Session, projection: string): Promise<Rebuild | undefined> {
  const { rows } = await db.query(`SELECT * FROM ${S}.rebuilds WHERE projection = $1 AND phase IN ('building', 'catching_up')`, [
    projection,
  ]);
  return parse(rows)[0];
}

export async function latestRebuilds(db: Session, projection: string, limit: number): Promise<Rebuild[]> {
  const { rows } = await db.query(`SELECT * FROM ${S}.rebuilds WHERE projection = $1 ORDER BY id DESC LIMIT $2`, [projection, limit]);
  return parse(rows);
}

export async function startRebuild(db: Session, projection: string, source: RebuildSource, sourceFile: string | null = null): Promise<Rebuild> {
  const { rows } = await db.query(
    `WITH next AS (SELECT nextval(pg_get_serial_sequence('${S}.rebuilds', 'id')) AS id)
     INSERT INTO ${S}.rebuilds (id, projection, source, shadow_projection, host, pid, source_file)
     SELECT next.id, $1, $2, $1 || '@rebuild-' || next.id, $3, $4, $5 FROM next RETURNING *`,
    [projection, source, hostname(), process.pid, sourceFile],
  );
  return parse(rows)[0]!;
}

/** Takes over an unfinished rebuild: this process is now its holder. */
export async function adoptRebuild(db: Session, id: number): Promise<Rebuild> {
  const { rows } = await db.query(`UPDATE ${S}.rebuilds SET host = $2, pid = $3, updated_at = now() WHERE id = $1 RETURNING *`, [
    id,
    hostname(),
    process.pid,
  ]);
  return parse(rows)[0]!;
}

export interface RebuildUpdate {
  phase?: RebuildPhase;
  snapshotAfterId?: number;
  snapshotTakenAt?: Date;
  startOffsets?: Record<string, string>;
  total?: number;
  done?: number;
  /** null: the shadow is being (re)built and is not switchable until this is set again (`--switch`, `--preview`). */
  builtAt?: Date | null;
  switched?: { inserted: number; updated: number; deleted: number };
  error?: string;
}

export async function updateRebuild(db: Session, id: number, update: RebuildUpdate): Promise<void> {
  await db.query(
    `UPDATE ${S}.rebuilds SET
       phase = coalesce($2, phase),
       snapshot_after_id = coalesce($3, snapshot_after_id),
       snapshot_taken_at = coalesce($4, snapshot_taken_at),
       start_offsets = coalesce($5::jsonb, start_offsets),
       total = coalesce($6, total),
       done = coalesce($7, done),
       built_at = CASE WHEN $14::boolean THEN NULL ELSE coalesce($8, built_at) END,
       switched_at = CASE WHEN $9::boolean THEN now() ELSE switched_at END,
       inserted = coalesce($10, inserted), updated = coalesce($11, updated), deleted = coalesce($12, deleted),
       error = coalesce($13, error),
       updated_at = now()
     WHERE id = $1`,
    [
      id,
      update.phase ?? null,
      update.snapshotAfterId ?? null,
      update.snapshotTakenAt ?? null,
      update.startOffsets ? JSON.stringify(update.startOffsets) : null,
      update.total ?? null,
      update.done ?? null,
      update.builtAt ?? null,
      update.switched !== undefined,
      update.switched?.inserted ?? null,
      update.switched?.updated ?? null,
      update.switched?.deleted ?? null,
      update.error ?? null,
      update.builtAt === null,
    ],
  );
}

/** Marks switched rebuilds as undone (`--rollback`), in the caller's transaction. */
export async function markRolledBack(client: Session, ids: readonly number[]): Promise<void> {
  await client.query(`UPDATE ${S}.rebuilds SET phase = 'rolled_back', undo_kept = false, rolled_back_at = now(), updated_at = now() WHERE id = ANY($1::bigint[])`, [[...ids]]);
}

/** A switched rebuild that can still be rolled back, with the size of its undo log. */
export interface UndoableSwitch {
  rebuild: Rebuild;
  /** Rows in its undo log (the rows its switch inserted, updated or deleted). */
  rows: number;
}

/**
 * The switches that can still be undone, latest first: switched (not rolled back) rebuilds of the projection
 * whose undo log is kept. Locks their rebuild rows for the caller's transaction.
 */
export async function undoableSwitches(client: Session, projection: string): Promise<UndoableSwitch[]> {
  const { rows } = await client.query<{ undo_rows: number }>(
    `SELECT r.*, (SELECT count(*) FROM ${S}.previous_agentk_states p WHERE p.rebuild_id = r.id)::int AS undo_rows
       FROM ${S}.rebuilds r
      WHERE r.projection = $1 AND r.phase = 'switched' AND r.undo_kept
      ORDER BY r.switched_at DESC, r.id DESC
      FOR UPDATE OF r`,
    [projection],
  );
  return rows.map((row) => ({ rebuild: rebuildRowSchema.parse(row), rows: row.undo_rows }));
}

/** Drops what an abandoned rebuild left behind: its shadow rows and every per-projection table (PROJECTION_TABLES). */
export async function discardShadow(client: Session, rebuild: Rebuild): Promise<void> {
  await dropShadowRows(client, rebuild.id);
  // Rows a first install inserted before its switch stay (they are the workspaces' rows); their undo entries go.
  await client.query(`DELETE FROM ${S}.previous_agentk_states WHERE rebuild_id = $1`, [rebuild.id]);
  for (const table of PROJECTION_TABLES) {
    await client.query(`DELETE FROM ${S}.${table} WHERE projection = $1`, [rebuild.shadow_projection]);
  }
}
