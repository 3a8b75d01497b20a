import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import { encodeJson } from '../../../src/events/encode.js';
import { DEVFILE, EVENT_ID, createdEvent, jsonMessage, message, updatedEvent, workspaceRow } from './helpers.js';

/** A created event as a JSON producer would write it by hand. */
function createdJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'workspace-created',
    event_id: EVENT_ID,
    workspace_id: 42,
    version: 1,
    occurred_at: '2025-03-01T10:00:04.500Z',
    workspace: {
      id: 42,
      created_at: '2025-03-01T10:00:00Z',
      updated_at: '2025-03-01T10:00:01.000Z',
      user_id: 7,
      project_id: '300',
      cluster_agent_id: 11,
      desired_state_updated_at: '2025-03-01T11:00:02+01:00',
      name: 'workspace-11-7-abcdef',
      namespace: 'gl-rd-ns-11-7-abcdef',
      desired_state: 'Running',
      actual_state: 'CreationRequested',
      devfile_path: '.devfile.yaml',
      devfile: DEVFILE,
      processed_devfile: DEVFILE,
      personal_access_token_id: 99,
      url_prefix: '60001-workspace-11-7-abcdef',
      url_query_string: 'folder=dir%2Ffile',
      workspaces_agent_config_version: 0,
      desired_config_generator_version: 3,
      project_ref: 'main',
      actual_state_updated_at: '2025-03-01T10:00:03.000Z',
    },
    ...overrides,
  };
}

function updatedJson(changes: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'workspace-updated',
    event_id: EVENT_ID,
    workspace_id: 42,
    version: 2,
    occurred_at: '2025-03-01T11:00:00.000Z',
    changes,
    ...overrides,
  };
}

describe('JSON events', () => {
  it('round-trips a created event with its agent config', () => {
    expect(decodeWorkspaceMessage(message(encodeJson(createdEvent)))).toEqual({ ok: true, event: createdEvent, encoding: 'json' });
  });

  it('round-trips an updated event, a column changed to null included', () => {
    const value = encodeJson(updatedEvent);
    expect(JSON.parse(value.toString())).toMatchObject({
      changes: { desired_state: 'Stopped', url: null, responded_to_agent_at: '2025-03-01T10:59:59.000Z' },
    });
    expect(decodeWorkspaceMessage(message(value))).toEqual({ ok: true, event: updatedEvent, encoding: 'json' });
  });

  it('reads omitted nullable columns as null and omitted defaulted columns as their database default', () => {
    const result = decodeWorkspaceMessage(jsonMessage(createdJson()));
    expect(result).toEqual({
      ok: true,
      encoding: 'json',
      event: {
        type: 'workspace-created',
        eventId: EVENT_ID,
        workspaceId: 42,
        version: 1,
        occurredAt: new Date('2025-03-01T10:00:04.500Z'),
        // url, deployment_resource_version and responded_to_agent_at are omitted (null);
        // force_include_all_resources is omitted (default true); the +01:00 offset is honoured.
        workspace: workspaceRow,
      },
    });
  });

  it('accepts jsonb agent-config columns as JSON text and drops the columns the generator does not read', () => {
    const result = decodeWorkspaceMessage(
      jsonMessage(
        createdJson({
          agent_config: { id: 5, enabled: true, workspaces_quota: -1, dns_zone: 'ws.example.dev', labels: '{"env":"dev"}', annotations: { a: 'b' } },
        }),
      ),
    );
    if (!result.ok || result.event.type !== 'workspace-created') throw new Error('expected a create');
    expect(result.event.agentConfig).toMatchObject({ dns_zone: 'ws.example.dev', labels: { env: 'dev' }, annotations: { a: 'b' }, image_pull_secrets: [] });
    expect(result.event.agentConfig).not.toHaveProperty('id');
  });

  it('leaves unchanged columns out of the changes', () => {
    const result = decodeWorkspaceMessage(jsonMessage(updatedJson({ actual_state: 'Running', devfile: null })));
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    expect(result.event.changes).toEqual({ actual_state: 'Running', devfile: null });
    expect(Object.keys(result.event.changes)).toEqual(['actual_state', 'devfile']);
  });

  it('reports a processed_devfile that is not a string as schema_invalid at workspace.processed_devfile', () => {
    const json = createdJson();
    const result = decodeWorkspaceMessage(jsonMessage({ ...json, workspace: { ...(json.workspace as object), processed_devfile: 5 } }));
    expect(result).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'workspace.processed_devfile', workspaceId: 42, encoding: 'json', topic: 'workspace-events', partition: 3, offset: '17' },
    });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe(
      'workspace-events[3]@17: schema_invalid at workspace.processed_devfile: Invalid input: expected string, received number',
    );
  });

  it('reports a missing event_id as schema_invalid at event_id', () => {
    const { event_id: _dropped, ...json } = createdJson();
    expect(decodeWorkspaceMessage(jsonMessage(json))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'event_id' } });
  });

  it('reports an occurred_at that is not a timestamp as schema_invalid at occurred_at', () => {
    expect(decodeWorkspaceMessage(jsonMessage(createdJson({ occurred_at: 'yesterday' })))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'occurred_at' },
    });
  });

  it('reports version 0 as schema_invalid at version', () => {
    expect(decodeWorkspaceMessage(jsonMessage(createdJson({ version: 0 })))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'version' },
    });
  });

  it('reports a NOT NULL column changed to null as schema_invalid at changes.name', () => {
    expect(decodeWorkspaceMessage(jsonMessage(updatedJson({ name: null })))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'changes.name' },
    });
  });

  it('reports agent-config jsonb text that does not parse as schema_invalid at agent_config.labels', () => {
    const value = createdJson({ agent_config: { dns_zone: 'ws.example.dev', labels: '{"env":' } });
    expect(decodeWorkspaceMessage(jsonMessage(value))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'agent_config.labels' },
    });
  });

  it('reports an update that carries an agent config as schema_invalid at agent_config', () => {
    const value = updatedJson({ name: 'x' }, { agent_config: { dns_zone: 'ws.example.dev' } });
    expect(decodeWorkspaceMessage(jsonMessage(value))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'agent_config' } });
  });

  it('reports broken JSON that starts with a brace as not_json', () => {
    expect(decodeWorkspaceMessage(message('{"type": "workspace-created",'))).toMatchObject({
      ok: false,
      error: { reason: 'not_json', workspaceId: 42, encoding: 'json' },
    });
  });

  it('reports a JSON array, string or number as not_an_object', () => {
    for (const value of ['[{"type":"workspace-created"}]', '"workspace-created"', ' 42']) {
      expect(decodeWorkspaceMessage(message(value))).toMatchObject({ ok: false, error: { reason: 'not_an_object' } });
    }
  });

  it('reports bytes that are neither Avro nor JSON, and an empty value, as bad_magic_byte', () => {
    expect(decodeWorkspaceMessage(message(Buffer.from([0x0a, 0x05, 0xff])))).toMatchObject({
      ok: false,
      error: { reason: 'bad_magic_byte', message: 'workspace-events[3]@17: bad_magic_byte: byte 0 = 0x0a: neither Confluent Avro (0x00) nor JSON' },
    });
    expect(decodeWorkspaceMessage(message(Buffer.alloc(0)))).toMatchObject({ ok: false, error: { reason: 'bad_magic_byte' } });
  });

  it('reports a key that names another workspace as key_mismatch', () => {
    expect(decodeWorkspaceMessage(message(encodeJson(updatedEvent), '7'))).toMatchObject({
      ok: false,
      error: { reason: 'key_mismatch', workspaceId: 42, encoding: 'json' },
    });
  });
});
