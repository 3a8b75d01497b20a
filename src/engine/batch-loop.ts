/**
 * The engine loop, the same for every source (Kafka, a file): each positioned batch is decoded (schema
 * registry fetches first, outside the transaction and its locks), then applied with applyKafkaBatch in one
 * transaction, retried while the failure is transient (logged each time), and counted: the run's totals,
 * `onBatch`, the observer. A permanent failure is thrown as a BatchFailedError naming the batch.
 *
 * A fetched batch can hold tens of thousands of messages (4 MB per partition of small updates); it is applied
 * in transactions of at most MESSAGES_PER_TRANSACTION, each committing its own checkpoint, so that what one
 * transaction holds in memory (folds, devfiles, generated rows) does not grow with the fetch size.
 */
import type { WorkspaceDecoder } from '../events/decode.js';
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

/** Messages applied in one transaction (see above): about 50 MB of transient memory when each changes a row. */
export const MESSAGES_PER_TRANSACTION = 1_000;

export function createBatchEngine(options: BatchEngineOptions): BatchEngine {
  const { db, decode, signal } = options;
  const totals: ReplayTotals = { consumed: 0, skipped: 0, written: 0, unchanged: 0, deleted: 0, parked: 0, held: 0, failed: 0 };
  const deps = { projection: options.projection, decode, agentConfigMode: options.agentConfigMode, sink: options.sink, materialize: options.materialize };

  const apply = async (batch: PositionedBatch): Promise<BatchOutcome> => {
    if (batch.messages.length <= MESSAGES_PER_TRANSACTION) return applyOne(batch);
    // The prelude belongs before the first message, the skip after the last.
    let outcome: BatchOutcome = { nextOffset: undefined };
    for (let start = 0; start < batch.messages.length; start += MESSAGES_PER_TRANSACTION) {
      const last = start + MESSAGES_PER_TRANSACTION >= batch.messages.length;
      const part = await applyOne({
        ...batch,
        messages: batch.messages.slice(start, start + MESSAGES_PER_TRANSACTION),
        prelude: start === 0 ? batch.prelude : undefined,
        skipTo: last ? batch.skipTo : undefined,
      });
      outcome = { ...part, nextOffset: part.nextOffset ?? outcome.nextOffset };
    }
    return outcome;
  };

  const applyOne = async (batch: PositionedBatch): Promise<BatchOutcome> => {
    const { topic, partition, messages } = batch;
    const started = performance.now();
    const firstOffset = messages[0]?.offset ?? batch.skipTo?.from ?? '?';
    const lastOffset = batch.skipTo ? (BigInt(batch.skipTo.to) - 1n).toString() : (messages.at(-1)?.offset ?? '?');
    const where = `${batch.label === undefined ? '' : `${batch.label} `}${partitionKey(topic, partition)} offsets ${firstOffset}..${lastOffset}`;
    const work = async (): Promise<AppliedBatch | BatchOutcome> => {
      const skip = batch.skipTo && ((client: Session) => skipAhead(client, options.projection, topic, partition, batch.skipTo!.from, batch.skipTo!.to));
      if (messages.length === 0) return skip ? withTransaction(db, skip) : { nextOffset: undefined };
      await decode.prepare(messages);
      return withTransaction(db, async (client) => {
        await batch.prelude?.(client);
        const applied = await applyKafkaBatch(client, { topic, partition, messages }, deps);
        const skipped = skip && (await skip(client));
        return skipped?.nextOffset === undefined ? applied : { ...applied, nextOffset: skipped.nextOffset };
      });
    };
    let done: AppliedBatch | BatchOutcome;
    try {
      done = await retryTransient(work, {
        signal,
        ...(batch.maxRetryDelayMs === undefined ? {} : { maxDelayMs: batch.maxRetryDelayMs }),
        onRetry: logRetry(options.log, where, { topic, partition, offset: firstOffset }),
      });
    } catch (error) {
      throw asBatchFailure(error, { topic, partition, firstOffset, lastOffset }, signal);
    }
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
