/** Which encoding a message value uses, decided per message from its bytes and, for JSON, its shape. */
import type { CodecResult } from './bad-message.js';
import { CONFLUENT_MAGIC_BYTE } from './confluent-avro.js';
import { isObject } from './util.js';
import type { UnknownObject } from './util.js';

export type ValueFormat =
  /** Byte 0 is the Confluent magic byte. */
  | 'avro'
  /** The first non-whitespace byte is `{`. */
  | 'json-object'
  /** The JSON text `null`: Debezium's unwrap SMT writes a delete's tombstone this way. */
  | 'json-null'
  /** Anything else: maybe another JSON value (not an object), maybe garbage. */
  | 'other';

const OPEN_BRACE = 0x7b;

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export function detectFormat(value: Buffer): ValueFormat {
  if (value.length > 0 && value[0] === CONFLUENT_MAGIC_BYTE) return 'avro';
  for (const byte of value) {
    if (isJsonWhitespace(byte)) continue;
    if (byte === OPEN_BRACE) return 'json-object';
    return value.length <= MAX_NULL_TEXT && JSON_NULL.test(value.toString('latin1')) ? 'json-null' : 'other';
  }
  return 'other';
}

/** `null` with JSON whitespace around it; longer values are not worth converting to look. */
const JSON_NULL = /^[ \t\r\n]*null[ \t\r\n]*$/;
const MAX_NULL_TEXT = 64;

export type JsonShape =
  /** Our own JSON event (`type`, `event_id`, …). */
  | { kind: 'native'; record: UnknownObject }
  /** A Debezium change event payload; null for an enveloped null payload (a delete by key). */
  | { kind: 'debezium'; payload: UnknownObject | null }
  /** A row flattened by Debezium's ExtractNewRecordState SMT (codec/debezium-unwrap.ts). */
  | { kind: 'debezium-row'; row: UnknownObject };

/**
 * Native, Debezium, or a flattened row. Our events always have `type`; Debezium payloads have `op` (and
 * `before`/`after`) and never `type`; a flattened row has the `workspaces` columns (`id` among them) and
 * none of `type`, `op`, `before`, `after` (no `workspaces` column has those names). The Kafka Connect JSON
 * converter with schemas enabled wraps the last two as `{schema, payload}`.
 */
export function classifyJson(object: UnknownObject): CodecResult<JsonShape> {
  let body = object;
  if ('payload' in object && !('op' in object) && !('type' in object)) {
    const payload = object.payload;
    if (payload === null) return { ok: true, value: { kind: 'debezium', payload: null } };
    if (!isObject(payload)) {
      return { ok: false, failure: { reason: 'not_an_object', detail: 'the {schema, payload} envelope\'s payload is not an object' } };
    }
    body = payload;
  }
  if ('op' in body || (!('type' in body) && ('before' in body || 'after' in body))) {
    return { ok: true, value: { kind: 'debezium', payload: body } };
  }
  if (!('type' in body) && 'id' in body) return { ok: true, value: { kind: 'debezium-row', row: body } };
  return { ok: true, value: { kind: 'native', record: body } };
}
