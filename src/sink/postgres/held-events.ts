/**
 * The sequenced dead-letter queue's held events (`rebuild_projection.held_events`, migration 010): once a
 * workspace's message is bad, its later messages wait here in partition order. Per fold namespace, like the
 * folded states; read and written only under the workspace's fold lock (projection-locks.ts lockFolds); a batch reads which
 * workspaces are held with their folds (workspace-states.ts readBatchFolds).
 */
import type { Session } from './database.js';
import { z } from 'zod';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** A Kafka message as stored: enough to decode it again. */
export interface RawMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
}

export interface HeldEvent {
  workspaceId: number;
  topic: string;
  partition: number;
  offset: string;
  /** Set on a bad message: its bytes live in its dead letter (and here too when it was held good first). */
  deadLetterKey: string | null;
  /** Undefined when the bad message's letter kept no bytes (written before migration 010) or is gone. */
  raw: RawMessage | undefined;
}

const b64 = (buffer: Buffer | null | undefined): string | null => (buffer ? buffer.toString('base64') : null);

/** Holds these events; one already held (a redelivery, a replay) stays as it is. */
export async function holdEvents(client: Session, projection: string, events: readonly HeldEvent[]): Promise<void> {
  if (events.length === 0) return;
  const records = events.map((e) => ({
    workspace_id: e.workspaceId,
    topic: e.topic,
    kafka_partition: e.partition,
    kafka_offset: e.offset,
    dead_letter_key: e.deadLetterKey,
    raw_key: e.deadLetterKey === null ? b64(e.raw?.key) : null,
    raw_value: e.deadLetterKey === null ? b64(e.raw?.value) : null,
    raw_timestamp: e.deadLetterKey === null ? (e.raw?.timestamp ?? null) : null,
  }));
  await client.query(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.held_events
       (projection, workspace_id, topic, kafka_partition, kafka_offset, dead_letter_key, raw_key, raw_value, raw_timestamp)
     SELECT $1, r.workspace_id, r.topic, r.kafka_partition, r.kafka_offset, r.dead_letter_key,
            decode(r.raw_key, 'base64'), decode(r.raw_value, 'base64'), r.raw_timestamp
       FROM jsonb_to_recordset($2::jsonb) AS r(workspace_id bigint, topic text, kafka_partition integer, kafka_offset bigint,
            dead_letter_key text, raw_key text, raw_value text, raw_timestamp text)
     ON CONFLICT DO NOTHING`,
    [projection, JSON.stringify(records)],
  );
}

const heldRowSchema = z.object({
  workspace_id: z.string(),
  topic: z.string(),
  kafka_partition: z.number(),
  kafka_offset: z.string(),
  dead_letter_key: z.string().nullable(),
  raw_available: z.boolean(),
  raw_key: z.instanceof(Buffer).nullable(),
  raw_value: z.instanceof(Buffer).nullable(),
  raw_timestamp: z.string().nullable(),
});

/**
 * A workspace's held events in partition order (topic, partition, offset; across partitions nothing orders
 * them and the fold's versions decide), with each bad message's bytes taken from its letter in `letters`.
 */
export async function readHeldEvents(client: Session, projection: string, letters: string, workspaceId: number): Promise<HeldEvent[]> {
  const { rows } = await client.query(
    `SELECT h.workspace_id::text, h.topic, h.kafka_partition, h.kafka_offset::text, h.dead_letter_key,
            (h.raw_timestamp IS NOT NULL OR coalesce(d.raw_kept, false)) AS raw_available,
            coalesce(h.raw_key, d.raw_key) AS raw_key, coalesce(h.raw_value, d.raw_value) AS raw_value,
            coalesce(h.raw_timestamp, d.raw_timestamp) AS raw_timestamp
       FROM ${BOOKKEEPING_SCHEMA}.held_events AS h
       LEFT JOIN ${BOOKKEEPING_SCHEMA}.dead_letters AS d ON d.projection = $2 AND d.dead_letter_key = h.dead_letter_key
      WHERE h.projection = $1 AND h.workspace_id = $3
      ORDER BY h.topic, h.kafka_partition, h.kafka_offset`,
    [projection, letters, workspaceId],
  );
  return rows.map((raw) => {
    const row = heldRowSchema.parse(raw);
    return {
      workspaceId: Number(row.workspace_id),
      topic: row.topic,
      partition: row.kafka_partition,
      offset: row.kafka_offset,
      deadLetterKey: row.dead_letter_key,
      raw: row.raw_available ? { key: row.raw_key, value: row.raw_value, timestamp: row.raw_timestamp ?? '0' } : undefined,
    };
  });
}

/** Removes released (applied or purged) held events. */
export async function releaseHeldEvents(
  client: Session,
  projection: string,
  events: readonly Pick<HeldEvent, 'topic' | 'partition' | 'offset'>[],
): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `DELETE FROM ${BOOKKEEPING_SCHEMA}.held_events AS h
      USING jsonb_to_recordset($2::jsonb) AS r(topic text, kafka_partition integer, kafka_offset bigint)
      WHERE h.projection = $1 AND h.topic = r.topic AND h.kafka_partition = r.kafka_partition AND h.kafka_offset = r.kafka_offset`,
    [projection, JSON.stringify(events.map((e) => ({ topic: e.topic, kafka_partition: e.partition, kafka_offset: e.offset })))],
  );
}

/** Marks a held event as the bad message of this letter (it no longer decodes with the current code). */
export async function markHeldEventBad(client: Session, projection: string, event: HeldEvent, deadLetterKey: string): Promise<void> {
  await client.query(
    `UPDATE ${BOOKKEEPING_SCHEMA}.held_events SET dead_letter_key = $5
      WHERE projection = $1 AND topic = $2 AND kafka_partition = $3 AND kafka_offset = $4`,
    [projection, event.topic, event.partition, event.offset, deadLetterKey],
  );
}

/** Held events (not counting the bad messages themselves) per workspace, for the listing. */
export async function countHeldEvents(client: Session, projection: string, workspaceIds: readonly number[]): Promise<Map<number, number>> {
  if (workspaceIds.length === 0) return new Map();
  const { rows } = await client.query<{ workspace_id: string; held: number }>(
    `SELECT workspace_id::text, count(*)::int AS held FROM ${BOOKKEEPING_SCHEMA}.held_events
      WHERE projection = $1 AND workspace_id = ANY($2::bigint[]) AND dead_letter_key IS NULL GROUP BY workspace_id`,
    [projection, [...new Set(workspaceIds)]],
  );
  return new Map(rows.map((row) => [Number(row.workspace_id), row.held]));
}
