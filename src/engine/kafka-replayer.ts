/**
 * The Kafka replayer: consumes the workspace topics in a consumer group and applies each fetched batch
 * with applyKafkaBatch (one transaction per partition batch).
 *
 * Positions. PostgreSQL holds the truth (the checkpoints); Kafka's committed offsets are a copy made after
 * each PostgreSQL commit so that standard tools show the group's lag. On every assignment the consumer seeks
 * each partition to its PostgreSQL checkpoint (or the log start when it has none). A replay (`from`) first
 * rewrites the checkpoints to the requested offsets, then consumes as usual: events at or below a
 * workspace's folded version change nothing, so replaying is always safe.
 *
 * Modes:
 *   follow = false: stop once every partition's checkpoint reaches the high watermark read at start.
 *   follow = true:  run until `signal` aborts; then finish the batch in flight, commit, leave the group.
 *
 * Failures. A transient one inside a batch is retried here (retry.ts), logged each time; anything else
 * becomes a BatchFailedError, which kafkajs neither retries nor restarts on, and which ends the run.
 * Retention gaps: records deleted between our checkpoint and the log start were never applied; a replay
 * past them would leave those workspaces stale without a word, so it is refused, at start and whenever a
 * batch starts above the position we expected.
 */
import type { Admin, EachBatchPayload, Kafka } from 'kafkajs';
import { logRetry, type LogContext, type Logger } from '../ops/logger.js';
import type { Database } from '../sink/postgres/database.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { createWorkspaceDecoder, type WorkspaceDecoder } from '../events/decode.js';
import { logStartOffset, offsetsAtTimestamp, partitionKey, readPartitionRanges, type PartitionRange } from '../sources/kafka/kafka-client.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { readCheckpoints, saveCheckpoints, type Checkpoint } from '../sink/postgres/checkpoints.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { applyKafkaBatch, type AppliedBatch } from './apply-kafka-batch.js';
import type { ConsumerObserver } from './consumer-observer.js';
import { BatchFailedError, findBatchFailure, isTransient, retryTransient } from './retry.js';

export type ReplayStart =
  | { kind: 'checkpoints' }
  | { kind: 'beginning' }
  | { kind: 'timestamp'; timestampMs: number }
  | { kind: 'offsets'; offsets: { all: string } | { partitions: Map<number, string> } };

export interface ReplayOptions {
  kafka: Kafka;
  db: Database;
  projection: string;
  topics: string[];
  groupId: string;
  follow: boolean;
  start: ReplayStart;
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  /** The decoder (default: the package's schema catalog; --schemas chooses another). */
  decode?: WorkspaceDecoder | undefined;
  /** Generate rows per batch (default), or only fold (a rebuild materializes at the end). */
  materialize?: boolean;
  signal: AbortSignal;
  log: Logger;
  /** Called after each committed batch with the running totals. */
  onBatch?: (totals: ReplayTotals) => void;
  /** Told the assignment, positions and each committed batch (metrics, readiness). */
  observer?: ConsumerObserver | undefined;
  /** How many partitions are processed at once in this process (default 4: PostgreSQL work of one overlaps generation of another). */
  partitionsConsumedConcurrently?: number;
}

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

/** The consumer's session timeout: see the consumer's options below. */
const SESSION_TIMEOUT_MS = 6_000;

