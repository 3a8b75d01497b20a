import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import { EncodeError, encodeAvro } from '../../../src/events/encode.js';
import { EVENT_ID, createdEvent, message, updatedEvent, workspaceRow } from './helpers.js';

const v1Type = avro.Type.forSchema(
  JSON.parse(readFileSync(new URL('../../../schemas/workspace-event.v1.avsc', import.meta.url), 'utf8')) as Schema,
);
const v2Type = avro.Type.forSchema(
  JSON.parse(readFileSync(new URL('../../../schemas/workspace-event.v2.avsc', import.meta.url), 'utf8')) as Schema,
);

function confluent(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.from([0, 0, 0, 0, 0]);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

/** A v2 Avro record of the created fixture, written by hand (timestamps in epoch ms, jsonb as text). */
function v2CreatedRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'workspace-created',
    event_id: EVENT_ID,
    workspace_id: 42,
    version: 1,
    occurred_at: 1740823204500,
    workspace: {
      ...workspaceRow,
      created_at: 1740823200000,
      updated_at: 1740823201000,
      desired_state_updated_at: 1740823202000,
      actual_state_updated_at: 1740823203000,
    },
    changes: null,
    agent_config: null,
    ...overrides,
  };
}

describe('Confluent Avro', () => {
  it('frames the body with the magic byte and the current schema id 2', () => {
    const value = encodeAvro(createdEvent);
    expect([...value.subarray(0, 5)]).toEqual([0, 0, 0, 0, 2]);
  });

  it('round-trips a created event with its agent config through the current schema', () => {
    const result = decodeWorkspaceMessage(message(encodeAvro(createdEvent)));
    expect(result).toEqual({ ok: true, event: createdEvent, encoding: 'avro', schemaId: 2 });
  });

  it('round-trips an updated event, keeping "changed to null" apart from "not changed"', () => {
    const result = decodeWorkspaceMessage(message(encodeAvro(updatedEvent)));
    expect(result).toEqual({ ok: true, event: updatedEvent, encoding: 'avro', schemaId: 2 });
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    expect(Object.keys(result.event.changes).sort()).toEqual(['desired_state', 'responded_to_agent_at', 'url']);
    expect(result.event.changes.url).toBeNull();
    expect('devfile' in result.event.changes).toBe(false);
  });

  it('decodes a record written by hand with the v2 schema, parsing jsonb text into the agent config', () => {
    const record = v2CreatedRecord({
      agent_config: {
        id: 5,
        enabled: true,
        dns_zone: 'workspaces.example.dev',
        labels: '{"env":"dev"}',
        image_pull_secrets: '[{"name":"registry","namespace":"default"}]',
      },
    });
    const result = decodeWorkspaceMessage(message(confluent(2, v2Type.toBuffer(record))));
    if (!result.ok || result.event.type !== 'workspace-created') throw new Error('expected a create');
    expect(result.event.workspace.created_at).toEqual(new Date('2025-03-01T10:00:00.000Z'));
    expect(result.event.agentConfig).toEqual({
      dns_zone: 'workspaces.example.dev',
      annotations: {},
      labels: { env: 'dev' },
      max_resources_per_workspace: {},
      default_resources_per_workspace_container: {},
      shared_namespace: '',
      allow_privilege_escalation: false,
      use_kubernetes_user_namespaces: false,
      default_runtime_class: '',
      image_pull_secrets: [{ name: 'registry', namespace: 'default' }],
      network_policy_enabled: true,
      network_policy_egress: [{ allow: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] }],
      gitlab_workspaces_proxy_namespace: 'gitlab-workspaces',
      gitlab_workspaces_proxy_http_enabled: true,
      gitlab_workspaces_proxy_ssh_enabled: true,
    });
  });

  it('decodes an event written with the v1 schema id into the current reader schema', () => {
    const { actual_state_updated_at: _added, ...v1Workspace } = workspaceRow;
    const body = v1Type.toBuffer({
      type: 'workspace-created',
      event_id: EVENT_ID,
      workspace_id: 42,
      version: 1,
      occurred_at: 1740823204500,
      workspace: { ...v1Workspace, created_at: 1740823200000, updated_at: 1740823201000, desired_state_updated_at: 1740823202000 },
      changes: null,
    });
    const result = decodeWorkspaceMessage(message(confluent(1, body)));
    expect(result).toEqual({
      ok: true,
      encoding: 'avro',
      schemaId: 1,
      event: {
        type: 'workspace-created',
        eventId: EVENT_ID,
        workspaceId: 42,
        version: 1,
        occurredAt: new Date('2025-03-01T10:00:04.500Z'),
        // v1 has no actual_state_updated_at: the reader's default, the column default 1970-01-01.
        workspace: { ...workspaceRow, actual_state_updated_at: new Date(0) },
      },
    });
  });

  it('decodes a v1 update, whose changes record lacks the v2 column', () => {
    const result = decodeWorkspaceMessage(message(encodeAvro(updatedEvent, 1)));
    expect(result).toEqual({ ok: true, event: updatedEvent, encoding: 'avro', schemaId: 1 });
  });

  it('writes with the v1 schema id without the agent config, as an old producer would', () => {
    const result = decodeWorkspaceMessage(message(encodeAvro(createdEvent, 1)));
    if (!result.ok || result.event.type !== 'workspace-created') throw new Error('expected a create');
    expect(result.event.agentConfig).toBeUndefined();
    expect(result.schemaId).toBe(1);
  });

  it('refuses to encode with a schema id the catalog does not know', () => {
    expect(() => encodeAvro(createdEvent, 9)).toThrow(EncodeError);
  });

  it('refuses to encode an event whose values do not fit the schema', () => {
    expect(() => encodeAvro({ ...createdEvent, version: 1.5 })).toThrow(/version/);
  });

  it('reports an unknown schema id with the id and the key workspace', () => {
    const result = decodeWorkspaceMessage(message(confluent(99, Buffer.from([1, 2, 3]))));
    expect(result).toMatchObject({
      ok: false,
      error: { reason: 'unknown_schema_id', schemaId: 99, workspaceId: 42, encoding: 'avro' },
    });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe(
      'workspace-events[3]@17: unknown_schema_id: schema id 99 is not in the catalog (known: 1, 2)',
    );
  });

  it('reports a truncated body as avro_decode_failed', () => {
    const value = encodeAvro(createdEvent).subarray(0, 40);
    expect(decodeWorkspaceMessage(message(value))).toMatchObject({
      ok: false,
      error: { reason: 'avro_decode_failed', schemaId: 2 },
    });
  });

  it('reports trailing bytes after the body as avro_decode_failed', () => {
    const value = Buffer.concat([encodeAvro(updatedEvent), Buffer.from([0, 0])]);
    expect(decodeWorkspaceMessage(message(value))).toMatchObject({ ok: false, error: { reason: 'avro_decode_failed' } });
  });

  it('reports a value shorter than the Confluent header as avro_decode_failed', () => {
    expect(decodeWorkspaceMessage(message(Buffer.from([0, 0, 1])))).toMatchObject({
      ok: false,
      error: { reason: 'avro_decode_failed', message: 'workspace-events[3]@17: avro_decode_failed: 3 bytes, shorter than the 5-byte Confluent header' },
    });
  });

  it('reports an empty workspace name as schema_invalid at workspace.name', () => {
    const record = v2CreatedRecord();
    const value = confluent(2, v2Type.toBuffer({ ...record, workspace: { ...(record.workspace as object), name: '' } }));
    const result = decodeWorkspaceMessage(message(value));
    expect(result).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'workspace.name', workspaceId: 42, schemaId: 2, encoding: 'avro' },
    });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toMatch(/^workspace-events\[3\]@17: schema_invalid at workspace\.name: /);
  });

  it('reports an unknown event type as schema_invalid at type', () => {
    const value = confluent(2, v2Type.toBuffer(v2CreatedRecord({ type: 'workspace-archived' })));
    expect(decodeWorkspaceMessage(message(value))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'type' } });
  });

  it('reports a create whose row id differs from workspace_id as schema_invalid at workspace.id', () => {
    const record = v2CreatedRecord();
    const value = confluent(2, v2Type.toBuffer({ ...record, workspace: { ...(record.workspace as object), id: 43 } }));
    expect(decodeWorkspaceMessage(message(value))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'workspace.id' } });
  });

  it('reports an update that carries no changes record as schema_invalid at changes', () => {
    const value = confluent(2, v2Type.toBuffer(v2CreatedRecord({ type: 'workspace-updated', workspace: null })));
    expect(decodeWorkspaceMessage(message(value))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'changes' } });
  });

  it('reports a key that names another workspace as key_mismatch', () => {
    const result = decodeWorkspaceMessage(message(encodeAvro(createdEvent), '43'));
    expect(result).toMatchObject({ ok: false, error: { reason: 'key_mismatch', workspaceId: 42, schemaId: 2 } });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe('workspace-events[3]@17: key_mismatch: key says workspace 43, payload says 42');
  });
});
