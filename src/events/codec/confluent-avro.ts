/**
 * Confluent wire format: byte 0 = 0x00, bytes 1–4 = schema id (big-endian int32), then the Avro binary body
 * written with that schema. Bodies decode into the current reader schema through the catalog's cached
 * resolvers; this is the hot path, so nothing here builds types.
 */
import type { CodecResult } from './bad-message.js';
import type { SchemaCatalog } from './catalog.js';
import { errorMessage, findUnstorableText, isObject } from './util.js';

export const CONFLUENT_MAGIC_BYTE = 0x00;
export const CONFLUENT_HEADER_LENGTH = 5;

export interface AvroDecoded {
  schemaId: number;
  /** The event record, with `changes` unwrapped to `{column: newValue}` for the shared record schema. */
  record: unknown;
}

export function decodeConfluentAvro(value: Buffer, catalog: SchemaCatalog): CodecResult<AvroDecoded> {
  if (value.length < CONFLUENT_HEADER_LENGTH) {
    return {
      ok: false,
      failure: { reason: 'avro_decode_failed', detail: `${value.length} bytes, shorter than the 5-byte Confluent header` },
    };
  }
  const schemaId = value.readInt32BE(1);
  const entry = catalog.entries.get(schemaId);
  if (entry === undefined) {
    const known = [...catalog.entries.keys()].join(', ');
    return { ok: false, failure: { reason: 'unknown_schema_id', detail: `schema id ${schemaId} is not in the catalog (known: ${known})`, schemaId } };
  }
  let decoded: unknown;
  try {
    // fromBuffer also rejects trailing bytes, so a body written with another schema rarely slips through.
    decoded = catalog.readerType.fromBuffer(value.subarray(CONFLUENT_HEADER_LENGTH), entry.resolver);
  } catch (error) {
    return {
      ok: false,
      failure: { reason: 'avro_decode_failed', detail: `schema id ${schemaId} (${entry.file}): ${errorMessage(error)}`, schemaId },
    };
  }
  // avsc decodes strings lossily (invalid UTF-8 becomes U+FFFD) and lets NUL through: check every string.
  const unstorable = findUnstorableText(decoded, true);
  if (unstorable) return { ok: false, failure: { ...unstorable, schemaId } };
  return { ok: true, value: { schemaId, record: unwrapChanges(decoded) } };
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
