/**
 * Kafka's copy of the checkpoints (README, Operations, Follow): sent in the background, one request at a time,
 * with the latest offset of each partition; the last ones awaited before the consumer leaves. Scripted commits:
 * each call returns a promise the test settles.
 */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/ops/logger.js';
import { OffsetCopies, type OffsetCopy } from '../../../src/sources/kafka/offset-copies.js';

function scripted() {
  const calls: { offsets: OffsetCopy[]; resolve: () => void; reject: (error: Error) => void }[] = [];
  const warnings: string[] = [];
  const log: Logger = { debug: () => undefined, info: () => undefined, warn: (m) => warnings.push(m), error: () => undefined, child: () => log };
  const copies = new OffsetCopies(
    (offsets) => new Promise<void>((resolve, reject) => calls.push({ offsets, resolve, reject })),
    log,
  );
  return { copies, calls, warnings };
}

const at = (partition: number, offset: number): OffsetCopy => ({ topic: 't', partition, offset: String(offset) });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('OffsetCopies', () => {
  it('sends at once, keeps one request in flight, and sends only the latest offset of each partition next', async () => {
    const { copies, calls } = scripted();
    copies.add(at(0, 1));
    expect(calls.map((c) => c.offsets)).toEqual([[at(0, 1)]]);
    copies.add(at(0, 2));
    copies.add(at(1, 5));
    copies.add(at(0, 3));
    expect(calls).toHaveLength(1);
    calls[0]!.resolve();
    await settle();
    expect(calls.map((c) => c.offsets)).toEqual([[at(0, 1)], [at(0, 3), at(1, 5)]]);
  });

  it('sent() resolves only once the request in flight and the waiting copies are sent', async () => {
    const { copies, calls } = scripted();
    copies.add(at(0, 1));
    copies.add(at(0, 2));
    let done = false;
    const sent = copies.sent().then(() => (done = true));
    calls[0]!.resolve();
    await settle();
    expect(done).toBe(false);
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await sent;
    expect(done).toBe(true);
  });

  it('a refused request is one warn line naming its partitions and offsets; later copies still go', async () => {
    const { copies, calls, warnings } = scripted();
    copies.add(at(0, 7));
    calls[0]!.reject(new Error('The coordinator is not available'));
    await settle();
    expect(warnings).toEqual(['could not commit offsets t:0@7 to Kafka: The coordinator is not available']);
    copies.add(at(0, 8));
    expect(calls.map((c) => c.offsets)).toEqual([[at(0, 7)], [at(0, 8)]]);
  });

  it('a new assignment drops the waiting copies of partitions this member no longer holds', async () => {
    const { copies, calls } = scripted();
    copies.add(at(0, 1));
    copies.add(at(0, 2));
    copies.add(at(1, 4));
    copies.keepOnly(new Set(['t:1']));
    calls[0]!.resolve();
    await settle();
    expect(calls.map((c) => c.offsets)).toEqual([[at(0, 1)], [at(1, 4)]]);
  });
});
