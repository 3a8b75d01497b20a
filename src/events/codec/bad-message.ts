/**
 * Why a message could not be decoded. A bad message is dead-lettered with this and consumption goes on
 * (events.md, "Encodings"), so every failure is a value, never a throw.
 */
import type { z } from 'zod';

export const BAD_MESSAGE_REASONS = [
  /** Byte 0 is neither 0x00 (Confluent Avro) nor the start of a JSON value, or the value is empty. */
  'bad_magic_byte',
  /** Confluent framing with a schema id the catalog does not map. */
  'unknown_schema_id',
  /** The Avro body does not decode with its writer schema (truncated, trailing bytes, unsafe long, …). */
  'avro_decode_failed',
  /** Bytes that are not valid UTF-8 in a JSON value, a key or an Avro string; the detail names the byte position. */
  'invalid_utf8',
  /** A string (or object key) holding U+0000 or a lone surrogate, which PostgreSQL cannot store; `path` names it. */
  'unstorable_text',
  /** Starts like a JSON object but does not parse. */
  'not_json',
  /** Valid JSON that is not an object (array, string, number, …), or a Debezium envelope without one. */
  'not_an_object',
  /** Missing or mistyped fields; `path` names the field. */
  'schema_invalid',
  /** A Debezium `op` other than c, r, u, d (truncate `t`, message `m`). */
  'unsupported_operation',
  /** The key is not a workspace id (decimal string, `{"id": n}` or `{"payload": {"id": n}}`). */
  'bad_key',
  /** A tombstone (or Debezium delete) whose workspace cannot be identified. */
  'missing_key',
  /** The key's workspace id disagrees with the payload's. */
  'key_mismatch',
] as const;
export type BadMessageReason = (typeof BAD_MESSAGE_REASONS)[number];

export type MessageEncoding = 'avro' | 'json' | 'debezium' | 'tombstone';

export interface BadMessage {
  reason: BadMessageReason;
  /** Human-readable, names topic/partition/offset, the reason and (for schema_invalid) the field path. */
  message: string;
  /** The failing field of a schema_invalid, e.g. `workspace.processed_devfile`. */
  path?: string;
  /** When it could be read from the key or the payload. */
  workspaceId?: number;
  /** The detected encoding, when detection got that far. */
  encoding?: MessageEncoding;
  /** The Confluent schema id of an Avro message. */
  schemaId?: number;
  topic: string;
  partition: number;
  offset: string;
}

/** A failure inside one codec, before the message coordinates are attached. */
export interface CodecFailure {
  reason: BadMessageReason;
  detail: string;
  path?: string;
  workspaceId?: number;
  schemaId?: number;
}

export type CodecResult<T> = { ok: true; value: T } | { ok: false; failure: CodecFailure };

/** `workspace.labels["a"]`-style path; numeric segments render as `[n]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

const MAX_LISTED_ISSUES = 5;

/** A zod failure as a schema_invalid; `prefix` locates the parsed value inside the message (e.g. `after`). */
export function schemaInvalid(
  error: z.ZodError,
  prefix: readonly PropertyKey[] = [],
  workspaceId?: number,
): CodecFailure {
  const issues = error.issues.map((issue) => ({ path: formatPath([...prefix, ...issue.path]), message: issue.message }));
  // The first issue's path becomes `path` (printed as "at <path>" by the caller), so its text omits it.
  const listed = issues
    .slice(0, MAX_LISTED_ISSUES)
    .map((issue, index) =>
      index === 0 && issue.path !== '' ? issue.message : `${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`,
    );
  if (issues.length > MAX_LISTED_ISSUES) listed.push(`… ${issues.length - MAX_LISTED_ISSUES} more`);
  const failure: CodecFailure = { reason: 'schema_invalid', detail: listed.join('; ') };
  const first = issues[0];
  if (first !== undefined && first.path !== '') failure.path = first.path;
  if (workspaceId !== undefined) failure.workspaceId = workspaceId;
  return failure;
}
