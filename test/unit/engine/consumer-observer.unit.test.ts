import { describe, expect, it } from 'vitest';
import { observeAll, type ConsumerObserver } from '../../../src/engine/consumer-observer.js';

describe('observeAll', () => {
  it('tells each observer only what it listens to, in the order given', () => {
    const heard: string[] = [];
    const lag: Partial<ConsumerObserver> = { position: (p) => heard.push(`lag ${p.next}`), stopped: () => heard.push('lag stopped') };
    const totals: Partial<ConsumerObserver> = { batchApplied: (r) => heard.push(`totals ${r.applied.consumed}`) };
    const all = observeAll(lag, undefined, totals)!;
    all.position({ topic: 't', partition: 0, next: '5', high: '9' });
    const applied = { consumed: 3, skipped: 0, written: 3, unchanged: 0, deleted: 0, parked: 0, held: 0, failed: 0, badMessages: 0, deadLetterKinds: [], nextOffset: '8' };
    all.batchApplied({ topic: 't', partition: 0, durationS: 0.1, applied });
    all.assigned([]);
    all.stopped();
    expect(heard).toEqual(['lag 5', 'totals 3', 'lag stopped']);
  });

  it('is undefined when nobody listens', () => {
    expect(observeAll(undefined, undefined)).toBeUndefined();
  });
});