export async function runKafkaReplay(options: ReplayOptions): Promise<ReplayTotals> {
  const { kafka, db, projection, topics, log, signal, observer } = options;
  const totals: ReplayTotals = { consumed: 0, skipped: 0, written: 0, unchanged: 0, deleted: 0, parked: 0, held: 0, failed: 0 };
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ranges = await readPartitionRanges(admin, topics);
    await rewriteCheckpoints(admin, db, options, ranges);
    for (const c of await readCheckpoints(db, projection, topics)) {
      const range = ranges.find((r) => r.topic === c.topic && r.partition === c.partition);
      if (range !== undefined) assertNoRetentionGap(c.topic, c.partition, c.nextOffset, range.low);
    }
    const lowByPartition = new Map(ranges.map((r) => [partitionKey(r.topic, r.partition), r.low]));
    const decode = options.decode ?? createWorkspaceDecoder();

    // One consumer's life. A crash that kafkajs will not restart from, but that we call transient (the broker
    // or its group coordinator gone for longer than kafkajs' own retries), ends it; then a new consumer is
    // started with backoff, for as long as it takes: positions live in PostgreSQL, so nothing is lost or doubled.
    const consumeOnce = async (): Promise<void> => {
      const running = kafka.consumer({
        groupId: options.groupId,
        allowAutoTopicCreation: false,
        // After a kill -9 the coordinator waits one session timeout for the dead member before a restarted
        // process gets its partitions: 6 s is the broker's default minimum (group.min.session.timeout.ms).
        // The trade-off: a batch that blocks heartbeats longer than this (a stalled database) costs a
        // rebalance, which is harmless (PostgreSQL checkpoints), where 30 s would hide it.
        sessionTimeout: SESSION_TIMEOUT_MS,
        heartbeatInterval: 1_000,
        maxBytesPerPartition: 4 * 1024 * 1024,
        // An idle fetch long-polls this long; disconnecting and seeking wait for it (kafkajs' 5 s default
        // made every finite replay end 5 s late). A fetch still returns as soon as data arrives.
        maxWaitTimeInMs: 250,
        retry: {
          // Never kafkajs' own restart: it re-starts the same consumer from a timer, which a concurrent
          // disconnect does not always stop (seen in the fault suite: a follower that had finished kept running
          // after SIGTERM). Every crash ends this consumer; consumeOnce's caller decides (isTransient) whether a
          // new one starts, so there is one restart path and one classification.
          restartOnFailure: async () => false,
        },
      });
      // Group joins so far: an observer hears only the latest one's assignment, and none after the stop.
      let joins = 0;
      try {
        await running.connect();
        await running.subscribe({ topics, fromBeginning: true });

        // Seek each newly assigned partition to its PostgreSQL checkpoint (or the log start). On assignment,
        // because a partition with nothing new at Kafka's committed offset would never deliver a batch to
        // compare; and again before its first batch, in case a fetch from the old position was already on its way.
        const aligned = new Set<string>();
        const targetOf = async (topic: string, partition: number): Promise<string> =>
          (await readCheckpoints(db, projection, [topic])).find((c) => c.partition === partition)?.nextOffset ??
          lowByPartition.get(partitionKey(topic, partition)) ??
          '0';
        // Kafka starts a partition at the group's committed offset (the earliest without one); we commit there
        // after each PostgreSQL commit, so usually nothing needs to move, and a needless seek would throw away
        // the batches already being fetched.
        const kafkaStart = async (topic: string, partition: number): Promise<string> => {
          const committed = (await admin.fetchOffsets({ groupId: options.groupId, topics: [topic] }))[0]?.partitions.find(
            (p) => p.partition === partition,
          )?.offset;
          return committed !== undefined && BigInt(committed) >= 0n ? committed : (lowByPartition.get(partitionKey(topic, partition)) ?? '0');
        };
        running.on(running.events.GROUP_JOIN, ({ payload }) => {
          aligned.clear();
          const seeks = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
            partitions.map(async (partition) => {
              const target = await targetOf(topic, partition);
              if (BigInt(await kafkaStart(topic, partition)) !== BigInt(target)) running.seek({ topic, partition, offset: target });
              return { topic, partition, next: target };
            }),
          );
          const joined = Promise.all(seeks);
          joined.catch((error: Error) => log.warn(`could not seek to the PostgreSQL checkpoints: ${error.message}`, { err: error }));
          const join = ++joins;
          if (observer) {
            joined.then(async (assigned) => {
              const highs = await readPartitionRanges(admin, topics).then(
                (ranges) => new Map(ranges.map((r) => [partitionKey(r.topic, r.partition), r.high])),
                (error: Error) => {
                  log.warn(`could not read the high watermarks of the assigned partitions (their lag shows from their next batch): ${error.message}`, { err: error });
                  return new Map<string, string>();
                },
              );
              // A later join may have finished first: only the latest assignment counts.
              if (join === joins) observer.assigned(assigned.map((p) => ({ ...p, high: highs.get(partitionKey(p.topic, p.partition)) ?? p.next })));
            }, () => undefined);
          }
        });

        const crashed = new Promise<never>((_, reject) => {
          running.on(running.events.CRASH, ({ payload }) => {
            if (!payload.restart) reject(findBatchFailure(payload.error) ?? payload.error);
          });
        });
        crashed.catch(() => undefined);

        // The offset each partition's next batch should start at; above it, records may have been deleted.
        const expected = new Map<string, string>();
        const retrying = (what: string, context: LogContext, payload?: EachBatchPayload) => ({
          signal,
          // Inside a batch each retry heartbeats: waits well under the session timeout keep the membership
          // through a long outage (with 10 s waits a registry down for 20 s ended the run: UNKNOWN_MEMBER_ID).
          ...(payload === undefined ? {} : { maxDelayMs: SESSION_TIMEOUT_MS / 3 }),
          onRetry: (error: unknown, attempt: number, delayMs: number) => {
            logRetry(log, what, context)(error, attempt, delayMs);
            // Keep the group membership while the database is away (the session timeout is short).
            payload?.heartbeat().catch(() => undefined);
          },
        });

        const processBatch = async (payload: EachBatchPayload): Promise<void> => {
          const { batch } = payload;
          const started = performance.now();
          const key = partitionKey(batch.topic, batch.partition);
          const first = batch.firstOffset();
          if (!aligned.has(key)) {
            aligned.add(key);
            const target = await retryTransient(() => targetOf(batch.topic, batch.partition), retrying(key, { topic: batch.topic, partition: batch.partition }));
            expected.set(key, target);
            if (first !== null && BigInt(first) > BigInt(target)) await checkRetention(batch.topic, batch.partition, target);
            if (batch.messages.length === 0 || BigInt(first ?? '0') !== BigInt(target)) {
              // Fetched from Kafka's committed offset, which may differ from ours: start over at ours.
              running.seek({ topic: batch.topic, partition: batch.partition, offset: target });
              return;
            }
          }
          if (batch.messages.length === 0) return;
          // Only now: a batch fetched from a position we seeked away from must not move the lag.
          observer?.position({ topic: batch.topic, partition: batch.partition, next: batch.messages[0]!.offset, high: batch.highWatermark });
          // Above the expected offset: a transaction marker or compaction (harmless), or deleted records (a gap).
          const want = expected.get(key);
          if (want !== undefined && first !== null && BigInt(first) > BigInt(want)) {
            await checkRetention(batch.topic, batch.partition, await retryTransient(() => targetOf(batch.topic, batch.partition), retrying(key, { topic: batch.topic, partition: batch.partition })));
          }
          const messages = batch.messages.map((m) => ({ ...m, topic: batch.topic, partition: batch.partition }));
          const deps = { projection, decode, agentConfigMode: options.agentConfigMode, sink: options.sink, materialize: options.materialize ?? true };
          const applied: AppliedBatch = await retryTransient(
            async () => {
              // Schema registry fetches happen here, outside the transaction and its locks.
              await decode.prepare(messages);
              return withTransaction(db, (client) => applyKafkaBatch(client, { topic: batch.topic, partition: batch.partition, messages }, deps));
            },
            retrying(`${key} offsets ${first}..${batch.lastOffset()}`, { topic: batch.topic, partition: batch.partition, offset: first }, payload),
          );
          const last = batch.messages[batch.messages.length - 1]!.offset;
          payload.resolveOffset(last);
          expected.set(key, applied.nextOffset ?? (BigInt(last) + 1n).toString());
          for (const k of Object.keys(totals) as (keyof ReplayTotals)[]) totals[k] += applied[k];
          options.onBatch?.({ ...totals });
          observer?.batchApplied({ topic: batch.topic, partition: batch.partition, applied, durationS: (performance.now() - started) / 1000 });
          observer?.position({ topic: batch.topic, partition: batch.partition, next: expected.get(key)!, high: batch.highWatermark });
          if (applied.nextOffset !== undefined) {
            // A copy for kafka-consumer-groups; PostgreSQL already holds the truth, so a failure here only delays lag display.
            await running
              .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: applied.nextOffset }])
              .catch((error: Error) =>
                log.warn(`${key}: could not commit offset ${applied.nextOffset} to Kafka: ${error.message}`, { topic: batch.topic, partition: batch.partition, offset: applied.nextOffset, err: error }),
              );
          }
          await payload.heartbeat();
        };

        const checkRetention = async (topic: string, partition: number, checkpoint: string): Promise<void> => {
          const low = await retryTransient(() => logStartOffset(admin, topic, partition), retrying(partitionKey(topic, partition), { topic, partition }));
          if (low !== undefined) assertNoRetentionGap(topic, partition, checkpoint, low);
        };

        await running.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 4,
          eachBatch: async (payload: EachBatchPayload) => {
            // A batch fetched before a seek or a rebalance belongs to a position we no longer hold.
            if (payload.isStale() || !payload.isRunning()) return;
            try {
              await processBatch(payload);
            } catch (error) {
              // kafkajs' rebalance errors while heartbeating are its own to handle (it re-joins).
              if (isTransient(error) && !signal.aborted) throw error;
              const { batch } = payload;
              throw findBatchFailure(error) ?? new BatchFailedError(batch.topic, batch.partition, batch.firstOffset() ?? '?', batch.lastOffset(), error);
            }
          },
        });
        const finished = options.follow ? abortPromise(signal) : caughtUp(db, projection, ranges, signal);
        await Promise.race([finished, crashed]);
      } finally {
        joins++;
        observer?.stopped();
        await running.disconnect();
      }
    };
    await retryTransient(consumeOnce, {
      signal,
      onRetry: (error, attempt, delayMs) =>
        log.warn(`kafka consumer stopped (attempt ${attempt}), starting a new one in ${delayMs} ms: ${(error as Error).message}`, { attempt, delayMs, err: error }),
    });
    return totals;
  } finally {
    await admin.disconnect();
  }
}

