import { describe, expect, it } from 'vitest';
import { createHeartbeat } from '../../../src/engine/heartbeat.js';
import type { LogContext, Logger } from '../../../src/ops/logger.js';

function harness() {
  let clock = 0;
  const lines: { message: string; context: LogContext }[] = [];
  const info = (message: string, context: LogContext = {}) => lines.push({ message, context });
  const logger: Logger = { debug: info, info, warn: info, error: info, child: () => logger };
  return { heartbeat: createHeartbeat(logger, () => clock), lines, advance: (ms: number) => (clock += ms) };
}

describe('the follower heartbeat', () => {
  it('logs the lag per partition (high watermark minus next offset), the rate since the last line and the totals', () => {
    const { heartbeat, lines, advance } = harness();
    heartbeat.applied('events:1', '120', '100');
    heartbeat.applied('events:0', '50', '50');
    advance(10_000);
    heartbeat.beat({ consumed: 150, written: 140, failed: 1 });
    expect(lines).toEqual([
      {
        message: 'following: lag 20 (events:0 0, events:1 20); 15 events/s over the last 10 s; 150 events consumed, 140 rows written, 1 failed since start',
        context: { heartbeat: true, lag: 20, lagByPartition: { 'events:0': 0, 'events:1': 20 }, eventsPerS: 15, consumed: 150, written: 140, failed: 1 },
      },
    ]);
    // The next line's rate counts only what came since.
    heartbeat.applied('events:1', '120', '120');
    advance(20_000);
    heartbeat.beat({ consumed: 160, written: 150, failed: 1 });
    expect(lines[1]!.context).toMatchObject({ lag: 0, eventsPerS: 0.5 });
  });

  it('drops the partitions a rebalance took away, and says when nothing was fetched yet', () => {
    const { heartbeat, lines, advance } = harness();
    advance(1_000);
    heartbeat.beat({ consumed: 0, written: 0, failed: 0 });
    expect(lines[0]!.message).toMatch(/^following: no partition fetched yet; 0 events\/s over the last 1 s;/);
    heartbeat.applied('events:0', '7', '5');
    heartbeat.applied('events:1', '9', '1');
    heartbeat.assigned(['events:1']);
    heartbeat.beat({ consumed: 10, written: 10, failed: 0 });
    expect(lines[1]!.context).toMatchObject({ lag: 8, lagByPartition: { 'events:1': 8 } });
  });
});
