/**
 * A follower's heartbeat: one info line per interval with its lag per partition, the events per second since
 * the last line and the run's totals. Silence is the alarm: a follower that stops saying this is stuck.
 *
 * The lag comes from the process's one ConsumerState (the metrics' when they are served): a partition's high
 * watermark minus the next offset to apply. Of the consumer's reports it hears only the committed batches.
 */
import type { AppliedBatchReport, ConsumerObserver } from '../engine/consumer-observer.js';
import type { Logger } from './logger.js';
import { partitionKey } from '../sources/kafka/kafka-client.js';
import type { ConsumerState } from './consumer-state.js';

export interface HeartbeatTotals {
  consumed: number;
  written: number;
  failed: number;
}

export class Heartbeat implements Pick<ConsumerObserver, 'batchApplied'> {
  private readonly totals: HeartbeatTotals = { consumed: 0, written: 0, failed: 0 };
  private previous: { atMs: number; consumed: number };

  constructor(
    private readonly log: Logger,
    private readonly consumer: ConsumerState,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.previous = { atMs: now(), consumed: 0 };
  }

  batchApplied({ applied }: AppliedBatchReport): void {
    this.totals.consumed += applied.consumed;
    this.totals.written += applied.written;
    this.totals.failed += applied.failed;
  }

  /** Logs the line. */
  beat(): void {
    const atMs = this.now();
    const seconds = Math.max((atMs - this.previous.atMs) / 1000, 0.001);
    const eventsPerS = Math.round(((this.totals.consumed - this.previous.consumed) / seconds) * 10) / 10;
    this.previous = { atMs, consumed: this.totals.consumed };
    const lags = this.consumer
      .lags()
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition)
      .map((l) => [partitionKey(l.topic, l.partition), l.lag] as const);
    const lag = lags.reduce((sum, [, n]) => sum + n, 0);
    const where = lags.length === 0 ? 'no partitions assigned' : `lag ${lag} (${lags.map(([key, n]) => `${key} ${n}`).join(', ')})`;
    const { consumed, written, failed } = this.totals;
    this.log.info(
      `following: ${where}; ${eventsPerS} events/s over the last ${Math.round(seconds)} s; ` +
        `${consumed} events consumed, ${written} rows written, ${failed} failed since start`,
      { heartbeat: true, lag, lagByPartition: Object.fromEntries(lags), eventsPerS, consumed, written, failed },
    );
  }
}
