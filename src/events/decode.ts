/**
 * Decodes one Kafka message into a WorkspaceEvent, or says why it is a bad message (events.md). Pure: no
 * Kafka client here. The encoding is detected per message:
 *   null value          → tombstone: delete the key's workspace
 *   byte 0 = 0x00       → Confluent Avro (codec/confluent-avro.ts): our event, or with a registry also
 *                         Debezium's Avro converter output (decoded like its JSON form)
 *   `{`                 → JSON: Debezium (codec/debezium.ts), a row flattened by Debezium's unwrap SMT
 *                         (codec/debezium-unwrap.ts) or our own event (codec/record.ts)
 *   `null` (JSON text)  → the unwrap SMT's tombstone: delete the key's workspace
 *   anything else       → not_an_object if it is some other JSON value, else bad_magic_byte
 */
import { BAD_MESSAGE_REASONS } from './codec/bad-message.js';
import type { BadMessage, BadMessageReason, CodecFailure, CodecResult, MessageEncoding } from './codec/bad-message.js';
import { catalogWriterSchemas, defaultSchemaCatalog } from './codec/catalog.js';
import type { SchemaCatalog } from './codec/catalog.js';
import { decodeConfluentAvro, isConfluentFramed } from './codec/confluent-avro.js';
import type { WriterSchemas } from './codec/confluent-avro.js';
import { decodeDebezium } from './codec/debezium.js';
import type { DebeziumContext } from './codec/debezium.js';
import { decodeDebeziumRow } from './codec/debezium-unwrap.js';
import { classifyJson, detectFormat } from './codec/detect.js';
import type { JsonShape } from './codec/detect.js';
import { parseJsonObject } from './codec/json.js';
import { parseAvroKey, parseKey } from './codec/key.js';
import { parseEventRecord } from './codec/record.js';
import { RegistryCatalog } from './codec/registry-catalog.js';
import type { WriterSchemaSource } from './codec/schema-registry.js';
import { isObject } from './codec/util.js';
import type { WorkspaceEvent } from '../../projections/agentk-states/events.js';

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
  /**
   * A schema registry: schema ids are then the registry's (its writer schemas are resolved into the catalog's
   * reader schema; the catalog's ids are not used), and Confluent-framed keys (Debezium's Avro converter)
   * decode too.
   */
  registry?: WriterSchemaSource;
}

export interface WorkspaceDecoder {
  (message: WorkspaceMessage): DecodeResult;
  /**
   * Fetches the writer schemas these messages need that are not cached yet, before they are decoded; a
   * no-op without a registry. Rejects with SchemaRegistryError (src/engine/retry.ts decides transient).
   */
  prepare(messages: readonly WorkspaceMessage[]): Promise<void>;
}

/** A decoder bound to one catalog (its Avro types and resolvers are built once, when the catalog loads). */
export function createWorkspaceDecoder(options: WorkspaceDecoderOptions = {}): WorkspaceDecoder {
  // Loaded on the first Avro message, so JSON-only deployments never read the catalog.
  let catalog = options.catalog;
  const getCatalog = (): SchemaCatalog => (catalog ??= defaultSchemaCatalog());
  const source = options.registry;
  if (source === undefined) {
    let schemas: WriterSchemas | undefined;
    const decode = (message: WorkspaceMessage) => decodeWith(message, () => (schemas ??= catalogWriterSchemas(getCatalog())), false);
    return Object.assign(decode, { prepare: () => Promise.resolve() });
  }
  let registry: RegistryCatalog | undefined;
  const getRegistry = (): RegistryCatalog => (registry ??= new RegistryCatalog(getCatalog().readerType, source));
  const decode = (message: WorkspaceMessage) => decodeWith(message, getRegistry, true);
  return Object.assign(decode, { prepare: (messages: readonly WorkspaceMessage[]) => getRegistry().prepare(framedSchemaIds(messages)) });
}

function* framedSchemaIds(messages: readonly WorkspaceMessage[]): Generator<number> {
  for (const { key, value } of messages) {
    if (isConfluentFramed(value)) yield value.readInt32BE(1);
    if (isConfluentFramed(key)) yield key.readInt32BE(1);
  }
}

let defaultDecoder: WorkspaceDecoder | undefined;

/** Decodes with the package's own schema catalog. */
export function decodeWorkspaceMessage(message: WorkspaceMessage): DecodeResult {
  defaultDecoder ??= createWorkspaceDecoder();
  return defaultDecoder(message);
}

function decodeWith(message: WorkspaceMessage, getSchemas: () => WriterSchemas, avroKeys: boolean): DecodeResult {
  const bad = (failure: CodecFailure, encoding?: MessageEncoding, keyId?: number | null): DecodeResult => ({
    ok: false,
    error: badMessage(message, failure, encoding, keyId ?? undefined),
  });

  const key = avroKeys && isConfluentFramed(message.key) ? parseAvroKey(message.key, getSchemas()) : parseKey(message.key);
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
  const context = { ...message, keyWorkspaceId: keyId };
  if (format === 'avro') {
    encoding = 'avro';
    const avro = decodeConfluentAvro(value, getSchemas());
    if (!avro.ok) return bad(avro.failure, encoding, keyId);
    schemaId = avro.value.schemaId;
    if (avro.value.shape === 'event') {
      decoded = parseEventRecord(avro.value.record);
    } else {
      // Debezium's Avro converter: the same change event or flattened row as its JSON converter writes.
      const shape = isObject(avro.value.record) ? classifyJson(avro.value.record) : undefined;
      if (shape?.ok !== true || shape.value.kind === 'native') {
        const name = getSchemas().readerType.name ?? 'the reader schema';
        return bad({ reason: 'schema_invalid', detail: `schema id ${schemaId} is neither ${name} nor a Debezium change event or flattened row`, schemaId }, encoding, keyId);
      }
      encoding = 'debezium';
      decoded = decodeDebeziumShape(shape.value, context);
    }
  } else {
    const json = parseJsonObject(value, format === 'json-object');
    if (!json.ok) return bad(json.failure, format === 'json-object' ? 'json' : undefined, keyId);
    const shape = classifyJson(json.value);
    if (!shape.ok) return bad(shape.failure, 'debezium', keyId);
    if (shape.value.kind === 'native') {
      encoding = 'json';
      decoded = parseEventRecord(shape.value.record);
    } else {
      encoding = 'debezium';
      decoded = decodeDebeziumShape(shape.value, context);
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

function decodeDebeziumShape(shape: Exclude<JsonShape, { kind: 'native' }>, context: DebeziumContext): CodecResult<WorkspaceEvent> {
  return shape.kind === 'debezium' ? decodeDebezium(shape.payload, context) : decodeDebeziumRow(shape.row, context);
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
