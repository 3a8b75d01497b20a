/**
 * The message key: the workspace id. Producers send a decimal string; Debezium's JSON converter sends a
 * struct `{"id": 5}`, or `{"schema": …, "payload": {"id": 5}}` with schemas enabled; its Avro converter
 * the struct in Confluent framing (decoded only with a schema registry, where its schema id lives).
 */
import { z } from 'zod';
import { bigintId } from '../../../projections/agentk-states/inputs.js';
import type { CodecResult } from './bad-message.js';
import { decodeConfluentAvro } from './confluent-avro.js';
import type { WriterSchemas } from './confluent-avro.js';
import { decodeUtf8, errorMessage, findUnstorableText } from './util.js';

const DECIMAL = /^-?\d+$/;

const jsonKey = z.union([
  bigintId,
  z.object({ id: bigintId }).transform((key) => key.id),
  z.object({ payload: z.object({ id: bigintId }) }).transform((key) => key.payload.id),
]);

/** The key's workspace id, null for a null key (nothing to check against). */
export function parseKey(key: Buffer | null): CodecResult<number | null> {
  if (key === null) return { ok: true, value: null };
  const decoded = decodeUtf8(key, 'the key');
  if (!decoded.ok) return decoded;
  const text = decoded.text.trim();
  const unstorable = findUnstorableText(text);
  if (unstorable) return { ok: false, failure: { ...unstorable, path: 'key' } };
  const bad = (why: string): CodecResult<number | null> => ({
    ok: false,
    failure: {
      reason: 'bad_key',
      detail: `key ${JSON.stringify(text.slice(0, 100))} is not a workspace id (decimal string, {"id": n} or {"payload": {"id": n}}): ${why}`,
    },
  });
  // Fast path (every message of a rebuild): the contract's own keys are decimal strings. Same rule as bigintId.
  if (DECIMAL.test(text)) {
    const id = Number(text);
    return Number.isSafeInteger(id) ? { ok: true, value: id } : bad('not a safe integer');
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (error) {
    return bad(errorMessage(error));
  }
  const id = jsonKey.safeParse(json);
  return id.success ? { ok: true, value: id.data } : bad('unexpected shape');
}

/** A Confluent-framed Avro key: the struct `{id}` Debezium's Avro converter writes (or a bare long). */
export function parseAvroKey(key: Buffer, schemas: WriterSchemas): CodecResult<number | null> {
  const decoded = decodeConfluentAvro(key, schemas);
  if (!decoded.ok) return { ok: false, failure: { ...decoded.failure, path: 'key', detail: `the key: ${decoded.failure.detail}` } };
  const id = jsonKey.safeParse(decoded.value.record);
  if (id.success) return { ok: true, value: id.data };
  return { ok: false, failure: { reason: 'bad_key', detail: `Avro key of schema id ${decoded.value.schemaId} is not a workspace id ({id: n} or a long)` } };
}
