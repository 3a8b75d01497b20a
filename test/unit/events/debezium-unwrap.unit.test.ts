/**
 * Messages as Debezium's ExtractNewRecordState SMT writes them (its "New Record State Extraction" docs): the
 * `after` row at the top level; `add.fields=op,table,lsn,source.ts_ms` adds `__op`, `__table`, `__lsn`,
 * `__source_ts_ms`; `delete.tombstone.handling.mode=rewrite` turns a delete into the `before` row plus
 * `"__deleted": "true"`; the tombstone mode writes the value `null`. Keys as Debezium's JSON converter writes them.
 */
import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import { DEBEZIUM_UNAVAILABLE_VALUE } from '../../../src/events/codec/debezium.js';
import { debeziumRow as row, jsonMessage, message, workspaceRow } from './helpers.js';

const KEY = '{"id":42}';
const metadata = { __op: 'c', __table: 'workspaces', __lsn: 33816576, __source_ts_ms: 1740823204500 };
const { id: _id, ...allColumns } = workspaceRow;

describe("Debezium's unwrap (ExtractNewRecordState) rows", () => {
  it('reads a row without metadata as an update of every column that carries the full row, versioned by the offset', () => {
    expect(decodeWorkspaceMessage(jsonMessage(row, KEY, '250'))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: {
        type: 'workspace-updated',
        eventId: 'workspace-events/3@250',
        workspaceId: 42,
        version: 250,
        // No ts_ms in the row: the Kafka timestamp.
        occurredAt: new Date(1740823200000),
        changes: allColumns,
        row: workspaceRow,
      },
    });
  });

  it('reads __op c as a create versioned by __lsn, occurring at __source_ts_ms', () => {
    expect(decodeWorkspaceMessage(jsonMessage({ ...row, ...metadata, __deleted: 'false' }, KEY))).toEqual({
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

  it('accepts __source_lsn, __ts_ms and numbers written as strings, and the {schema, payload} envelope', () => {
    const flattened = { ...row, __op: 'r', __source_lsn: '900', __ts_ms: '1740823209999' };
    const value = { schema: { type: 'struct', name: 'gitlab.public.workspaces.Value' }, payload: flattened };
    expect(decodeWorkspaceMessage(jsonMessage(value, '{"schema":null,"payload":{"id":42}}'))).toMatchObject({
      ok: true,
      event: { type: 'workspace-created', version: 900, occurredAt: new Date('2025-03-01T10:00:09.999Z') },
    });
  });

  it('reads __op u as an update without the unavailable (unchanged TOASTed) columns, and without a full row', () => {
    const flattened = { ...row, ...metadata, __op: 'u', desired_state: 'Stopped', processed_devfile: DEBEZIUM_UNAVAILABLE_VALUE, devfile: DEBEZIUM_UNAVAILABLE_VALUE };
    const result = decodeWorkspaceMessage(jsonMessage(flattened, KEY));
    if (!result.ok || result.event.type !== 'workspace-updated') throw new Error('expected an update');
    const { devfile: _d, processed_devfile: _p, ...changed } = { ...allColumns, desired_state: 'Stopped' };
    expect(result.event.changes).toEqual(changed);
    expect(result.event).not.toHaveProperty('row');
    expect(result.event.version).toBe(33816576);
  });

  it('reads a rewritten delete (the before row with __deleted "true") as a delete versioned by __lsn', () => {
    const rewritten = { ...row, __op: 'd', __table: 'workspaces', __lsn: 33816600, __deleted: 'true' };
    expect(decodeWorkspaceMessage(jsonMessage(rewritten, KEY))).toEqual({
      ok: true,
      encoding: 'debezium',
      event: { type: 'workspace-deleted', workspaceId: 42, version: 33816600 },
    });
    // Without add.fields=op the __deleted flag alone says it; the key need not be a struct.
    expect(decodeWorkspaceMessage(jsonMessage({ id: 42, __deleted: 'true' }, '42', '31'))).toMatchObject({
      ok: true,
      event: { type: 'workspace-deleted', workspaceId: 42, version: 31 },
    });
  });

  it('reads the JSON text null (the tombstone mode) as a delete of the key\'s workspace', () => {
    expect(decodeWorkspaceMessage(message('null', KEY))).toEqual({
      ok: true,
      encoding: 'tombstone',
      event: { type: 'workspace-deleted', workspaceId: 42, version: null },
    });
    expect(decodeWorkspaceMessage(message(' null\n', '42'))).toMatchObject({ ok: true, event: { type: 'workspace-deleted', workspaceId: 42 } });
    expect(decodeWorkspaceMessage(message('null', null))).toMatchObject({ ok: false, error: { reason: 'missing_key', encoding: 'tombstone' } });
  });

  it('names a bad column by its top-level path, with the workspace', () => {
    const result = decodeWorkspaceMessage(jsonMessage({ ...row, ...metadata, name: 5 }, KEY));
    expect(result).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'name', workspaceId: 42, encoding: 'debezium' } });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.message).toBe('workspace-events[3]@17: schema_invalid at name: Invalid input: expected string, received number');
  });

  it('reports a row of another table as schema_invalid at __table or __source_table', () => {
    expect(decodeWorkspaceMessage(jsonMessage({ ...row, ...metadata, __table: 'projects' }, KEY))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: '__table', workspaceId: 42 },
    });
    expect(decodeWorkspaceMessage(jsonMessage({ ...row, __source_table: 'projects' }, KEY))).toMatchObject({
      ok: false,
      error: { reason: 'schema_invalid', path: '__source_table' },
    });
  });

  it('reports a truncate (__op t) as unsupported_operation', () => {
    expect(decodeWorkspaceMessage(jsonMessage({ ...row, ...metadata, __op: 't' }, KEY))).toMatchObject({
      ok: false,
      error: { reason: 'unsupported_operation', workspaceId: 42 },
    });
  });

  it('reports a row whose key names another workspace as key_mismatch', () => {
    expect(decodeWorkspaceMessage(jsonMessage(row, '{"id":41}'))).toMatchObject({ ok: false, error: { reason: 'key_mismatch', workspaceId: 42 } });
  });

  it('keeps our own JSON events apart: they have a type, which no flattened row has', () => {
    const ours = { type: 'workspace-created', event_id: 'e', workspace_id: 42, version: 1, occurred_at: '2025-03-01T10:00:04.500Z', workspace: { ...row, id: 42 } };
    expect(decodeWorkspaceMessage(jsonMessage(ours))).toMatchObject({ ok: true, encoding: 'json', event: { type: 'workspace-created', version: 1 } });
    // An object with neither type nor id stays ours, and says what it misses.
    expect(decodeWorkspaceMessage(jsonMessage({ workspace_id: 42 }))).toMatchObject({ ok: false, error: { reason: 'schema_invalid', path: 'type', encoding: 'json' } });
  });
});
