/**
 * The engine loop, the same for every source (Kafka, a file): each positioned batch is decoded (schema
 * registry fetches first, outside the transaction and its locks), then applied with applyKafkaBatch in one
 * transaction, retried while the failure is transient (logged each time), and counted: the run's totals,
 * `onBatch`, the observer. A permanent failure is thrown as a BatchFailedError naming the batch.
 *
 * A fetched batch can hold tens of thousands of messages (MAX_BYTES_PER_PARTITION of small updates); it is applied
 * in transactions within TRANSACTION_LIMITS, each committing its own checkpoint, so that what one transaction
 * holds in memory (folds, devfiles, generated rows) does not grow with the fetch size. The limits count the
 * work, not the messages: several updates of one workspace in a transaction fold into one fold write.
 */
import type { DecodeResult, WorkspaceDecoder } from '../events/decode.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { logRetry, type Logger } from '../ops/logger.js';
import { lockCheckpoint, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import type { Database, Session } from '../sink/postgres/database.js';
import { lockProjectionShared } from '../sink/postgres/projection-locks.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { partitionKey } from '../sources/kafka/kafka-client.js';
import type { BatchOutcome, PositionedBatch } from '../sources/positioned-batch.js';
import { applyKafkaBatch, type AppliedBatch } from './apply-kafka-batch.js';
import type { ConsumerObserver } from './consumer-observer.js';
import type { Generator } from './generation/generator.js';
import { takeTransaction, type TransactionLimits } from './plan-batch.js';
import { asBatchFailure, retryTransient } from './retry.js';

export interface ReplayTotals {
  consumed: number;
  skipped: number;
  written: number;
  unchanged: number;
  deleted: number;
  parked: number;
  held: number;
  failed: number;
}

export interface BatchEngineOptions {
  db: Database;
  /** Checkpoint and fold namespace (the projection name, or a shadow rebuild's). */
  projection: string;
  decode: WorkspaceDecoder;
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  /** Generate rows per batch (default), or only fold (a rebuild materializes at the end). */
  materialize: boolean;
  /** Where the batches' rows are generated (default: this thread). */
  generator?: Generator | undefined;
  signal: AbortSignal;
  log: Logger;
  /** Called after each committed batch with the running totals. */
  onBatch?: ((totals: ReplayTotals) => void) | undefined;
  /** Told each committed batch (metrics, the heartbeat). */
  observer?: ConsumerObserver | undefined;
}

export interface BatchEngine {
  apply(batch: PositionedBatch): Promise<BatchOutcome>;
  /** What the committed batches did so far. */
  readonly totals: Readonly<ReplayTotals>;
}

/**
 * What one transaction holds at most (see above). Workspaces that generate or change their devfile cost most
 * (about 50 KB each), and the partitions' transactions run concurrently: measured on the follow benchmark
 * (N = 20,000, 20,000 config-changing events, 4 partitions), 250 of them per transaction peaked at 277 MB RSS
 * against 447 MB with 1,000, at the same rate (1,034 against 947 events/s).
 */
export const TRANSACTION_LIMITS: TransactionLimits = { devfiles: 250, workspaces: 1_000, messages: 10_000 };

export function createBatchEngine(options: BatchEngineOptions): BatchEngine {
  const { db, decode, signal } = options;
  const totals: ReplayTotals = { consumed: 0, skipped: 0, written: 0, unchanged: 0, deleted: 0, parked: 0, held: 0, failed: 0 };
  const deps = { projection: options.projection, decode, agentConfigMode: options.agentConfigMode, sink: options.sink, materialize: options.materialize, generator: options.generator };

  /** Runs `work` for `batch`, retried while its failure is transient; a permanent one names the batch. */
  const retried = async <T>(batch: PositionedBatch, work: () => Promise<T>): Promise<T> => {
    const { topic, partition, messages } = batch;
    const firstOffset = messages[0]?.offset ?? batch.skipTo?.from ?? '?';
    const lastOffset = batch.skipTo ? (BigInt(batch.skipTo.to) - 1n).toString() : (messages.at(-1)?.offset ?? '?');
    const where = `${batch.label === undefined ? '' : `${batch.label} `}${partitionKey(topic, partition)} offsets ${firstOffset}..${lastOffset}`;
    try {
      return await retryTransient(work, {
        signal,
        ...(batch.maxRetryDelayMs === undefined ? {} : { maxDelayMs: batch.maxRetryDelayMs }),
        onRetry: logRetry(options.log, where, { topic, partition, offset: firstOffset }),
      });
    } catch (error) {
      throw asBatchFailure(error, { topic, partition, firstOffset, lastOffset }, signal);
    }
  };

  const apply = async (batch: PositionedBatch): Promise<BatchOutcome> => {
    const { messages } = batch;
    if (messages.length === 0) return applyOne(batch, []);
    // The writer schemas first (registry fetches, outside any transaction): the transactions are cut by what
    // the decoded events do.
    await retried(batch, () => decode.prepare(messages));
    // The prelude belongs before the first message, the skip after the last.
    let outcome: BatchOutcome = { nextOffset: undefined };
    for (let start = 0; start < messages.length; ) {
      const { end, decoded } = takeTransaction(messages, start, decode, options.materialize, TRANSACTION_LIMITS);
      const part = await applyOne(
        { ...batch, messages: messages.slice(start, end), prelude: start === 0 ? batch.prelude : undefined, skipTo: end === messages.length ? batch.skipTo : undefined },
        decoded,
      );
      outcome = { ...part, nextOffset: part.nextOffset ?? outcome.nextOffset };
      start = end;
    }
    return outcome;
  };

  /** Applies `batch` (its messages decoded: `decoded`) in one transaction. */
  const applyOne = async (batch: PositionedBatch, decoded: readonly DecodeResult[]): Promise<BatchOutcome> => {
    const { topic, partition, messages } = batch;
    const started = performance.now();
    const work = async (): Promise<AppliedBatch | BatchOutcome> => {
      const skip = batch.skipTo && ((client: Session) => skipAhead(client, options.projection, topic, partition, batch.skipTo!.from, batch.skipTo!.to));
      if (messages.length === 0) return skip ? withTransaction(db, skip) : { nextOffset: undefined };
      return withTransaction(db, async (client) => {
        await batch.prelude?.(client);
        const applied = await applyKafkaBatch(client, { topic, partition, messages, decoded }, deps);
        const skipped = skip && (await skip(client));
        return skipped?.nextOffset === undefined ? applied : { ...applied, nextOffset: skipped.nextOffset };
      });
    };
    const done = await retried(batch, work);
    if (!('consumed' in done)) return done;
    const applied = done;
    for (const k of Object.keys(totals) as (keyof ReplayTotals)[]) totals[k] += applied[k];
    options.onBatch?.({ ...totals });
    options.observer?.batchApplied({ topic, partition, applied, durationS: (performance.now() - started) / 1000 });
    return applied;
  };
  return { apply, totals };
}

/**
 * Moves the checkpoint to `to` if it lies in [from, to), or is not set (the source starts a partition
 * without a checkpoint at the log start); under the projection's shared lock, as any batch.
 */
async function skipAhead(client: Session, projection: string, topic: string, partition: number, from: string, to: string): Promise<BatchOutcome> {
  await lockProjectionShared(client, projection);
  const checkpoint = await lockCheckpoint(client, projection, topic, partition);
  if (checkpoint !== undefined && (BigInt(checkpoint) < BigInt(from) || BigInt(checkpoint) >= BigInt(to))) return { nextOffset: undefined };
  await saveCheckpoints(client, projection, [{ topic, partition, nextOffset: to }]);
  return { nextOffset: to };
}