/** Records deleted between the checkpoint and the log start were never applied: refuse (permanent). */
export class RetentionGapError extends Error {
  override readonly name = 'RetentionGapError';
  readonly retriable = false;
}

function assertNoRetentionGap(topic: string, partition: number, checkpoint: string, logStart: string): void {
  if (BigInt(checkpoint) >= BigInt(logStart)) return;
  throw new RetentionGapError(
    `${topic}[${partition}]: the checkpoint is at offset ${checkpoint} but the log now starts at ${logStart}: ` +
      `records ${checkpoint}..${BigInt(logStart) - 1n} were deleted (retention) before they were applied; ` +
      `rebuild with --source snapshot`,
  );
}

/** For a replay, moves the PostgreSQL checkpoints to the requested start before anything is consumed. */
async function rewriteCheckpoints(admin: Admin, db: Database, options: ReplayOptions, ranges: PartitionRange[]): Promise<void> {
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

/** Resolves once every partition's checkpoint has reached the high watermark read at start. */
async function caughtUp(db: Database, projection: string, ranges: PartitionRange[], signal: AbortSignal): Promise<void> {
  const topics = [...new Set(ranges.map((r) => r.topic))];
  while (!signal.aborted) {
    const read = await retryTransient(() => readCheckpoints(db, projection, topics), { signal });
    const checkpoints = new Map(read.map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
    const behind = ranges.filter((r) => BigInt(checkpoints.get(partitionKey(r.topic, r.partition)) ?? r.low) < BigInt(r.high));
    if (behind.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
