import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import { encodeJson, encodeKey } from '../../../src/events/encode.js';
import { message, updatedEvent } from './helpers.js';

describe('keys and tombstones', () => {
  it('turns a tombstone into a delete of the key\'s workspace without a version', () => {
    expect(decodeWorkspaceMessage(message(null, '42'))).toEqual({
      ok: true,
      encoding: 'tombstone',
      event: { type: 'workspace-deleted', workspaceId: 42, version: null },
    });
  });

  it('reports a tombstone without a key as missing_key', () => {
    expect(decodeWorkspaceMessage(message(null, null))).toMatchObject({
      ok: false,
      error: { reason: 'missing_key', encoding: 'tombstone', message: 'workspace-events[3]@17: missing_key: a tombstone needs the workspace id in its key' },
    });
  });

  it('accepts a JSON struct key and a padded decimal key', () => {
    for (const key of ['{"id":42}', '{"payload":{"id":"42"}}', ' 42 ', '"42"']) {
      expect(decodeWorkspaceMessage(message(null, key))).toMatchObject({ ok: true, event: { workspaceId: 42 } });
    }
  });

  it('encodes the key as the decimal workspace id', () => {
    expect(encodeKey(42).toString()).toBe('42');
  });

  it('skips the key check when the message has no key', () => {
    expect(decodeWorkspaceMessage(message(encodeJson(updatedEvent), null))).toMatchObject({ ok: true, event: { workspaceId: 42 } });
  });

  it('reports a key that is not a workspace id as bad_key, even for a tombstone', () => {
    for (const key of ['workspace-42', '{"workspace":42}', '{"id":', '9007199254740993']) {
      expect(decodeWorkspaceMessage(message(null, key))).toMatchObject({ ok: false, error: { reason: 'bad_key' } });
    }
  });
});
