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
    // WARN and above reach our log, one line each (a broker gone, a crash and restart). INFO and below are
    // per-connection chatter.
    logLevel: logLevel.WARN,
    // Fail fast on a wrong address instead of kafkajs' default ~30 s of silent retries at startup.
    connectionTimeout: 3_000,
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    logCreator: () => (entry: LogEntry) => {
      const line = kafkaLogLine(entry);
      if (line !== undefined) options.log(line);
    },
  });
}

/**
 * One line for a kafkajs log entry, or undefined for the entries that only echo an error the replayer
 * reports itself: what eachBatch threw, and the consumer's crash (the replayer logs a restart's cause in
 * `restartOnFailure` and fails the run on a crash that does not restart).
 */
export function kafkaLogLine({ namespace, label, log }: LogEntry): string | undefined {
  if (log.message === 'Error when calling eachBatch' || log.message.startsWith('Crash: ')) return undefined;
  const error = 'error' in log && typeof log.error === 'string' && !log.message.includes(log.error) ? `: ${log.error}` : '';
  return `kafka ${label} ${namespace}: ${log.message}${error}`.replace(/\s*\n\s*/g, ' ');
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
