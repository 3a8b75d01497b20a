/**
 * The Kafka source: consumes the workspace topics in a consumer group and hands the engine (ApplyBatch)
 * one positioned batch per fetched topic partition. It owns everything that is Kafka's:
 *
 * Positions. PostgreSQL holds the truth (the checkpoints); Kafka's committed offsets are a copy made after
 * each PostgreSQL commit so that standard tools show the group's lag. On every assignment the consumer seeks
 * each partition to its PostgreSQL checkpoint (or the log start when it has none), and again before a
 * partition's first batch, which may have been fetched from the old position. A batch fetched before a seek
 * or a rebalance (stale) is dropped.
 *
 * Life. Each consumer ends on any crash (never kafkajs' own restart); a transient one (the broker or its
 * coordinator gone longer than kafkajs' retries) starts a new consumer with backoff, for as long as it
 * takes; anything else ends the run. Retention gaps are refused at start and whenever a batch starts above
 * the offset we expected.
 *
 * Modes: follow = false stops once every partition's checkpoint reaches the high watermark read at start;
 * follow = true runs until `signal` aborts, then finishes the batch in flight, commits and leaves the group.
 *
 * What it tells the observer: the assignment (after the seeks), each partition's position when a batch
 * arrives and commits, past transaction markers (END_BATCH_PROCESS: kafkajs never hands a batch of only
 * markers or aborted records to eachBatch), and every LAG_REFRESH_MS the high watermarks, so a lag grows
 * while a batch is stuck in retries.
 */
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { logRetry, type Logger } from '../../ops/logger.js';
import type { ConsumerObserver, PartitionPosition } from '../../engine/consumer-observer.js';
import { asBatchFailure, findBatchFailure, retryTransient, type RetryOptions } from '../../engine/retry.js';
import { readCheckpoints } from '../../sink/postgres/checkpoints.js';
import type { Database } from '../../sink/postgres/database.js';
import type { ApplyBatch } from '../positioned-batch.js';
import { logStartOffset, partitionKey, readPartitionRanges, withKafkaAdmin, type PartitionRange } from './kafka-client.js';
import { OffsetCopies } from './offset-copies.js';
import { assertNoRetentionGap, rewriteCheckpoints, type ReplayStart } from './start-positions.js';

export interface KafkaSourceOptions {
  kafka: Kafka;
  db: Database;
  projection: string;
  topics: string[];
  groupId: string;
  follow: boolean;
  start: ReplayStart;
  signal: AbortSignal;
  log: Logger;
  /** Told the assignment, positions and each committed batch (metrics, readiness, the heartbeat). */
  observer?: ConsumerObserver | undefined;
  /** Partitions processed at once in this process (default PARTITIONS_CONSUMED_CONCURRENTLY). */
  partitionsConsumedConcurrently?: number;
}

/**
 * The consumer's settings. After a kill -9 the coordinator waits one session timeout for the dead member
 * before a restarted process gets its partitions: 6 s is the broker's default minimum
 * (group.min.session.timeout.ms). A batch that blocks heartbeats longer costs a rebalance, which is harmless
 * (PostgreSQL checkpoints), where 30 s would hide it.
 */
export const SESSION_TIMEOUT_MS = 6_000;
const HEARTBEAT_INTERVAL_MS = 1_000;
/**
 * Up to this much of one partition per fetch (kafkajs' default). A bound for memory: with 4 partitions in flight,
 * 4 MB held 30–39 MB of fetch buffers, and a Kafka rebuild measured no slower with 1 MB.
 */
export const MAX_BYTES_PER_PARTITION = 1024 * 1024;
/** PostgreSQL work of one partition's batch overlaps generation of another's. */
export const PARTITIONS_CONSUMED_CONCURRENTLY = 4;
/** How often the high watermarks are read for the lag while joined (only with an observer). */
export const LAG_REFRESH_MS = 5_000;

