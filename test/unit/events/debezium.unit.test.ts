import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import { DEBEZIUM_UNAVAILABLE_VALUE } from '../../../src/events/codec/debezium.js';
import { debeziumRow as row, jsonMessage, workspaceRow } from './helpers.js';

const source = { connector: 'postgresql', db: 'gitlabhq_production', schema: 'public', table: 'workspaces', lsn: 33816576, ts_ms: 1740823204500 };

function change(op: string, before: object | null, after: object | null, src: object = source): Record<string, unknown> {
  return { before, after, source: src, op, ts_ms: 1740823209999, transaction: null };
}

describe('Debezium change events', () => {
  it('turns op c without an envelope into a create versioned by the source LSN', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('c', null, row), '{"id":42}'))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: {
        type: 'workspace-created',
        eventId: 'workspace-events/3@17',
        workspaceId: 42,
        version: 33816576,
        occurredAt: new Date('2025-03-01T10:00:04.500Z'),
        workspace: workspaceRow,
      },
    });
  });

  it('turns a snapshot read (op r) inside the {schema, payload} envelope into a create', () => {
    const value = { schema: { type: 'struct', name: 'gitlab.public.workspaces.Envelope' }, payload: change('r', null, row) };
    const key = JSON.stringify({ schema: { type: 'struct' }, payload: { id: 42 } });
    const result = decodeWorkspaceMessage(jsonMessage(value, key));
    expect(result).toMatchObject({ ok: true, encoding: 'debezium', event: { type: 'workspace-created', workspaceId: 42, version: 33816576 } });
  });

  it('versions a change by the Kafka offset when the source has no LSN', () => {
    const result = decodeWorkspaceMessage(jsonMessage(change('c', null, row, { table: 'workspaces', ts_ms: 1740823204500 }), '42', '123'));
    expect(result).toMatchObject({ ok: true, event: { version: 123, eventId: 'workspace-events/3@123' } });
  });

  it('falls back to the envelope ts_ms for occurredAt when the source has none', () => {
    const result = decodeWorkspaceMessage(jsonMessage(change('c', null, row, { table: 'workspaces', lsn: 5 })));
    expect(result).toMatchObject({ ok: true, event: { occurredAt: new Date('2025-03-01T10:00:09.999Z') } });
  });

  it('lists only the columns that differ between before and after in an update', () => {
    const after = { ...row, desired_state: 'Stopped', updated_at: '2025-03-01T11:00:00.000000Z', url: null };
    const result = decodeWorkspaceMessage(jsonMessage(change('u', row, after)));
    expect(result).toEqual({
      ok: true,
      encoding: 'debezium',
      event: {
        type: 'workspace-updated',
        eventId: 'workspace-events/3@17',
        workspaceId: 42,
        version: 33816576,
        occurredAt: new Date('2025-03-01T10:00:04.500Z'),
        changes: { updated_at: new Date('2025-03-01T11:00:00.000Z'), desired_state: 'Stopped' },
        // `after` holds every column: the whole row rides along, to stand in for a compacted-away create.
        row: expect.objectContaining({ id: 42, desired_state: 'Stopped', updated_at: new Date('2025-03-01T11:00:00.000Z'), url: null }),
      },
    });
  });

  it('carries no full row when a column of after is unavailable (unchanged TOASTed) or missing', () => {
    const unavailable = { ...row, desired_state: 'Stopped', processed_devfile: DEBEZIUM_UNAVAILABLE_VALUE };
    const { url: _url, ...missing } = { ...row, desired_state: 'Stopped' };
    for (const after of [unavailable, missing]) {
      const result = decodeWorkspaceMessage(jsonMessage(change('u', row, after)));
      if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
      expect(result.event.changes).toEqual({ desired_state: 'Stopped' });
      expect(result.event).not.toHaveProperty('row');
    }
  });

  it('treats timestamps that differ only in notation as unchanged', () => {
    const after = { ...row, desired_state_updated_at: '2025-03-01T10:00:02Z', actual_state: 'Running' };
    const result = decodeWorkspaceMessage(jsonMessage(change('u', row, after)));
    expect(result).toMatchObject({ ok: true, event: { changes: { actual_state: 'Running' } } });
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    expect(Object.keys(result.event.changes)).toEqual(['actual_state']);
  });

  it('lists every column of after in an update without before', () => {
    const { id: _id, ...allColumns } = workspaceRow;
    const result = decodeWorkspaceMessage(jsonMessage(change('u', null, row)));
    expect(result).toMatchObject({ ok: true, event: { type: 'workspace-updated', workspaceId: 42 } });
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    expect(result.event.changes).toEqual(allColumns);
  });

  it('treats an unavailable TOASTed column in an update as not changed', () => {
    const after = { ...row, processed_devfile: '__debezium_unavailable_value', devfile: '__debezium_unavailable_value', desired_state: 'Stopped' };
    const result = decodeWorkspaceMessage(jsonMessage(change('u', null, after)));
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    expect(result.event.changes.desired_state).toBe('Stopped');
    expect('processed_devfile' in result.event.changes).toBe(false);
    expect('devfile' in result.event.changes).toBe(false);
  });

  it('deletes the workspace named by before, versioned by the LSN', () => {
    const before = { ...Object.fromEntries(Object.keys(row).map((column) => [column, null])), id: 42 };
    expect(decodeWorkspaceMessage(jsonMessage(change('d', before, null)))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: { type: 'workspace-deleted', workspaceId: 42, version: 33816576 },
    });
  });

  it('deletes the workspace named by the key when before is absent', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('d', null, null, { table: 'workspaces' }), '{"id":42}', '900'))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: { type: 'workspace-deleted', workspaceId: 42, version: 900 },
    });
  });

  it('reports a delete with neither before nor key as missing_key', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('d', null, null), null))).toMatchObject({
      ok: false,
      error: { reason: 'missing_key', encoding: 'debezium' },
    });
  });

  it('reports a truncate (op t) as unsupported_operation', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('t', null, null)))).toMatchObject({
      ok: false,
      error: { reason: 'unsupported_operation', workspaceId: 42 },
    });
  });

  it('reports a create without after as schema_invalid at after', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('c', null, null)))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'after' },
    });
  });

  it('reports a mistyped column as schema_invalid at after.name', () => {
    const result = decodeWorkspaceMessage(jsonMessage(change('c', null, { ...row, name: 5 })));
    expect(result).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'after.name', workspaceId: 42, encoding: 'debezium' } });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe('workspace-events[3]@17: schema_invalid at after.name: Invalid input: expected string, received number');
  });

  it('reports a change of another table as schema_invalid at source.table', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('c', null, row, { ...source, table: 'projects' })))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: 'source.table' },
    });
  });

  it('reports an envelope whose payload is not an object as not_an_object', () => {
    expect(decodeWorkspaceMessage(jsonMessage({ schema: {}, payload: [1] }))).toMatchObject({ ok: false, error: { reason: 'not_an_object' } });
  });

  it('deletes the key\'s workspace for an envelope with a null payload', () => {
    expect(decodeWorkspaceMessage(jsonMessage({ schema: {}, payload: null }))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: { type: 'workspace-deleted', workspaceId: 42, version: null },
    });
  });

  it('reports a struct key that names another workspace as key_mismatch', () => {
    expect(decodeWorkspaceMessage(jsonMessage(change('c', null, row), '{"payload":{"id":41}}'))).toMatchObject({
      ok: false,
      error: { reason: 'key_mismatch', workspaceId: 42, encoding: 'debezium' },
    });
  });
});
