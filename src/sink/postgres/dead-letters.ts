/**
 * The dead-letter table (`rebuild_projection.dead_letters`): what could not be projected, and why. One row
 * per failing workspace (or per undecodable message when no workspace can be named); a repeat failure bumps
 * `attempts`/`last_seen_at`, a later success for the workspace clears it. Set-based: one round trip per batch.
 */
import type { Session } from './database.js';
import { z } from 'zod';
import type { RawMessage } from './held-events.js';
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
  /** A bad message's whole key and value, so that --retry-dead-letters can decode it again. */
  raw?: RawMessage | undefined;
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

/** The key of a bad message's letter: its position. */
export function messageLetterKey(position: { topic: string; partition: number; offset: string }): string {
  return `message:${storableText(position.topic)}:${position.partition}:${position.offset}`;
}

/** A bad message is its own letter (keyed by position); a workspace that fails generation is one letter. */
function deadLetterKey(letter: DeadLetter): string {
  if (letter.kafka && letter.badMessage) return messageLetterKey(letter.kafka);
  if (letter.workspaceId !== undefined) return `workspace:${letter.workspaceId}`;
  throw new Error('a dead letter needs a workspace id or a Kafka position');
}

export async function recordDeadLetters(
  client: Session,
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
    raw_kept: letter.raw !== undefined,
    raw_key: letter.raw?.key?.toString('base64') ?? null,
    raw_value: letter.raw?.value?.toString('base64') ?? null,
    raw_timestamp: letter.raw?.timestamp ?? null,
  }));
  await client.query(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.dead_letters AS d
       (projection, dead_letter_key, workspace_id, source, topic, kafka_partition, kafka_offset, message_key,
        error_kind, error_path, message, input_excerpt, raw_kept, raw_key, raw_value, raw_timestamp)
     SELECT $1, r.dead_letter_key, r.workspace_id, r.source, r.topic, r.kafka_partition, r.kafka_offset, r.message_key,
            r.error_kind, r.error_path, r.message, r.input_excerpt,
            r.raw_kept, decode(r.raw_key, 'base64'), decode(r.raw_value, 'base64'), r.raw_timestamp
       FROM jsonb_to_recordset($2::jsonb) AS r(
         dead_letter_key text, workspace_id bigint, source text, topic text, kafka_partition integer,
         kafka_offset bigint, message_key text, error_kind text, error_path text, message text, input_excerpt text,
         raw_kept boolean, raw_key text, raw_value text, raw_timestamp text)
     ORDER BY r.dead_letter_key
     ON CONFLICT (projection, dead_letter_key) DO UPDATE SET
       source = EXCLUDED.source, topic = EXCLUDED.topic, kafka_partition = EXCLUDED.kafka_partition,
       kafka_offset = EXCLUDED.kafka_offset, message_key = EXCLUDED.message_key, error_kind = EXCLUDED.error_kind,
       error_path = EXCLUDED.error_path, message = EXCLUDED.message, input_excerpt = EXCLUDED.input_excerpt,
       -- A letter that kept its bytes keeps them (a retry of an old letter has none to give).
       raw_kept = d.raw_kept OR EXCLUDED.raw_kept,
       raw_key = CASE WHEN EXCLUDED.raw_kept THEN EXCLUDED.raw_key ELSE d.raw_key END,
       raw_value = CASE WHEN EXCLUDED.raw_kept THEN EXCLUDED.raw_value ELSE d.raw_value END,
       raw_timestamp = CASE WHEN EXCLUDED.raw_kept THEN EXCLUDED.raw_timestamp ELSE d.raw_timestamp END,
       last_seen_at = now(), attempts = d.attempts + 1`,
    [projection, JSON.stringify(records)],
  );
}

/**
 * Clears the generation failures of workspaces that have now been projected successfully. Letters of bad
 * Kafka messages stay: a later good event does not make the bad message any less lost.
 */
export async function clearDeadLetters(
  client: Session,
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

/** A workspace's letter as `--explain` shows it (its Kafka position whatever its kind). */
export type WorkspaceDeadLetter = z.output<typeof storedDeadLetterSchema>;

/** A workspace's dead letters, newest first: at most `limit` of them, and how many there are (`--explain`). */
export async function readWorkspaceDeadLetters(
  client: Session,
  projection: string,
  workspaceId: number,
  limit: number,
): Promise<{ letters: WorkspaceDeadLetter[]; total: number }> {
  const { rows } = await client.query(
    `SELECT error_kind, error_path, message, source, topic, kafka_partition, kafka_offset::text, attempts, first_seen_at, last_seen_at,
            count(*) OVER ()::int AS total
       FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1 AND workspace_id = $2 ORDER BY last_seen_at DESC, id DESC LIMIT $3`,
    [projection, workspaceId, limit],
  );
  return { letters: rows.map((row) => storedDeadLetterSchema.parse(row)), total: z.number().optional().parse(rows[0]?.total) ?? 0 };
}

export async function countDeadLetters(client: Session, projection: string): Promise<number> {
  const { rows } = await client.query<{ count: string }>(
    `SELECT count(*)::text AS count FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1`,
    [projection],
  );
  return Number(rows[0]?.count ?? 0);
}

/** Which letters a listing, retry or purge works on; every field narrows (AND). */
export interface DeadLetterFilter {
  reason?: string | undefined;
  workspaceId?: number | undefined;
  source?: string | undefined;
  /** First seen at least this many seconds ago. */
  olderThanSeconds?: number | undefined;
  /** First seen at or after this time. */
  since?: Date | undefined;
}

const FILTER_SQL = `projection = $1 AND ($2::text IS NULL OR error_kind = $2) AND ($3::bigint IS NULL OR workspace_id = $3)
  AND ($4::text IS NULL OR source = $4) AND ($5::float8 IS NULL OR first_seen_at <= now() - make_interval(secs => $5))
  AND ($6::timestamptz IS NULL OR first_seen_at >= $6)`;

const filterParams = (projection: string, f: DeadLetterFilter) => [
  projection, f.reason ?? null, f.workspaceId ?? null, f.source ?? null, f.olderThanSeconds ?? null, f.since?.toISOString() ?? null,
];

export interface StoredDeadLetter {
  key: string;
  workspaceId: number | undefined;
  source: string;
  /** Set on a bad message's letter. */
  kafka: { topic: string; partition: number; offset: string } | undefined;
  errorKind: string;
  errorPath: string | undefined;
  message: string;
  attempts: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  /** A bad message's bytes; undefined for a workspace's letter or one written before migration 010. */
  raw: RawMessage | undefined;
}

const storedSchema = z.object({
  dead_letter_key: z.string(),
  workspace_id: z.string().nullable(),
  source: z.string(),
  topic: z.string().nullable(),
  kafka_partition: z.number().nullable(),
  kafka_offset: z.string().nullable(),
  error_kind: z.string(),
  error_path: z.string().nullable(),
  message: z.string(),
  attempts: z.number(),
  first_seen_at: z.date(),
  last_seen_at: z.date(),
  raw_kept: z.boolean(),
  raw_key: z.instanceof(Buffer).nullable(),
  raw_value: z.instanceof(Buffer).nullable(),
  raw_timestamp: z.string().nullable(),
});

const STORED_COLUMNS = `dead_letter_key, workspace_id::text, source, topic, kafka_partition, kafka_offset::text, error_kind, error_path,
  message, attempts, first_seen_at, last_seen_at, raw_kept`;

function toStored(raw: unknown): StoredDeadLetter {
  const r = storedSchema.parse(raw);
  const isMessage = r.dead_letter_key.startsWith('message:') && r.topic !== null && r.kafka_partition !== null && r.kafka_offset !== null;
  return {
    key: r.dead_letter_key,
    workspaceId: r.workspace_id === null ? undefined : Number(r.workspace_id),
    source: r.source,
    kafka: isMessage ? { topic: r.topic!, partition: r.kafka_partition!, offset: r.kafka_offset! } : undefined,
    errorKind: r.error_kind,
    errorPath: r.error_path ?? undefined,
    message: r.message,
    attempts: r.attempts,
    firstSeenAt: r.first_seen_at,
    lastSeenAt: r.last_seen_at,
    raw: r.raw_kept ? { key: r.raw_key, value: r.raw_value, timestamp: r.raw_timestamp ?? '0' } : undefined,
  };
}

/** The matching letters in position order (workspace letters by workspace id after them), bytes included. */
export async function selectDeadLetters(
  client: Session,
  projection: string,
  filter: DeadLetterFilter,
  limit?: number,
): Promise<StoredDeadLetter[]> {
  const params = filterParams(projection, filter);
  const { rows } = await client.query(
    `SELECT ${STORED_COLUMNS}, raw_key, raw_value, raw_timestamp FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE ${FILTER_SQL}
      ORDER BY topic NULLS LAST, kafka_partition, kafka_offset, workspace_id, dead_letter_key
      ${limit === undefined ? '' : `LIMIT $${params.length + 1}`}`,
    limit === undefined ? params : [...params, limit],
  );
  return rows.map(toStored);
}

export interface ReasonCount {
  reason: string;
  count: number;
  /** The most recent letter's message. */
  example: string;
}

/** Counts of the matching letters by reason, largest first, each with its latest message. */
export async function countDeadLettersByReason(client: Session, projection: string, filter: DeadLetterFilter): Promise<ReasonCount[]> {
  const { rows } = await client.query(
    `SELECT error_kind AS reason, count(*)::int AS count, (array_agg(message ORDER BY last_seen_at DESC, id DESC))[1] AS example
       FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE ${FILTER_SQL} GROUP BY error_kind ORDER BY count(*) DESC, error_kind`,
    filterParams(projection, filter),
  );
  return z.array(z.object({ reason: z.string(), count: z.number(), example: z.string() })).parse(rows);
}

/** Deletes these letters (by key). */
export async function deleteDeadLetters(client: Session, projection: string, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return 0;
  const { rowCount } = await client.query(
    `DELETE FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1 AND dead_letter_key = ANY($2::text[])`,
    [projection, [...keys]],
  );
  return rowCount ?? 0;
}

/** Which of these letters exist. */
export async function existingDeadLetterKeys(client: Session, projection: string, keys: readonly string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(
    `SELECT dead_letter_key AS key FROM ${BOOKKEEPING_SCHEMA}.dead_letters WHERE projection = $1 AND dead_letter_key = ANY($2::text[])`,
    [projection, [...keys]],
  );
  return new Set(rows.map((row) => row.key));
}

/** Another attempt that failed the same way: attempts + 1, last_seen_at now. */
export async function touchDeadLetters(client: Session, projection: string, keys: readonly string[]): Promise<void> {
  await client.query(
    `UPDATE ${BOOKKEEPING_SCHEMA}.dead_letters SET attempts = attempts + 1, last_seen_at = now() WHERE projection = $1 AND dead_letter_key = ANY($2::text[])`,
    [projection, [...keys]],
  );
}

/** Whether the dead-letter tables are at migration 010 (the read-only listing runs no migration). */
export async function deadLetterTablesReady(client: Session): Promise<boolean> {
  const { rows } = await client.query<{ ready: boolean }>(`SELECT to_regclass('${BOOKKEEPING_SCHEMA}.held_events') IS NOT NULL AS ready`);
  return rows[0]?.ready === true;
}
