/**
 * The Kafka side: one kafkajs client per process, with its logs routed to our logger, and the admin
 * reads the replayer needs (watermarks, offsets by time, topic configs).
 */
import { Kafka, logLevel, type LogEntry, type Admin } from 'kafkajs';

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  log: (line: string) => void;
}

export function createKafka(options: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: options.clientId ?? 'rebuild-projection',
    brokers: options.brokers,
    // kafkajs logs every retried broker error at ERROR level (a coordinator loading, a rebalance); they are
    // noise to operators, and a failure that outlives the retries is thrown and reported. KAFKAJS_LOG_LEVEL
    // (read by kafkajs itself) turns its logs back on for debugging.
    logLevel: logLevel.NOTHING,
    // Fail fast on a wrong address instead of kafkajs' default ~30 s of silent retries at startup.
    connectionTimeout: 3_000,
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    logCreator:
      () =>
      ({ namespace, log }: LogEntry) =>
        options.log(`kafka ${namespace}: ${log.message}`),
  });
}

export interface PartitionRange {
  topic: string;
  partition: number;
  /** Log start offset (the earliest still held). */
  low: string;
  /** High watermark: the offset the next message will get. */
  high: string;
}

/** Watermarks of every partition of `topics`. Fails with a clear message for a missing topic. */
export async function readPartitionRanges(admin: Admin, topics: readonly string[]): Promise<PartitionRange[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  if (missing.length > 0) throw new KafkaTopicMissingError(`topic${missing.length > 1 ? 's' : ''} not found on the broker: ${missing.join(', ')}`);
  const ranges: PartitionRange[] = [];
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      ranges.push({ topic, partition: p.partition, low: p.low, high: p.high });
    }
  }
  return ranges;
}

/** Per partition, the first offset whose timestamp is at or after `timestampMs` (the high watermark if none). */
export async function offsetsAtTimestamp(admin: Admin, topics: readonly string[], timestampMs: number): Promise<Map<string, string>> {
  const offsets = new Map<string, string>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs)) {
      offsets.set(partitionKey(topic, p.partition), p.offset);
    }
  }
  return offsets;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export class KafkaTopicMissingError extends Error {
  override readonly name = 'KafkaTopicMissingError';
}