export async function runKafkaSource(options: KafkaSourceOptions, apply: ApplyBatch): Promise<void> {
  const { kafka, db, projection, topics, log, signal } = options;
  await withKafkaAdmin(kafka, async (admin) => {
    const ranges = await readPartitionRanges(admin, topics);
    await rewriteCheckpoints(admin, db, options, ranges);
    for (const c of await readCheckpoints(db, projection, topics)) {
      const range = ranges.find((r) => r.topic === c.topic && r.partition === c.partition);
      if (range !== undefined) assertNoRetentionGap(c.topic, c.partition, c.nextOffset, range.low);
    }
    await retryTransient(() => new ConsumerRun(options, admin, ranges, apply).run(), {
      signal,
      onRetry: (error, attempt, delayMs) =>
        log.warn(`kafka consumer stopped (attempt ${attempt}), starting a new one in ${delayMs} ms: ${(error as Error).message}`, { attempt, delayMs, err: error }),
    });
  });
}

/** One consumer's life, from connect to disconnect. */
class ConsumerRun {
  private readonly consumer: Consumer;
  private readonly lowByPartition: Map<string, string>;
  /** Partitions whose position was compared with PostgreSQL's since the latest join. */
  private readonly aligned = new Set<string>();
  /** The offset each partition's next batch should start at; above it, records may have been deleted. */
  private readonly expected = new Map<string, string>();
  /** The latest assignment's positions, for the lag refresh. */
  private readonly assignment = new Map<string, PartitionPosition>();
  /** Group joins so far: an observer hears only the latest one's assignment, and none after the stop. */
  private joins = 0;
  private fail: (error: unknown) => void = () => undefined;
  /** Checkpoint moves past transaction markers, started outside kafkajs' batch loop: awaited before the end. */
  private readonly skips = new Set<Promise<void>>();
  /** Kafka's copy of the checkpoints, for the lag tools. */
  private readonly copies: OffsetCopies;

