import { describe, expect, it } from 'vitest';
import type { AppliedBatch } from '../../../src/engine/apply-kafka-batch.js';
import { ConsumerState } from '../../../src/ops/consumer-state.js';
import { Heartbeat } from '../../../src/ops/heartbeat.js';
import type { LogContext, Logger } from '../../../src/ops/logger.js';

function harness() {
  let clock = 0;
  const lines: { message: string; context: LogContext }[] = [];
  const info = (message: string, context: LogContext = {}) => lines.push({ message, context });
  const logger: Logger = { debug: info, info, warn: info, error: info, child: () => logger };
  const consumer = new ConsumerState();
  return { heartbeat: new Heartbeat(logger, consumer, () => clock), consumer, lines, advance: (ms: number) => (clock += ms) };
}

const applied = (consumed: number, written: number, failed = 0): AppliedBatch => ({
  consumed,
  written,
  failed,
  skipped: 0,
  unchanged: 0,
  deleted: 0,
  parked: 0,
  held: 0,
  badMessages: 0,
  deadLetterKinds: [],
  nextOffset: undefined,
});

describe('the follower heartbeat', () => {
  it('logs the lag per partition (high watermark minus next offset, from the shared ConsumerState), the rate since the last line and the totals', () => {
    const { heartbeat, consumer, lines, advance } = harness();
    consumer.assigned([
      { topic: 'events', partition: 1, next: '100', high: '120' },
      { topic: 'events', partition: 0, next: '50', high: '50' },
    ]);
    heartbeat.batchApplied({ topic: 'events', partition: 1, applied: applied(150, 140, 1), durationS: 0.1 });
    advance(10_000);
    heartbeat.beat();
    expect(lines).toEqual([
      {
        message: 'following: lag 20 (events:0 0, events:1 20); 15 events/s over the last 10 s; 150 events consumed, 140 rows written, 1 failed since start',
        context: { heartbeat: true, lag: 20, lagByPartition: { 'events:0': 0, 'events:1': 20 }, eventsPerS: 15, consumed: 150, written: 140, failed: 1 },
      },
    ]);
    // The next line's rate counts only what came since; a committed batch moves the partition's position.
    heartbeat.batchApplied({ topic: 'events', partition: 1, applied: applied(10, 10), durationS: 0.1 });
    consumer.position({ topic: 'events', partition: 1, next: '120', high: '120' });
    advance(20_000);
    heartbeat.beat();
    expect(lines[1]!.context).toMatchObject({ lag: 0, eventsPerS: 0.5, consumed: 160 });
  });

  it('says when it holds no partitions (before the join, or after a stop)', () => {
    const { heartbeat, consumer, lines, advance } = harness();
    advance(1_000);
    heartbeat.beat();
    consumer.assigned([{ topic: 'events', partition: 0, next: '5', high: '7' }]);
    consumer.stopped();
    heartbeat.beat();
    expect(lines.map((l) => l.message.split(';')[0])).toEqual(['following: no partitions assigned', 'following: no partitions assigned']);
  });
});
