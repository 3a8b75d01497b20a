import { describe, expect, it } from 'vitest';
import { BAD_MESSAGE_REASONS, decodeWorkspaceMessage } from '../../../src/events/decode.js';
import type { BadMessageReason, WorkspaceMessage } from '../../../src/events/decode.js';
import { encodeAvro, encodeJson } from '../../../src/events/encode.js';
import { createdEvent, jsonMessage, message, updatedEvent } from './helpers.js';

/** One message per reason; the detailed cases live in the per-encoding tests. */
const cases: [BadMessageReason, WorkspaceMessage, string | undefined][] = [
  ['bad_magic_byte', message(Buffer.from([0x7f, 0x01])), undefined],
  ['unknown_schema_id', message(Buffer.from([0, 0, 0, 0x01, 0x00, 0x02])), undefined],
  ['avro_decode_failed', message(encodeAvro(updatedEvent).subarray(0, 12)), undefined],
  ['invalid_utf8', message(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])), undefined],
  ['unstorable_text', message('{"type":"workspace-created","event_id":"a\\u0000"}'), 'event_id'],
  ['not_json', message('{workspace}'), undefined],
  ['not_an_object', message('[]'), undefined],
  ['schema_invalid', jsonMessage({ ...JSON.parse(encodeJson(updatedEvent).toString()), workspace_id: 'forty-two' }), 'workspace_id'],
  ['unsupported_operation', jsonMessage({ op: 'm', before: null, after: null }), undefined],
  ['bad_key', message(encodeJson(createdEvent), 'ws-42'), undefined],
  ['missing_key', message(null, null), undefined],
  ['key_mismatch', message(encodeJson(createdEvent), '24'), undefined],
];

describe('bad messages', () => {
  it('have one test case per reason', () => {
    expect(cases.map(([reason]) => reason)).toEqual([...BAD_MESSAGE_REASONS]);
  });

  it.each(cases)('reports %s with the topic, partition and offset in the message', (reason, input, path) => {
    const result = decodeWorkspaceMessage(input);
    expect(result).toMatchObject({ ok: false, error: { reason, topic: 'workspace-events', partition: 3, offset: '17' } });
    if (result.ok) throw new Error('expected a bad message');
    expect(result.error.path).toBe(path);
    expect(result.error.message.startsWith(`workspace-events[3]@17: ${reason}`)).toBe(true);
  });
});