  constructor(
    private readonly options: KafkaSourceOptions,
    private readonly admin: Admin,
    private readonly ranges: PartitionRange[],
    private readonly apply: ApplyBatch,
  ) {
    this.lowByPartition = new Map(ranges.map((r) => [partitionKey(r.topic, r.partition), r.low]));
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      // An idle fetch long-polls this long; disconnecting and seeking wait for it (kafkajs' 5 s default
      // made every finite replay end 5 s late). A fetch still returns as soon as data arrives.
      maxWaitTimeInMs: 250,
      retry: {
        // Never kafkajs' own restart: it re-starts the same consumer from a timer, which a concurrent
        // disconnect does not always stop (seen in the fault suite: a follower that had finished kept running
        // after SIGTERM). Every crash ends this consumer; runKafkaSource decides (isTransient) whether a new
        // one starts, so there is one restart path and one classification.
        restartOnFailure: async () => false,
      },
    });
    this.copies = new OffsetCopies((offsets) => this.consumer.commitOffsets(offsets), options.log);
  }

  async run(): Promise<void> {
    const { consumer, options } = this;
    const { signal } = options;
    const failed = new Promise<never>((_, reject) => (this.fail = reject));
    failed.catch(() => undefined);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(findBatchFailure(payload.error) ?? payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.joined(payload.memberAssignment));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      // Only the batches kafkajs withholds from eachBatch: nothing in them but markers or aborted records.
      if (payload.batchSize === 0) this.skipped(payload.topic, payload.partition, payload.firstOffset, payload.lastOffset, payload.highWatermark);
    });
    const refresh = options.observer && setInterval(() => void this.refreshLag(), LAG_REFRESH_MS);
    refresh?.unref();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: options.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? PARTITIONS_CONSUMED_CONCURRENTLY,
        eachBatch: async (payload) => {
          // A batch fetched before a seek or a rebalance belongs to a position we no longer hold.
          if (payload.isStale() || !payload.isRunning()) return;
          try {
            await this.batch(payload);
          } catch (error) {
            // kafkajs' rebalance errors while heartbeating are its own to handle (it re-joins).
            const { batch } = payload;
            throw asBatchFailure(error, { topic: batch.topic, partition: batch.partition, firstOffset: batch.firstOffset() ?? '?', lastOffset: batch.lastOffset() }, signal);
          }
        },
      });
      const finished = options.follow ? abortPromise(signal) : caughtUp(options.db, options.projection, this.ranges, signal);
      await Promise.race([finished, failed]);
    } finally {
      clearInterval(refresh);
      await Promise.allSettled(this.skips);
      await this.copies.sent();
      this.joins++;
      options.observer?.stopped();
      await consumer.disconnect();
    }
  }

  private retrying(key: string, context: { topic: string; partition: number }): RetryOptions {
    return { signal: this.options.signal, onRetry: logRetry(this.options.log, key, context) };
  }

  /** Where PostgreSQL says the partition goes on (its checkpoint, else the log start). */
  private async target(topic: string, partition: number): Promise<string> {
    const checkpoint = (await readCheckpoints(this.options.db, this.options.projection, [topic])).find((c) => c.partition === partition)?.nextOffset;
    return checkpoint ?? this.lowByPartition.get(partitionKey(topic, partition)) ?? '0';
  }

  /**
   * Where Kafka starts the partition: the group's committed offset (the earliest without one). We commit
   * there after each PostgreSQL commit, so usually nothing needs to move, and a needless seek would throw
   * away the batches already being fetched.
   */
  private async kafkaStart(topic: string, partition: number): Promise<string> {
    const committed = (await this.admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] }))[0]?.partitions.find((p) => p.partition === partition)?.offset;
    return committed !== undefined && BigInt(committed) >= 0n ? committed : (this.lowByPartition.get(partitionKey(topic, partition)) ?? '0');
  }

  /**
   * A group join: seek each assigned partition to its PostgreSQL position (because a partition with nothing
   * new at Kafka's committed offset would never deliver a batch to compare), then tell the observer. Reads
   * that fail transiently are retried (a join must not leave /readyz at 503 until the next rebalance); a
   * permanent failure ends this consumer.
   */
  private joined(memberAssignment: Record<string, number[]>): void {
    this.aligned.clear();
    this.copies.keepOnly(new Set(Object.entries(memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => partitionKey(topic, p)))));
    const join = ++this.joins;
    const { log, observer, signal } = this.options;
    const seek = async (topic: string, partition: number): Promise<PartitionPosition> => {
      const [target, start] = await Promise.all([this.target(topic, partition), this.kafkaStart(topic, partition)]);
      if (BigInt(start) !== BigInt(target)) this.consumer.seek({ topic, partition, offset: target });
      return { topic, partition, next: target, high: target };
    };
    const align = () => Promise.all(Object.entries(memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => seek(topic, p))));
    const highs = () =>
      readPartitionRanges(this.admin, this.options.topics).then(
        (ranges) => new Map(ranges.map((r) => [partitionKey(r.topic, r.partition), r.high])),
        (error: Error) => {
          log.warn(`could not read the high watermarks of the assigned partitions (their lag shows from their next batch): ${error.message}`, { err: error });
          return new Map<string, string>();
        },
      );
    retryTransient(align, { signal, onRetry: logRetry(log, 'seeking the assigned partitions to the PostgreSQL checkpoints') })
      .then(async (assigned) => {
        const high = observer ? await highs() : new Map<string, string>();
        // A later join may have finished first: only the latest assignment counts.
        if (join !== this.joins) return;
        const positions = assigned.map((p) => ({ ...p, high: high.get(partitionKey(p.topic, p.partition)) ?? p.next }));
        this.assignment.clear();
        for (const p of positions) this.assignment.set(partitionKey(p.topic, p.partition), p);
        observer?.assigned(positions);
      })
      .catch((error: unknown) => {
        if (!signal.aborted) this.fail(error);
      });
  }

  private async batch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const key = partitionKey(topic, partition);
    const first = batch.firstOffset();
    if (!this.aligned.has(key)) {
      this.aligned.add(key);
      const target = await retryTransient(() => this.target(topic, partition), this.retrying(key, { topic, partition }));
      this.expected.set(key, target);
      if (first !== null && BigInt(first) > BigInt(target)) await this.checkRetention(topic, partition, target);
      if (batch.messages.length === 0 || BigInt(first ?? '0') !== BigInt(target)) {
        // Fetched from Kafka's committed offset, which may differ from ours: start over at ours.
        this.consumer.seek({ topic, partition, offset: target });
        return;
      }
    }
    if (batch.messages.length === 0) return;
    // Only now: a batch fetched from a position we seeked away from must not move the lag.
    this.report({ topic, partition, next: batch.messages[0]!.offset, high: batch.highWatermark });
    // Above the expected offset: a transaction marker or compaction (harmless), or deleted records (a gap).
    const want = this.expected.get(key);
    if (want !== undefined && first !== null && BigInt(first) > BigInt(want)) {
      await this.checkRetention(topic, partition, await retryTransient(() => this.target(topic, partition), this.retrying(key, { topic, partition })));
    }
    const messages = batch.messages.map((m) => ({ ...m, topic, partition }));
    const last = batch.messages[batch.messages.length - 1]!.offset;
    // Records after the last message that kafkajs filtered out (a commit marker, aborted records).
    const end = (BigInt(batch.lastOffset()) + 1n).toString();
    // Heartbeats while the batch applies, so a long one (a lock wait, a slow database) keeps the membership;
    // a failed one here is a lost membership, which the heartbeat after the commit reports to kafkajs.
    const beating = setInterval(() => void payload.heartbeat().catch(() => undefined), HEARTBEAT_INTERVAL_MS);
    const outcome = await this.apply({
      topic,
      partition,
      messages,
      ...(BigInt(end) > BigInt(last) + 1n && { skipTo: { from: (BigInt(last) + 1n).toString(), to: end } }),
      // Retry waits stay well under the session timeout: with 10 s waits a registry down for 20 s ended the
      // run (UNKNOWN_MEMBER_ID).
      maxRetryDelayMs: SESSION_TIMEOUT_MS / 3,
    }).finally(() => clearInterval(beating));
    payload.resolveOffset(last);
    this.committed(topic, partition, outcome.nextOffset ?? (BigInt(last) + 1n).toString(), batch.highWatermark, outcome.nextOffset);
    // Stopping: kafkajs leaves the group once this batch returns, and a copy sent after that is refused.
    if (!payload.isRunning()) await this.copies.sent();
    await payload.heartbeat();
  }

  /**
   * A fetched batch of only transaction markers or aborted records, which kafkajs resolves itself and never
   * hands to eachBatch: the checkpoint moves past it when it covers the position we expected, so the lag
   * and a replay's catch-up reach the end.
   */
  private skipped(topic: string, partition: number, first: string | null, last: string, high: string): void {
    const key = partitionKey(topic, partition);
    // Such a batch may be the partition's first since the join: it never passes through the alignment.
    const want = this.expected.get(key) ?? this.assignment.get(key)?.next;
    const to = (BigInt(last) + 1n).toString();
    if (first === null || want === undefined || BigInt(first) > BigInt(want) || BigInt(to) <= BigInt(want)) return;
    const skip = this.apply({ topic, partition, messages: [], skipTo: { from: want, to } })
      .then((outcome) => {
        if (outcome.nextOffset !== undefined) this.committed(topic, partition, outcome.nextOffset, high, outcome.nextOffset);
      })
      .catch((error: unknown) => {
        if (!this.options.signal.aborted) this.fail(error);
      })
      .finally(() => this.skips.delete(skip));
    this.skips.add(skip);
  }

  /** After a PostgreSQL commit: the expected position, the observer, and the copy in Kafka (`commit`). */
  private committed(topic: string, partition: number, next: string, high: string, commit: string | undefined): void {
    const key = partitionKey(topic, partition);
    this.expected.set(key, next);
    this.report({ topic, partition, next, high });
    if (commit === undefined) return;
    this.copies.add({ topic, partition, offset: commit });
  }

  private report(position: PartitionPosition): void {
    const key = partitionKey(position.topic, position.partition);
    const known = this.assignment.get(key);
    if (known) this.assignment.set(key, { ...known, next: position.next, high: position.high });
    this.options.observer?.position(position);
  }

  /** The high watermarks of the assigned partitions, independent of batches (a stuck batch's lag grows). */
  private async refreshLag(): Promise<void> {
    if (this.assignment.size === 0) return;
    try {
      const join = this.joins;
      const ranges = await readPartitionRanges(this.admin, this.options.topics);
      if (join !== this.joins) return;
      for (const r of ranges) {
        const known = this.assignment.get(partitionKey(r.topic, r.partition));
        if (known) this.report({ ...known, high: r.high });
      }
    } catch (error) {
      this.options.log.warn(`could not read the high watermarks for the lag (retried in ${LAG_REFRESH_MS / 1000} s): ${(error as Error).message}`, { err: error });
    }
  }

  private async checkRetention(topic: string, partition: number, checkpoint: string): Promise<void> {
    const low = await retryTransient(() => logStartOffset(this.admin, topic, partition), this.retrying(partitionKey(topic, partition), { topic, partition }));
    if (low !== undefined) assertNoRetentionGap(topic, partition, checkpoint, low);
  }
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
