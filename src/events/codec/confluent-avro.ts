/**
 * Confluent wire format: byte 0 = 0x00, bytes 1–4 = schema id (big-endian int32), then the Avro binary body
 * written with that schema. The writer schema comes from the static catalog (catalog.ts) or a schema
 * registry (registry-catalog.ts). Our events decode into the current reader schema through cached
 * resolvers; this is the hot path, so nothing here builds types.
 */
import type { Resolver, Type } from 'avsc';
import type { CodecResult } from './bad-message.js';
import { errorMessage, findUnstorableText, isObject } from './util.js';

export const CONFLUENT_MAGIC_BYTE = 0x00;
export const CONFLUENT_HEADER_LENGTH = 5;

/** A writer schema, ready to decode with. */
export interface WriterSchema {
  id: number;
  /** Where it came from, for messages: the catalog file, or the registry. */
  origin: string;
  writerType: Type;
  /**
   * `event`: our WorkspaceEvent (same record name as the reader schema), read into the reader schema,
   * through `resolver` when the two differ. `foreign`: read with its own schema; Debezium's Avro converter
   * writes change events and flattened rows this way, and they decode like their JSON form.
   */
  shape: 'event' | 'foreign';
  resolver: Resolver | undefined;
}

/** Writer schemas by id, and the reader schema our events decode into. */
export interface WriterSchemas {
  readerType: Type;
  /** The writer schema of an id, or why there is none (`unknown_schema_id`, or one we cannot read). */
  lookup(id: number): CodecResult<WriterSchema>;
}

export interface AvroDecoded {
  schemaId: number;
  shape: WriterSchema['shape'];
  /** The record; for an event, with `changes` unwrapped to `{column: newValue}` for the shared record schema. */
  record: unknown;
}

/** Whether bytes carry the Confluent header (the value or, from Debezium's Avro converter, the key). */
export function isConfluentFramed(bytes: Buffer | null): bytes is Buffer {
  return bytes !== null && bytes.length >= CONFLUENT_HEADER_LENGTH && bytes[0] === CONFLUENT_MAGIC_BYTE;
}

export function decodeConfluentAvro(value: Buffer, schemas: WriterSchemas): CodecResult<AvroDecoded> {
  if (value.length < CONFLUENT_HEADER_LENGTH) {
    return {
      ok: false,
      failure: { reason: 'avro_decode_failed', detail: `${value.length} bytes, shorter than the 5-byte Confluent header` },
    };
  }
  const schemaId = value.readInt32BE(1);
  const found = schemas.lookup(schemaId);
  if (!found.ok) return { ok: false, failure: { ...found.failure, schemaId } };
  const entry = found.value;
  let decoded: unknown;
  try {
    // fromBuffer also rejects trailing bytes, so a body written with another schema rarely slips through.
    const body = value.subarray(CONFLUENT_HEADER_LENGTH);
    decoded = entry.shape === 'event' ? schemas.readerType.fromBuffer(body, entry.resolver) : entry.writerType.fromBuffer(body);
  } catch (error) {
    return {
      ok: false,
      failure: { reason: 'avro_decode_failed', detail: `schema id ${schemaId} (${entry.origin}): ${errorMessage(error)}`, schemaId },
    };
  }
  // avsc decodes strings lossily (invalid UTF-8 becomes U+FFFD) and lets NUL through: check every string.
  const unstorable = findUnstorableText(decoded, true);
  if (unstorable) return { ok: false, failure: { ...unstorable, schemaId } };
  return { ok: true, value: { schemaId, shape: entry.shape, record: entry.shape === 'event' ? unwrapChanges(decoded) : plainRecords(decoded) } };
}

/** avsc decodes records as instances of classes it generates; the Debezium codecs' zod records take plain objects. */
function plainRecords(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainRecords);
  if (!isObject(value) || Buffer.isBuffer(value)) return value;
  const plain: Record<string, unknown> = {};
  for (const [field, child] of Object.entries(value)) plain[field] = plainRecords(child);
  return plain;
}

/**
 * In Avro, each `changes` column is null (not changed) or a `{value}` wrapper (changed, possibly to null).
 * The shared record schema expects the JSON form: only changed columns present, with their new values.
 */
function unwrapChanges(record: unknown): unknown {
  if (!isObject(record) || !isObject(record.changes)) return record;
  const changes: Record<string, unknown> = {};
  for (const [column, wrapper] of Object.entries(record.changes)) {
    if (isObject(wrapper) && 'value' in wrapper) changes[column] = wrapper.value;
  }
  return { ...record, changes };
}

/** Prefixes an Avro body with the Confluent header. */
export function frameConfluent(schemaId: number, body: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(CONFLUENT_HEADER_LENGTH + body.length);
  framed.writeUInt8(CONFLUENT_MAGIC_BYTE, 0);
  framed.writeInt32BE(schemaId, 1);
  body.copy(framed, CONFLUENT_HEADER_LENGTH);
  return framed;
}
