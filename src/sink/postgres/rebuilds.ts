/** The rebuild history (`rebuild_projection.rebuilds`): one row per rebuild, its phase and its progress. */
import { hostname } from 'node:os';
import type pg from 'pg';
import { z } from 'zod';
import { BOOKKEEPING_SCHEMA, PROJECTION_TABLES } from './migrate.js';

const S = BOOKKEEPING_SCHEMA;

export type RebuildSource = 'kafka' | 'snapshot';
export type RebuildPhase = 'building' | 'catching_up' | 'switched' | 'failed' | 'abandoned' | 'rolled_back';

const rebuildRowSchema = z.object({
  id: z.coerce.number(),
  projection: z.string(),
  source: z.enum(['kafka', 'snapshot']),
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
});
export type Rebuild = z.infer<typeof rebuildRowSchema>;

/** The Kafka consumer group a rebuild's shadow consumes in: its own, unique across databases (006). */
export function rebuildGroupId(group: string, rebuild: Rebuild): string {
  return `${group}.rebuild-${rebuild.kafka_group_uuid}`;
}

const parse = (rows: unknown[]): Rebuild[] => rows.map((row) => rebuildRowSchema.parse(row));

/** The unfinished rebuild of a projection, if a previous process died during one. */
export async function findUnfinishedRebuild(db: pg.ClientBase | pg.Pool, projection: string): Promise<Rebuild | undefined> {
  const { rows } = await db.query(`SELECT * FROM ${S}.rebuilds WHERE projection = $1 AND phase IN ('building', 'catching_up')`, [
    projection,
  ]);
  return parse(rows)[0];
}

export async function latestRebuilds(db: pg.ClientBase | pg.Pool, projection: string, limit: number): Promise<Rebuild[]> {
  const { rows } = await db.query(`SELECT * FROM ${S}.rebuilds WHERE projection = $1 ORDER BY id DESC LIMIT $2`, [projection, limit]);
  return parse(rows);
}

export async function startRebuild(db: pg.ClientBase | pg.Pool, projection: string, source: RebuildSource): Promise<Rebuild> {
  const { rows } = await db.query(
    `WITH next AS (SELECT nextval(pg_get_serial_sequence('${S}.rebuilds', 'id')) AS id)
     INSERT INTO ${S}.rebuilds (id, projection, source, shadow_projection, host, pid)
     SELECT next.id, $1, $2, $1 || '@rebuild-' || next.id, $3, $4 FROM next RETURNING *`,
    [projection, source, hostname(), process.pid],
  );
  return parse(rows)[0]!;
}

/** Takes over an unfinished rebuild: this process is now its holder. */
export async function adoptRebuild(db: pg.ClientBase | pg.Pool, id: number): Promise<Rebuild> {
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
  builtAt?: Date;
  switched?: { inserted: number; updated: number; deleted: number };
  error?: string;
}

export async function updateRebuild(db: pg.ClientBase | pg.Pool, id: number, update: RebuildUpdate): Promise<void> {
  await db.query(
    `UPDATE ${S}.rebuilds SET
       phase = coalesce($2, phase),
       snapshot_after_id = coalesce($3, snapshot_after_id),
       snapshot_taken_at = coalesce($4, snapshot_taken_at),
       start_offsets = coalesce($5::jsonb, start_offsets),
       total = coalesce($6, total),
       done = coalesce($7, done),
       built_at = coalesce($8, built_at),
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
    ],
  );
}

/** Drops what an abandoned rebuild left behind: its shadow rows and every per-projection table (PROJECTION_TABLES). */
export async function discardShadow(client: pg.ClientBase, rebuild: Rebuild): Promise<void> {
  await client.query(`DELETE FROM ${S}.shadow_agentk_states WHERE rebuild_id = $1`, [rebuild.id]);
  for (const table of PROJECTION_TABLES) {
    await client.query(`DELETE FROM ${S}.${table} WHERE projection = $1`, [rebuild.shadow_projection]);
  }
}
