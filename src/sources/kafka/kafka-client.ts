/**
 * The Kafka side: one kafkajs client per process, with its logs routed to our logger, and the admin
 * reads the replayer needs (watermarks, offsets by time, topic configs).
 */
import { Kafka, logLevel, type LogEntry, type Admin } from 'kafkajs';
import type { Logger } from '../../ops/logger.js';

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  log: Logger;
}

export function createKafka(options: KafkaClientOptions): Kafka {
  return new Kafka({
    clientId: options.clientId ?? 'rebuild-projection',
    brokers: options.brokers,
    // WARN and above reach our logger, one line each (a broker gone, a crash and restart). INFO and below are
    // per-connection chatter.
    logLevel: logLevel.WARN,
    // Fail fast on a wrong address instead of kafkajs' default ~30 s of silent retries at startup.
    connectionTimeout: 3_000,
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    logCreator: () => (entry: LogEntry) => logKafkaEntry(options.log, entry),
  });
}

/**
 * A kafkajs log entry as one line of ours: its namespace (`kafkajs`) and fields (broker, groupId, retry
 * counts …) as context. Nothing for the entries that only echo an error the replayer reports itself: what
 * eachBatch threw, and the consumer's crash (the replayer logs a restart's cause and fails the run on a
 * crash that does not restart).
 */
export function logKafkaEntry(log: Logger, { namespace, level, log: entry }: LogEntry): void {
  // kafkajs' timestamp and logger name duplicate ours; its stack traces belong to REBUILD_PROJECTION_DEBUG.
  const { message, timestamp: _timestamp, logger: _logger, stack: _stack, ...fields } = entry;
  if (message === 'Error when calling eachBatch' || message.startsWith('Crash: ')) return;
  const error = typeof fields.error === 'string' && !message.includes(fields.error) ? `: ${fields.error}` : '';
  const line = `kafka ${namespace}: ${message}${error}`.replace(/\s*\n\s*/g, ' ');
  const context = { kafkajs: namespace, ...fields };
  if (level === logLevel.ERROR) log.error(line, context);
  else if (level === logLevel.WARN) log.warn(line, context);
  else if (level === logLevel.INFO) log.info(line, context);
  else log.debug(line, context);
}

export interface PartitionRange {
  topic: string;
  partition: number;
  /** Log start offset (the earliest still held). */
  low: string;
  /** High watermark: the offset the next message will get. */
  high: string;
}

/** The log start offset of one partition (it moves as retention deletes records). */
export async function logStartOffset(admin: Admin, topic: string, partition: number): Promise<string | undefined> {
  return (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)?.low;
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
