/**
 * Real Debezium 3.6.1 output (test/fixtures/debezium/recorded/README.md): the PostgreSQL connector's change
 * events and, from the same changes, the unwrap SMT's flattened rows. Each pair decodes into the same event,
 * and the events are what happened in the database.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../../src/events/decode.js';
import type { DecodeResult, WorkspaceMessage } from '../../../src/events/decode.js';

interface Recorded {
  offset: string;
  timestamp: string;
  key: string | null;
  value: string | null;
}
const recorded = JSON.parse(readFileSync(new URL('../../fixtures/debezium/recorded/debezium-3.6.1-postgres-json.json', import.meta.url), 'utf8')) as Record<'envelope' | 'unwrap', Recorded[]>;

/** Both topics' messages at the same coordinates, so that only their content can differ. */
const decode = (m: Recorded): DecodeResult => {
  const message: WorkspaceMessage = { topic: 'workspaces', partition: 0, offset: m.offset, timestamp: m.timestamp, key: m.key === null ? null : Buffer.from(m.key), value: m.value === null ? null : Buffer.from(m.value) };
  return decodeWorkspaceMessage(message);
};

describe("Debezium 3.6.1's recorded output", () => {
  it('decodes the unwrap rows into the events of the change events (but for when: two connectors, two clocks)', () => {
    expect(recorded.unwrap).toHaveLength(recorded.envelope.length);
    const when = (result: DecodeResult) => (result.ok && 'occurredAt' in result.event ? result.event.occurredAt.getTime() : undefined);
    const apartFromWhen = (result: DecodeResult) => (result.ok && 'occurredAt' in result.event ? { ...result, event: { ...result.event, occurredAt: undefined } } : result);
    recorded.envelope.forEach((envelope, i) => {
      const fromEnvelope = decode(envelope);
      const fromRow = decode(recorded.unwrap[i]!);
      expect(fromEnvelope.ok, JSON.stringify(fromEnvelope)).toBe(true);
      expect(apartFromWhen(fromRow)).toEqual(apartFromWhen(fromEnvelope));
      expect(Math.abs((when(fromRow) ?? 0) - (when(fromEnvelope) ?? 0))).toBeLessThan(1000);
    });
  });

  it('reads the snapshot, the update and the delete with their LSNs', () => {
    const events = recorded.envelope.map((m) => {
      const result = decode(m);
      if (!result.ok) throw new Error(result.error.message);
      return result.event;
    });
    expect(events.map((e) => [e.type, e.workspaceId, e.version])).toEqual([
      ['workspace-created', 1, 26729128],
      ['workspace-created', 2, 26729128],
      ['workspace-created', 3, 26729128],
      ['workspace-updated', 2, 27007024],
      ['workspace-deleted', 3, 27009120],
      ['workspace-deleted', 3, null],
    ]);
    const update = events[3]!;
    if (update.type !== 'workspace-updated') throw new Error('expected an update');
    // Replica identity DEFAULT: no before, so every column of after counts as changed, and after is a full row.
    expect(update.changes).toMatchObject({ desired_state: 'Stopped', name: 'workspace-2' });
    expect(update.row).toMatchObject({ id: 2, desired_state: 'Stopped' });
  });
});
