/**
 * What every source hands the engine (src/engine/batch-loop.ts): one topic partition's records in offset
 * order, positioned (a broker's topic/partition/offset, or a file's), applied in one transaction.
 */
import type { WorkspaceMessage } from '../events/decode.js';
import type { Session } from '../sink/postgres/database.js';

export interface PositionedBatch {
  topic: string;
  partition: number;
  /** In offset order (may be empty with `skipTo`). */
  messages: readonly WorkspaceMessage[];
  /**
   * After the messages, the partition holds nothing to apply from `from` up to `to` (exclusive: transaction
   * markers, aborted records): the checkpoint moves to `to` if it lies in between, in the same transaction.
   * A transactional topic ends with a marker, so without this its checkpoint would stay one below the end.
   */
  skipTo?: { from: string; to: string };
  /** Runs first inside the batch's transaction (a file's gap check and rewind). */
  prelude?: (client: Session) => Promise<void>;
  /** Where the batch comes from, for the retry log lines (the file's path). */
  label?: string;
  /** Caps the backoff (a Kafka batch: well under the session timeout). */
  maxRetryDelayMs?: number;
}

/** What the engine answers for a batch: the partition's checkpoint after it (undefined: not moved). */
export interface BatchOutcome {
  nextOffset: string | undefined;
}

/**
 * The engine, as a source sees it. A source hands over a partition's batches one at a time, each after the
 * previous one's outcome (batches of one partition in flight together would race for its checkpoint).
 */
export type ApplyBatch = (batch: PositionedBatch) => Promise<BatchOutcome>;
