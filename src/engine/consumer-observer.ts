/**
 * What a Kafka consumer tells whoever watches it (metrics and readiness, src/ops/) as it runs. The engine
 * knows only this interface: no metrics library, no HTTP.
 */
import type { AppliedBatch } from './apply-kafka-batch.js';

/** Where a partition stands: the next offset to apply and the broker's high watermark, as last seen. */
export interface PartitionPosition {
  topic: string;
  partition: number;
  /** The next offset this consumer applies (its checkpoint, or a fetched batch's first offset). */
  next: string;
  high: string;
}

export interface AppliedBatchReport {
  topic: string;
  partition: number;
  applied: AppliedBatch;
  /** From the batch's delivery to its commit, transient retries included. */
  durationS: number;
}

/**
 * Positions arrive from concurrent paths (a group join reads the checkpoints while batches commit), so a
 * report may be older than one before it: both offsets only grow, and observers keep the highest of each.
 */
export interface ConsumerObserver {
  /** The consumer joined its group and holds these partitions (none when the group has more members than partitions). */
  assigned(partitions: readonly PartitionPosition[]): void;
  /** The consumer stopped (the run ends, or a new consumer starts after a crash): it holds nothing until it joins again. */
  stopped(): void;
  /** A partition's position: when a fetched batch arrives and when it commits. */
  position(position: PartitionPosition): void;
  /** A batch committed. */
  batchApplied(report: AppliedBatchReport): void;
}

/** One observer telling each of `observers` what it listens to (the lag, the metrics' counts, the heartbeat's totals). */
export function observeAll(...observers: (Partial<ConsumerObserver> | undefined)[]): ConsumerObserver | undefined {
  const all = observers.filter((o) => o !== undefined);
  if (all.length === 0) return undefined;
  return {
    assigned: (partitions) => all.forEach((o) => o.assigned?.(partitions)),
    stopped: () => all.forEach((o) => o.stopped?.()),
    position: (position) => all.forEach((o) => o.position?.(position)),
    batchApplied: (report) => all.forEach((o) => o.batchApplied?.(report)),
  };
}
