import { describe, expect, it } from 'vitest';
import { ConsumerState } from '../../../src/ops/consumer-state.js';

const at = (partition: number, next: number, high: number) => ({ topic: 't', partition, next: String(next), high: String(high) });

describe('consumer readiness', () => {
  it('is not ready before the group join, then ready once every assigned partition is within the maximum lag', () => {
    const state = new ConsumerState();
    expect(state.readiness(10)).toEqual({ ready: false, reason: 'the consumer has not joined its group yet' });
    state.assigned([at(0, 0, 25), at(1, 5, 5)]);
    expect(state.readiness(10)).toEqual({ ready: false, reason: 'lag above 10 on 1 of 2 partitions: t[0] 25' });
    state.position(at(0, 20, 25));
    expect(state.readiness(10)).toEqual({ ready: true, reason: '2 partitions assigned, lag at most 5' });
    expect(state.readiness(4).ready).toBe(false);
  });

  it('keeps the highest checkpoint and high watermark seen, whatever order the reports arrive in', () => {
    const state = new ConsumerState();
    state.assigned([at(0, 0, 100)]);
    state.position(at(0, 100, 100));
    // A group join's late read of the checkpoint, older than the batch that committed meanwhile.
    state.assigned([at(0, 40, 90)]);
    expect(state.lags()).toEqual([{ topic: 't', partition: 0, lag: 0 }]);
    state.position(at(0, 100, 130));
    expect(state.lags()).toEqual([{ topic: 't', partition: 0, lag: 30 }]);
  });

  it('forgets revoked partitions at a join, and everything once the consumer stopped', () => {
    const state = new ConsumerState();
    state.assigned([at(0, 0, 1), at(1, 0, 2)]);
    state.assigned([at(1, 0, 2)]);
    expect(state.lags().map((l) => l.partition)).toEqual([1]);
    state.stopped();
    expect(state.lags()).toEqual([]);
    expect(state.readiness(1000)).toEqual({ ready: false, reason: 'the consumer is stopped (ending, or restarting after a failure)' });
    // A batch report of the stopped consumer arriving late does not bring a partition back.
    state.position(at(1, 2, 2));
    expect(state.lags()).toEqual([]);
  });

  it('is ready with no partitions when the group has more members than partitions', () => {
    const state = new ConsumerState();
    state.assigned([]);
    expect(state.readiness(0)).toEqual({ ready: true, reason: 'joined; no partitions assigned (the group has more members than partitions)' });
  });

  it('is not ready while a rebuild runs', () => {
    const state = new ConsumerState();
    state.assigned([]);
    state.rebuilding('materializing');
    expect(state.readiness(1000)).toEqual({ ready: false, reason: 'rebuilding (materializing)' });
    state.rebuilding(undefined);
    expect(state.readiness(1000).ready).toBe(true);
  });
});
