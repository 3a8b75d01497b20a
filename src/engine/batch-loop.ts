/**
 * The engine loop, the same for every source (Kafka, a file): each positioned batch is decoded (schema
 * registry fetches first, outside the transaction and its locks), then applied with applyKafkaBatches in one
 * transaction, retried while the failure is transient (logged each time), and counted: the run's totals,
 * `onBatch`, the observer. A permanent failure is thrown as a BatchFailedError naming the batch.
 *
 * A fetched batch can hold tens of thousands of messages (MAX_BYTES_PER_PARTITION of small updates); it is applied
 * in transactions within TRANSACTION_LIMITS, each committing its own checkpoint, so that what one transaction
 * holds in memory (folds, devfiles, generated rows) does not grow with the fetch size. The limits count the
 * work, not the messages: several updates of one workspace in a transaction fold into one fold write.
 *
 * Batches handed over in the same turn of the event loop (kafkajs hands a fetch's partitions to eachBatch at
 * once) share one transaction when they are small (GROUP_LIMITS) and name disjoint workspaces: a steady
 * follow's fetch then costs one set of statements and one commit, not one per partition.
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
import { applyKafkaBatches, type AppliedBatch } from './apply-kafka-batch.js';
import type { ConsumerObserver } from './consumer-observer.js';
import type { Generator } from './generation/generator.js';
import { takeTransaction, workspaceOf, type TransactionLimits } from './plan-batch.js';
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

/**
 * What batches handed over together may hold to share one transaction (applyGroup). Sharing saves a set of
 * statements and a commit per partition, which is most of a small batch's cost (a steady follow: at 500
 * events/s, about 3 events per partition's transaction); a larger batch is dominated by its events, and
 * alone its PostgreSQL work overlaps the generation of the others'. Measured at N = 10,000 (two alternated
 * runs): grouping without this bound cost the backlog steps a quarter of their rate.
 */
export const GROUP_LIMITS: TransactionLimits = { devfiles: 50, workspaces: 250, messages: 500 };

