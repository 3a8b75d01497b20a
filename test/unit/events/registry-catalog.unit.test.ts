/**
 * Decoding with writer schemas from a schema registry (a scripted WriterSchemaSource standing in for the
 * HTTP client): ids resolved into the reader schema, cached, unknown ids dead-lettered and asked again,
 * Debezium's Avro converter output decoded like its JSON form. The real registry: schema-registry.int.test.ts.
 */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { describe, expect, it } from 'vitest';
import { createWorkspaceDecoder } from '../../../src/events/decode.js';
import { frameConfluent } from '../../../src/events/codec/confluent-avro.js';
import type { WriterSchemaLookup, WriterSchemaSource } from '../../../src/events/codec/schema-registry.js';
import { SchemaRegistryError } from '../../../src/events/codec/schema-registry.js';
import { encodeAvro } from '../../../src/events/encode.js';
import { DEBEZIUM_ENVELOPE_SCHEMA, DEBEZIUM_KEY_SCHEMA, DEBEZIUM_UNWRAPPED_SCHEMA, changeEvent, debeziumColumns, unwrappedRow } from '../../fixtures/debezium/workspaces.js';
import { createdEvent, jsonMessage, message, updatedEvent, workspaceRow } from './helpers.js';

const schemaFile = (version: string) => avro.Type.forSchema(JSON.parse(readFileSync(new URL(`../../../schemas/workspace-event.${version}.avsc`, import.meta.url), 'utf8')) as Schema);
const types: Record<number, Type> = {
  40: schemaFile('v1'),
  41: schemaFile('v2'),
  50: avro.Type.forSchema(DEBEZIUM_KEY_SCHEMA as Schema),
  51: avro.Type.forSchema(DEBEZIUM_ENVELOPE_SCHEMA as Schema),
  52: avro.Type.forSchema(DEBEZIUM_UNWRAPPED_SCHEMA as Schema),
  // Our record's name with a field the reader cannot fill: not readable with the current schema.
  60: avro.Type.forSchema({ type: 'record', name: 'WorkspaceEvent', namespace: 'gitlab.remote_development.workspace_events', fields: [{ name: 'type', type: 'int' }] }),
  61: avro.Type.forSchema({ type: 'record', name: 'Other', fields: [{ name: 'type', type: 'string' }] }),
};

/** Answers from `types`; `missing` ids are not found; counts the fetches. */
function scriptedRegistry(missing = new Set<number>()): WriterSchemaSource & { fetches: number[] } {
  const fetches: number[] = [];
  return {
    description: 'the scripted registry',
    fetches,
    fetch: async (id): Promise<WriterSchemaLookup> => {
      fetches.push(id);
      const type = types[id];
      return type === undefined || missing.has(id) ? { found: false, detail: `schema id ${id} is not in the scripted registry` } : { found: true, type };
    },
  };
}

/** Our event's Avro body under a registry id. */
const reframed = (registryId: number, catalogId: 1 | 2, event: Parameters<typeof encodeAvro>[0]) => frameConfluent(registryId, encodeAvro(event, catalogId).subarray(5));
const avroOf = (id: number, record: unknown) => frameConfluent(id, types[id]!.toBuffer(record));

