/**
 * A follower's heartbeat: one info line per interval with its lag per partition, the events per second since
 * the last line and the run's totals. Silence is the alarm: a follower that stops saying this is stuck.
 *
 * The lag of a partition is the high watermark of its last fetched batch minus the next offset to apply. Between
 * batches that is exact, since kafkajs fetches again as soon as a batch is done and delivers no empty batch: a
 * partition with nothing new keeps its last figure, 0 once applied.
 */
import type { Logger } from '../ops/logger.js';

export interface HeartbeatTotals {
  consumed: number;
  written: number;
  failed: number;
}

export interface Heartbeat {
  /** The partitions this consumer now owns (a rebalance): the others leave the report. */
  assigned(partitions: readonly string[]): void;
  /** After a committed batch: the partition's high watermark and next offset to apply. */
  applied(partition: string, highWatermark: string, nextOffset: string): void;
  /** Logs the line. */
  beat(totals: HeartbeatTotals): void;
}

export function createHeartbeat(log: Logger, now: () => number = () => performance.now()): Heartbeat {
  const lagByPartition = new Map<string, number>();
  let previous = { atMs: now(), consumed: 0 };
  return {
    assigned(partitions) {
      for (const key of [...lagByPartition.keys()]) if (!partitions.includes(key)) lagByPartition.delete(key);
    },
    applied(partition, highWatermark, nextOffset) {
      const lag = BigInt(highWatermark) - BigInt(nextOffset);
      lagByPartition.set(partition, lag > 0n ? Number(lag) : 0);
    },
    beat(totals) {
      const atMs = now();
      const seconds = Math.max((atMs - previous.atMs) / 1000, 0.001);
      const eventsPerS = Math.round(((totals.consumed - previous.consumed) / seconds) * 10) / 10;
      previous = { atMs, consumed: totals.consumed };
      const lags = Object.fromEntries([...lagByPartition].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })));
      log.info(heartbeatMessage(lags, eventsPerS, seconds, totals), { heartbeat: true, lag: sum(Object.values(lags)), lagByPartition: lags, eventsPerS, ...totals });
    },
  };
}

function heartbeatMessage(lags: Record<string, number>, eventsPerS: number, seconds: number, totals: HeartbeatTotals): string {
  const partitions = Object.entries(lags);
  const lag =
    partitions.length === 0 ? 'no partition fetched yet' : `lag ${sum(Object.values(lags))} (${partitions.map(([key, n]) => `${key} ${n}`).join(', ')})`;
  return (
    `following: ${lag}; ${eventsPerS} events/s over the last ${Math.round(seconds)} s; ` +
    `${totals.consumed} events consumed, ${totals.written} rows written, ${totals.failed} failed since start`
  );
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