export function createBatchEngine(options: BatchEngineOptions): BatchEngine {
  const { db, decode, signal } = options;
  const totals: ReplayTotals = { consumed: 0, skipped: 0, written: 0, unchanged: 0, deleted: 0, parked: 0, held: 0, failed: 0 };
  const deps = { projection: options.projection, decode, agentConfigMode: options.agentConfigMode, sink: options.sink, materialize: options.materialize, generator: options.generator };

  /** Runs `work`, retried while its failure is transient, logging each retry as `where`. */
  const retriedAs = <T>(where: Where, work: () => Promise<T>, maxRetryDelayMs: number | undefined): Promise<T> =>
    retryTransient(work, {
      signal,
      ...(maxRetryDelayMs === undefined ? {} : { maxDelayMs: maxRetryDelayMs }),
      onRetry: logRetry(options.log, where.text, where.context),
    });

  /** Runs `work` for `batch`, retried while its failure is transient; a permanent one names the batch. */
  const retried = async <T>(batch: PositionedBatch, work: () => Promise<T>): Promise<T> => {
    const where = describeBatch(batch);
    try {
      return await retriedAs(where, work, batch.maxRetryDelayMs);
    } catch (error) {
      throw asBatchFailure(error, where.position, signal);
    }
  };

  /** Counts a committed transaction of `batch`. */
  const committed = (batch: PositionedBatch, applied: AppliedBatch, started: number): void => {
    for (const k of Object.keys(totals) as (keyof ReplayTotals)[]) totals[k] += applied[k];
    options.onBatch?.({ ...totals });
    options.observer?.batchApplied({ topic: batch.topic, partition: batch.partition, applied, durationS: (performance.now() - started) / 1000 });
  };

  /** One partition's batch on its own: in as many transactions as TRANSACTION_LIMITS take. */
  const applyAlone = async (batch: PositionedBatch): Promise<BatchOutcome> => {
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

  /**
   * The work of one transaction: the batches' preludes, their messages (decoded: `decoded`, per batch), then
   * each one's skip past the records it holds nothing of.
   */
  const applyInTransaction = async (client: Session, batches: readonly PositionedBatch[], decoded: readonly (readonly DecodeResult[])[]): Promise<AppliedBatch[]> => {
    for (const batch of batches) await batch.prelude?.(client);
    const results = await applyKafkaBatches(client, batches.map((batch, i) => ({ topic: batch.topic, partition: batch.partition, messages: batch.messages, decoded: decoded[i] })), deps);
    for (const [i, batch] of batches.entries()) {
      const skipTo = batch.skipTo;
      if (skipTo === undefined) continue;
      const skipped = await skipAhead(client, options.projection, batch.topic, batch.partition, skipTo.from, skipTo.to);
      if (skipped.nextOffset !== undefined) results[i] = { ...results[i]!, nextOffset: skipped.nextOffset };
    }
    return results;
  };

  /** Applies `batch` (its messages decoded: `decoded`) in one transaction. */
  const applyOne = async (batch: PositionedBatch, decoded: readonly DecodeResult[]): Promise<BatchOutcome> => {
    const { topic, partition, messages } = batch;
    const started = performance.now();
    const work = async (): Promise<AppliedBatch | BatchOutcome> => {
      if (messages.length > 0) return (await withTransaction(db, (client) => applyInTransaction(client, [batch], [decoded])))[0]!;
      const skipTo = batch.skipTo;
      return skipTo ? withTransaction(db, (client) => skipAhead(client, options.projection, topic, partition, skipTo.from, skipTo.to)) : { nextOffset: undefined };
    };
    const done = await retried(batch, work);
    if (!('consumed' in done)) return done;
    committed(batch, done, started);
    return done;
  };

  /**
   * Batches handed over together (a fetch's partitions, which kafkajs delivers at once): in ONE transaction
   * when they are small (GROUP_LIMITS over all of them) and their workspaces are disjoint, so a fetch costs
   * one set of statements and one commit instead of one per partition; otherwise, or when that transaction
   * fails for good, each alone (which names the failing batch).
   */
  const applyGroup = async (group: readonly Waiting[]): Promise<void> => {
    const together = group.length > 1 ? await decodeTogether(group.map((w) => w.batch)) : undefined;
    if (together === undefined) {
      await Promise.all(group.map((w) => applyAlone(w.batch).then(w.resolve, w.reject)));
      return;
    }
    const batches = group.map((w) => w.batch);
    const started = performance.now();
    const wheres = batches.map(describeBatch);
    const where: Where = { text: wheres.map((w) => w.text).join(', '), context: { partitions: wheres.map((w) => w.context) } };
    const maxRetryDelayMs = Math.min(...batches.map((batch) => batch.maxRetryDelayMs ?? Number.POSITIVE_INFINITY));
    let applied: AppliedBatch[];
    try {
      applied = await retriedAs(
        where,
        () =>
          withTransaction(db, (client) => applyInTransaction(client, batches, together)),
        Number.isFinite(maxRetryDelayMs) ? maxRetryDelayMs : undefined,
      );
    } catch (error) {
      if (signal.aborted) {
        for (const [i, w] of group.entries()) w.reject(asBatchFailure(error, wheres[i]!.position, signal));
        return;
      }
      // Nothing of the group committed: each batch alone, so that the failure is its own.
      options.log.warn(`${where.text}: their shared transaction failed, applying each batch alone: ${(error as Error).message}`, { ...where.context, err: error });
      await Promise.all(group.map((w) => applyAlone(w.batch).then(w.resolve, w.reject)));
      return;
    }
    for (const [i, w] of group.entries()) {
      committed(w.batch, applied[i]!, started);
      w.resolve(applied[i]!);
    }
  };

  /**
   * The decode results of each batch when the batches can share one transaction: each has messages and no
   * prelude, each is of its own partition (they are planned against one read of the checkpoints), all of them
   * fit GROUP_LIMITS together, and no workspace is in two of them. Undefined otherwise (a writer schema that
   * cannot be fetched now included: each batch alone retries or fails on it).
   */
  const decodeTogether = async (batches: readonly PositionedBatch[]): Promise<DecodeResult[][] | undefined> => {
    if (batches.some((batch) => batch.messages.length === 0 || batch.prelude !== undefined)) return undefined;
    if (new Set(batches.map((batch) => partitionKey(batch.topic, batch.partition))).size < batches.length) return undefined;
    const messages = batches.flatMap((batch) => batch.messages);
    // Before decoding: what does not go together is decoded again alone.
    if (messages.length > GROUP_LIMITS.messages) return undefined;
    try {
      await decode.prepare(messages);
    } catch {
      return undefined;
    }
    const { end, decoded } = takeTransaction(messages, 0, decode, options.materialize, GROUP_LIMITS);
    if (end < messages.length) return undefined;
    const parts: DecodeResult[][] = [];
    const owner = new Map<number, number>();
    let offset = 0;
    for (const [index, batch] of batches.entries()) {
      const part = decoded.slice(offset, offset + batch.messages.length);
      offset += batch.messages.length;
      for (const outcome of part) {
        const id = workspaceOf(outcome);
        if (id === undefined) continue;
        if ((owner.get(id) ?? index) !== index) return undefined;
        owner.set(id, index);
      }
      parts.push(part);
    }
    return parts;
  };

  // Batches handed over in the same turn of the event loop (kafkajs: a fetch's partitions) go together; a
  // group never waits for another (the partitions of one still in flight go on alone, as they came).
  let queue: Waiting[] = [];
  const apply = (batch: PositionedBatch): Promise<BatchOutcome> =>
    new Promise((resolve, reject) => {
      queue.push({ batch, resolve, reject });
      if (queue.length > 1) return;
      setImmediate(() => {
        const group = queue;
        queue = [];
        // applyGroup settles each batch itself; this is for what it did not expect (an observer that threw).
        applyGroup(group).catch((error: unknown) => group.forEach((w) => w.reject(error)));
      });
    });
  return { apply, totals };
}

/** A batch waiting for its group. */
interface Waiting {
  batch: PositionedBatch;
  resolve: (outcome: BatchOutcome) => void;
  reject: (error: unknown) => void;
}

/** Where a batch is, for the retry log lines and its failure. */
interface Where {
  text: string;
  context: Record<string, unknown>;
}

function describeBatch(batch: PositionedBatch): Where & { position: { topic: string; partition: number; firstOffset: string; lastOffset: string } } {
  const { topic, partition, messages } = batch;
  const firstOffset = messages[0]?.offset ?? batch.skipTo?.from ?? '?';
  const lastOffset = batch.skipTo ? (BigInt(batch.skipTo.to) - 1n).toString() : (messages.at(-1)?.offset ?? '?');
  return {
    text: `${batch.label === undefined ? '' : `${batch.label} `}${partitionKey(topic, partition)} offsets ${firstOffset}..${lastOffset}`,
    context: { topic, partition, offset: firstOffset },
    position: { topic, partition, firstOffset, lastOffset },
  };
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
