/**
 * The dead-letter table (`rebuild_projection.dead_letters`): what could not be projected, and why. One row
 * per failing workspace (or per undecodable message when no workspace can be named); a repeat failure bumps
 * `attempts`/`last_seen_at`, a later success for the workspace clears it. Set-based: one round trip per batch.
 */
import type pg from 'pg';
import { z } from 'zod';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** Inputs are stored as a bounded excerpt: enough to diagnose, never a copy of a 64 KB devfile per retry. */
export const INPUT_EXCERPT_MAX_CHARS = 2_048;

export interface DeadLetter {
  workspaceId: number | undefined;
  /** 'snapshot' or 'kafka'. */
  source: string;
  kafka?: { topic: string; partition: number; offset: string; key: string | null } | undefined;
  /** True for a message that could not be decoded (as opposed to a workspace that failed generation). */
  badMessage?: boolean | undefined;
  errorKind: string;
  errorPath: string | undefined;
  message: string;
  inputExcerpt: string | undefined;
}

export function excerpt(text: string | null | undefined): string | undefined {
  if (text === null || text === undefined) return undefined;
  return text.length <= INPUT_EXCERPT_MAX_CHARS
    ? text
    : `${text.slice(0, INPUT_EXCERPT_MAX_CHARS)}… (${text.length - INPUT_EXCERPT_MAX_CHARS} more characters)`;
}

/**
 * Text PostgreSQL can store: `text` rejects NUL and `jsonb` (our recordset parameter) also rejects lone
 * surrogates, and one such character in a bad message's key or excerpt would fail the whole batch's
 * transaction. They are written as `\u0000`-style escapes instead.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableText(text: string): string;
export function storableText(text: string | null): string | null;
export function storableText(text: string | null): string | null {
  return text === null ? null : text.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A bad message is its own letter (keyed by position); a workspace that fails generation is one letter. */
function deadLetterKey(letter: DeadLetter): string {
  if (letter.kafka && letter.badMessage) return `message:${storableText(letter.kafka.topic)}:${letter.kafka.partition}:${letter.kafka.offset}`;
  if (letter.workspaceId !== undefined) return `workspace:${letter.workspaceId}`;
  throw new Error('a dead letter needs a workspace id or a Kafka position');
}

export async function recordDeadLetters(
  client: pg.ClientBase,
  projection: string,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  // Last one wins when a batch fails the same workspace twice (ON CONFLICT may touch a row only once).
  const byKey = new Map(letters.map((letter) => [deadLetterKey(letter), letter]));
  const records = [...byKey].map(([key, letter]) => ({
    dead_letter_key: key,
    workspace_id: letter.workspaceId ?? null,
    source: letter.source,
    topic: storableText(letter.kafka?.topic ?? null),
    kafka_partition: letter.kafka?.partition ?? null,
    kafka_offset: letter.kafka?.offset ?? null,
    message_key: storableText(letter.kafka?.key ?? null),
    error_kind: letter.errorKind,
    error_path: storableText(letter.errorPath ?? null),
    message: storableText(letter.message),
    input_excerpt: storableText(excerpt(letter.inputExcerpt) ?? null),
  }));
  await client.query(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.dead_letters AS d
       (projection, dead_letter_key, workspace_id, source, topic, kafka_partition, kafka_offset, message_key,
        error_kind, error_path, message, input_excerpt)
     SELECT $1, r.dead_letter_key, r.workspace_id, r.source, r.topic, r.kafka_partition, r.kafka_offset, r.message_key,
            r.error_kind, r.error_path, r.message, r.input_excerpt
       FROM jsonb_to_recordset($2::jsonb) AS r(
         dead_letter_key text, workspace_id bigint, source text, topic text, kafka_partition integer,
         kafka_offset bigint, message_key text, error_kind text, error_path text, message text, input_excerpt text)
     ORDER BY r.dead_letter_key
     ON CONFLICT (projection, dead_letter_key) DO UPDATE SET
       source = EXCLUDED.source, topic = EXCLUDED.topic, kafka_partition = EXCLUDED.kafka_partition,
       kafka_offset = EXCLUDED.kafka_offset, message_key = EXCLUDED.message_key, error_kind = EXCLUDED.error_kind,
       error_path = EXCLUDED.error_path, message = EXCLUDED.message, input_excerpt = EXCLUDED.input_excerpt,
       last_seen_at = now(), attempts = d.attempts + 1`,
    [projection, JSON.stringify(records)],
  );
}

/**
 * Clears the generation failures of workspaces that have now been projected successfully. Letters of bad
 * Kafka messages stay: a later good event does not make the bad message any less lost.
 */
export async function clearDeadLetters(
  client: pg.ClientBase,
  projection: string,
  workspaceIds: readonly number[],
): Promise<number> {
  if (workspaceIds.length === 0) return 0;
  const { rowCount } = await client.query(
    `DELETE FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1 AND dead_letter_key = ANY($2::text[])`,
    [projection, workspaceIds.map((id) => `workspace:${id}`)],
  );
  return rowCount ?? 0;
}

const storedDeadLetterSchema = z
  .object({
    error_kind: z.string(),
    error_path: z.string().nullable(),
    message: z.string(),
    source: z.string(),
    topic: z.string().nullable(),
    kafka_partition: z.number().nullable(),
    kafka_offset: z.string().nullable(),
    attempts: z.number(),
    first_seen_at: z.date(),
    last_seen_at: z.date(),
  })
  .transform((row) => ({
    errorKind: row.error_kind,
    errorPath: row.error_path,
    message: row.message,
    source: row.source,
    /** Where the bad message, or the failed workspace's latest event, was read (Kafka). */
    kafka:
      row.topic === null || row.kafka_partition === null || row.kafka_offset === null
        ? null
        : { topic: row.topic, partition: row.kafka_partition, offset: row.kafka_offset },
    attempts: row.attempts,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
  }));

export type StoredDeadLetter = z.output<typeof storedDeadLetterSchema>;

/** A workspace's dead letters, newest first: at most `limit` of them, and how many there are (`--explain`). */
export async function readWorkspaceDeadLetters(
  client: pg.ClientBase,
  projection: string,
  workspaceId: number,
  limit: number,
): Promise<{ letters: StoredDeadLetter[]; total: number }> {
  const { rows } = await client.query(
    `SELECT error_kind, error_path, message, source, topic, kafka_partition, kafka_offset::text, attempts, first_seen_at, last_seen_at,
            count(*) OVER ()::int AS total
       FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1 AND workspace_id = $2 ORDER BY last_seen_at DESC, id DESC LIMIT $3`,
    [projection, workspaceId, limit],
  );
  return { letters: rows.map((row) => storedDeadLetterSchema.parse(row)), total: z.number().optional().parse(rows[0]?.total) ?? 0 };
}

export async function countDeadLetters(client: pg.ClientBase | pg.Pool, projection: string): Promise<number> {
  const { rows } = await client.query<{ count: string }>(
    `SELECT count(*)::text AS count FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1`,
    [projection],
  );
  return Number(rows[0]?.count ?? 0);
}
