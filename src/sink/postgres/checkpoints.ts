/**
 * Kafka checkpoints in PostgreSQL: the next offset to apply per topic partition. They move in the same
 * transaction as the rows, so after any crash the consumer resumes exactly where the table is.
 */
import { statementParams, type Session, type StatementParams } from './database.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

export interface Checkpoint {
  topic: string;
  partition: number;
  /** Next offset to apply, as a decimal string (Kafka offsets are int64). */
  nextOffset: string;
}

/** A topic partition. */
export interface PartitionRef {
  topic: string;
  partition: number;
}

/** Locks and returns the checkpoint of one partition (undefined: never consumed). */
export async function lockCheckpoint(
  client: Session,
  projection: string,
  topic: string,
  partition: number,
): Promise<string | undefined> {
  const param = statementParams();
  const { rows } = await client.query<{ next_offset: string }>(checkpointsForUpdate(param, projection, [{ topic, partition }]), param.values);
  return rows[0]?.next_offset;
}

/**
 * The select that locks these partitions' checkpoints (those that exist: `topic`, `kafka_partition`,
 * `next_offset` as text), as a statement or a part of one.
 */
export function checkpointsForUpdate(param: StatementParams, projection: string, partitions: readonly PartitionRef[]): string {
  return `SELECT c.topic, c.kafka_partition, c.next_offset::text AS next_offset FROM ${BOOKKEEPING_SCHEMA}.checkpoints AS c
      JOIN unnest(${param(partitions.map((p) => p.topic))}::text[], ${param(partitions.map((p) => p.partition))}::int[]) AS asked(topic, kafka_partition)
        ON asked.topic = c.topic AND asked.kafka_partition = c.kafka_partition
      WHERE c.projection = ${param(projection)} FOR UPDATE OF c`;
}

export async function saveCheckpoints(client: Session, projection: string, checkpoints: readonly Checkpoint[]): Promise<void> {
  if (checkpoints.length === 0) return;
  const param = statementParams();
  await client.query(checkpointsUpsert(param, projection, checkpoints), param.values);
}

/** The upsert of these checkpoints as one statement, or a part of a larger one (workspace-states.ts saveFolds). */
export function checkpointsUpsert(param: StatementParams, projection: string, checkpoints: readonly Checkpoint[]): string {
  return `INSERT INTO ${BOOKKEEPING_SCHEMA}.checkpoints (projection, topic, kafka_partition, next_offset)
     SELECT ${param(projection)}, topic, kafka_partition, next_offset
       FROM unnest(${param(checkpoints.map((c) => c.topic))}::text[], ${param(checkpoints.map((c) => c.partition))}::int[],
                   ${param(checkpoints.map((c) => c.nextOffset))}::bigint[]) AS t(topic, kafka_partition, next_offset)
     ON CONFLICT (projection, topic, kafka_partition) DO UPDATE
       SET next_offset = EXCLUDED.next_offset, updated_at = now()`;
}

export async function readCheckpoints(db: Session, projection: string, topics: readonly string[]): Promise<Checkpoint[]> {
  const { rows } = await db.query<{ topic: string; kafka_partition: number; next_offset: string }>(
    `SELECT topic, kafka_partition, next_offset::text AS next_offset FROM ${BOOKKEEPING_SCHEMA}.checkpoints
      WHERE projection = $1 AND topic = ANY($2::text[]) ORDER BY topic, kafka_partition`,
    [projection, [...topics]],
  );
  return rows.map((row) => ({ topic: row.topic, partition: row.kafka_partition, nextOffset: row.next_offset }));
}

/** The topics a projection holds checkpoints on. */
export async function checkpointTopics(db: Session, projection: string): Promise<string[]> {
  const { rows } = await db.query<{ topic: string }>(`SELECT DISTINCT topic FROM ${BOOKKEEPING_SCHEMA}.checkpoints WHERE projection = $1 ORDER BY topic`, [projection]);
  return rows.map((row) => row.topic);
}