describe('decoding with a schema registry', () => {
  it("resolves the registry's ids (not the catalog's) into the reader schema, fetching each id once", async () => {
    const source = scriptedRegistry();
    const decode = createWorkspaceDecoder({ registry: source });
    const messages = [message(reframed(41, 2, createdEvent)), message(reframed(40, 1, updatedEvent)), message(reframed(41, 2, createdEvent))];
    await decode.prepare(messages);
    await decode.prepare(messages);
    expect(source.fetches.sort()).toEqual([40, 41]);
    expect(decode(messages[0]!)).toEqual({ ok: true, event: createdEvent, encoding: 'avro', schemaId: 41 });
    expect(decode(messages[1]!)).toEqual({ ok: true, event: updatedEvent, encoding: 'avro', schemaId: 40 });
    // The catalog's id 2 means nothing here.
    const catalogFramed = message(encodeAvro(createdEvent, 2));
    await decode.prepare([catalogFramed]);
    expect(decode(catalogFramed)).toMatchObject({ ok: false, error: { reason: 'unknown_schema_id', schemaId: 2, workspaceId: 42 } });
  });

  it('dead-letters an unknown id naming it and the registry, and asks again on the next prepare', async () => {
    const missing = new Set([41]);
    const source = scriptedRegistry(missing);
    const decode = createWorkspaceDecoder({ registry: source });
    const framed = message(reframed(41, 2, createdEvent));
    await decode.prepare([framed]);
    const result = decode(framed);
    expect(result).toMatchObject({ ok: false, error: { reason: 'unknown_schema_id', schemaId: 41, workspaceId: 42, encoding: 'avro' } });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe('workspace-events[3]@17: unknown_schema_id: schema id 41 is not in the scripted registry');
    missing.clear();
    await decode.prepare([framed]);
    expect(source.fetches).toEqual([41, 41]);
    expect(decode(framed)).toMatchObject({ ok: true, schemaId: 41 });
  });

  it('throws, never dead-letters, when a message is decoded before its id was prepared', () => {
    const decode = createWorkspaceDecoder({ registry: scriptedRegistry() });
    expect(() => decode(message(reframed(41, 2, createdEvent)))).toThrow(/schema id 41 was looked up before the decoder's prepare\(\) fetched it/);
  });

  it("passes the registry's failure on from prepare (retry.ts decides whether to retry)", async () => {
    const failure = new SchemaRegistryError('schema registry did not answer', 'no-answer', undefined);
    const decode = createWorkspaceDecoder({ registry: { description: 'down', fetch: () => Promise.reject(failure) } });
    await expect(decode.prepare([message(reframed(41, 2, createdEvent))])).rejects.toBe(failure);
    // JSON needs no registry.
    await expect(decode.prepare([jsonMessage({})])).resolves.toBeUndefined();
  });

  it("decodes Debezium's Avro envelope with an Avro key exactly like the JSON converter's event", async () => {
    const decode = createWorkspaceDecoder({ registry: scriptedRegistry() });
    const row = workspaceRow;
    for (const change of [changeEvent('r', null, debeziumColumns(row)), changeEvent('u', debeziumColumns(row), { ...debeziumColumns(row), desired_state: 'Stopped' }), changeEvent('d', debeziumColumns(row), null)]) {
      const avroMessage = message(avroOf(51, change), avroOf(50, { id: 42 }));
      await decode.prepare([avroMessage]);
      const json = decode(jsonMessage(change, '{"id":42}'));
      expect(json.ok).toBe(true);
      expect(decode(avroMessage)).toEqual({ ...json, schemaId: 51 });
    }
  });

  it("decodes the unwrap SMT's Avro rows like their JSON form, and checks an Avro key against the row", async () => {
    const decode = createWorkspaceDecoder({ registry: scriptedRegistry() });
    const flattened = unwrappedRow('c', debeziumColumns(workspaceRow));
    const avroMessage = message(avroOf(52, flattened), avroOf(50, { id: 42 }));
    await decode.prepare([avroMessage]);
    expect(decode(avroMessage)).toEqual({ ...decode(jsonMessage(flattened, '{"id":42}')), schemaId: 52 });
    expect(decode(avroMessage)).toMatchObject({ ok: true, event: { type: 'workspace-created', workspace: workspaceRow } });
    const mismatch = message(avroOf(52, flattened), avroOf(50, { id: 41 }));
    expect(decode(mismatch)).toMatchObject({ ok: false, error: { reason: 'key_mismatch', workspaceId: 42 } });
  });

  it('dead-letters a schema named like ours that the reader cannot read, and a foreign record that is not Debezium', async () => {
    const decode = createWorkspaceDecoder({ registry: scriptedRegistry() });
    const incompatible = message(avroOf(60, { type: 3 }));
    const other = message(avroOf(61, { type: 'x' }));
    await decode.prepare([incompatible, other]);
    expect(decode(incompatible)).toMatchObject({ ok: false, error: { reason: 'avro_decode_failed', schemaId: 60 } });
    expect(decode(other)).toMatchObject({ ok: false, error: { reason: 'schema_invalid', schemaId: 61 } });
  });
});
