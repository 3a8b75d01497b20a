/**
 * Where a Kafka replay starts and what it refuses. PostgreSQL's checkpoints are the positions; a replay
 * (`--from-beginning`, `--from-offset`, `--from-timestamp`) first rewrites them to the requested offsets.
 * Records deleted by retention between a checkpoint and the log start were never applied: consuming past
 * them would leave those workspaces stale without a word, so it is refused.
 */
import type { Admin } from 'kafkajs';
import type { Logger } from '../../ops/logger.js';
import { saveCheckpoints, type Checkpoint } from '../../sink/postgres/checkpoints.js';
import type { Database } from '../../sink/postgres/database.js';
import { withTransaction } from '../../sink/postgres/transaction.js';
import { offsetsAtTimestamp, partitionKey, type PartitionRange } from './kafka-client.js';

export type ReplayStart =
  | { kind: 'checkpoints' }
  | { kind: 'beginning' }
  | { kind: 'timestamp'; timestampMs: number }
  | { kind: 'offsets'; offsets: { all: string } | { partitions: Map<number, string> } };

/** Records deleted between the checkpoint and the log start were never applied: refuse (permanent). */
export class RetentionGapError extends Error {
  override readonly name = 'RetentionGapError';
  readonly retriable = false;
}

export function assertNoRetentionGap(topic: string, partition: number, checkpoint: string, logStart: string): void {
  if (BigInt(checkpoint) >= BigInt(logStart)) return;
  throw new RetentionGapError(
    `${topic}[${partition}]: the checkpoint is at offset ${checkpoint} but the log now starts at ${logStart}: ` +
      `records ${checkpoint}..${BigInt(logStart) - 1n} were deleted (retention) before they were applied; ` +
      `rebuild with --source snapshot`,
  );
}

/** For a replay, moves the PostgreSQL checkpoints to the requested start before anything is consumed. */
export async function rewriteCheckpoints(
  admin: Admin,
  db: Database,
  options: { projection: string; topics: string[]; start: ReplayStart; log: Logger },
  ranges: PartitionRange[],
): Promise<void> {
  const { start } = options;
  if (start.kind === 'checkpoints') return;
  let target: (range: PartitionRange) => string | undefined;
  if (start.kind === 'beginning') target = (range) => range.low;
  else if (start.kind === 'timestamp') {
    const byTime = await offsetsAtTimestamp(admin, options.topics, start.timestampMs);
    target = (range) => {
      const offset = byTime.get(partitionKey(range.topic, range.partition));
      return offset === undefined || offset === '-1' ? range.high : offset;
    };
  } else {
    const { offsets } = start;
    target = (range) => ('all' in offsets ? offsets.all : offsets.partitions.get(range.partition));
  }
  const checkpoints: Checkpoint[] = [];
  for (const range of ranges) {
    const offset = target(range);
    if (offset === undefined) continue;
    // An offset outside the log would either skip history or wait for the future: clamp and say so.
    const clamped = BigInt(offset) < BigInt(range.low) ? range.low : BigInt(offset) > BigInt(range.high) ? range.high : offset;
    if (clamped !== offset) {
      options.log.warn(`${range.topic}:${range.partition}: offset ${offset} is outside [${range.low}, ${range.high}], using ${clamped}`, {
        topic: range.topic,
        partition: range.partition,
        offset: clamped,
      });
    }
    checkpoints.push({ topic: range.topic, partition: range.partition, nextOffset: clamped });
  }
  await withTransaction(db, (client) => saveCheckpoints(client, options.projection, checkpoints));
}
