/**
 * Decodes one Kafka message into a WorkspaceEvent, or says why it is a bad message (events.md). Pure: no
 * Kafka client here. The encoding is detected per message:
 *   null value          → tombstone: delete the key's workspace
 *   byte 0 = 0x00       → Confluent Avro (codec/confluent-avro.ts)
 *   `{`                 → JSON: Debezium (codec/debezium.ts), a row flattened by Debezium's unwrap SMT
 *                         (codec/debezium-unwrap.ts) or our own event (codec/record.ts)
 *   `null` (JSON text)  → the unwrap SMT's tombstone: delete the key's workspace
 *   anything else       → not_an_object if it is some other JSON value, else bad_magic_byte
 */
import { BAD_MESSAGE_REASONS } from './codec/bad-message.js';
import type { BadMessage, BadMessageReason, CodecFailure, CodecResult, MessageEncoding } from './codec/bad-message.js';
import { defaultSchemaCatalog } from './codec/catalog.js';
import type { SchemaCatalog } from './codec/catalog.js';
import { decodeConfluentAvro } from './codec/confluent-avro.js';
import { decodeDebezium } from './codec/debezium.js';
import { decodeDebeziumRow } from './codec/debezium-unwrap.js';
import { classifyJson, detectFormat } from './codec/detect.js';
import { parseJsonObject } from './codec/json.js';
import { parseKey } from './codec/key.js';
import { parseEventRecord } from './codec/record.js';
import type { WorkspaceEvent } from './workspace-event.js';

export { BAD_MESSAGE_REASONS };
export type { BadMessage, BadMessageReason, MessageEncoding };

/** The parts of a Kafka message the decoder reads (KafkaJS's shape, plus the topic and partition). */
export interface WorkspaceMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
}

export type DecodeResult =
  | { ok: true; event: WorkspaceEvent; encoding: MessageEncoding; schemaId?: number }
  | { ok: false; error: BadMessage };

export interface WorkspaceDecoderOptions {
  /** The Avro catalog; defaults to the package's `schemas/catalog.json`. */
  catalog?: SchemaCatalog;
}

export type WorkspaceDecoder = (message: WorkspaceMessage) => DecodeResult;

/** A decoder bound to one catalog (its Avro types and resolvers are built once, when the catalog loads). */
export function createWorkspaceDecoder(options: WorkspaceDecoderOptions = {}): WorkspaceDecoder {
  // Loaded on the first Avro message, so JSON-only deployments never read the catalog.
  let catalog = options.catalog;
  const getCatalog = (): SchemaCatalog => (catalog ??= defaultSchemaCatalog());
  return (message) => decodeWith(message, getCatalog);
}

let defaultDecoder: WorkspaceDecoder | undefined;

/** Decodes with the package's own schema catalog. */
export function decodeWorkspaceMessage(message: WorkspaceMessage): DecodeResult {
  defaultDecoder ??= createWorkspaceDecoder();
  return defaultDecoder(message);
}

function decodeWith(message: WorkspaceMessage, getCatalog: () => SchemaCatalog): DecodeResult {
  const bad = (failure: CodecFailure, encoding?: MessageEncoding, keyId?: number | null): DecodeResult => ({
    ok: false,
    error: badMessage(message, failure, encoding, keyId ?? undefined),
  });

  const key = parseKey(message.key);
  if (!key.ok) return bad(key.failure);
  const keyId = key.value;

  const { value } = message;
  const format = value === null ? undefined : detectFormat(value);
  if (value === null || format === 'json-null') {
    if (keyId === null) return bad({ reason: 'missing_key', detail: 'a tombstone needs the workspace id in its key' }, 'tombstone');
    return { ok: true, event: { type: 'workspace-deleted', workspaceId: keyId, version: null }, encoding: 'tombstone' };
  }

  let encoding: MessageEncoding;
  let decoded: CodecResult<WorkspaceEvent>;
  let schemaId: number | undefined;
  if (format === 'avro') {
    encoding = 'avro';
    const avro = decodeConfluentAvro(value, getCatalog());
    if (!avro.ok) return bad(avro.failure, encoding, keyId);
    schemaId = avro.value.schemaId;
    decoded = parseEventRecord(avro.value.record);
  } else {
    const json = parseJsonObject(value, format === 'json-object');
    if (!json.ok) return bad(json.failure, format === 'json-object' ? 'json' : undefined, keyId);
    const shape = classifyJson(json.value);
    if (!shape.ok) return bad(shape.failure, 'debezium', keyId);
    if (shape.value.kind === 'debezium') {
      encoding = 'debezium';
      decoded = decodeDebezium(shape.value.payload, { ...message, keyWorkspaceId: keyId });
    } else if (shape.value.kind === 'debezium-row') {
      encoding = 'debezium';
      decoded = decodeDebeziumRow(shape.value.row, { ...message, keyWorkspaceId: keyId });
    } else {
      encoding = 'json';
      decoded = parseEventRecord(shape.value.record);
    }
  }
  if (!decoded.ok) {
    return bad(schemaId === undefined ? decoded.failure : { ...decoded.failure, schemaId }, encoding, keyId);
  }

  const event = decoded.value;
  if (keyId !== null && keyId !== event.workspaceId) {
    return bad(
      { reason: 'key_mismatch', detail: `key says workspace ${keyId}, payload says ${event.workspaceId}`, workspaceId: event.workspaceId, ...(schemaId === undefined ? {} : { schemaId }) },
      encoding,
    );
  }
  return schemaId === undefined ? { ok: true, event, encoding } : { ok: true, event, encoding, schemaId };
}

function badMessage(
  message: WorkspaceMessage,
  failure: CodecFailure,
  encoding: MessageEncoding | undefined,
  keyId: number | undefined,
): BadMessage {
  const where = `${message.topic}[${message.partition}]@${message.offset}`;
  const at = failure.path === undefined ? '' : ` at ${failure.path}`;
  const bad: BadMessage = {
    reason: failure.reason,
    message: `${where}: ${failure.reason}${at}: ${failure.detail}`,
    topic: message.topic,
    partition: message.partition,
    offset: message.offset,
  };
  if (failure.path !== undefined) bad.path = failure.path;
  // The payload's id is the more specific; the key's is the fallback (it is what the DLQ is keyed by).
  const workspaceId = failure.workspaceId ?? keyId;
  if (workspaceId !== undefined) bad.workspaceId = workspaceId;
  if (encoding !== undefined) bad.encoding = encoding;
  if (failure.schemaId !== undefined) bad.schemaId = failure.schemaId;
  return bad;
}
