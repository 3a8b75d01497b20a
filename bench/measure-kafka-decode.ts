/**
 * (a) The Kafka side's limit: consume the whole topic with kafkajs and decode every message with the
 * rebuilder's decoder (Avro + zod validation), nothing else. Consumer settings are the engine's
 * (src/sources/kafka/kafka-source.ts: fetch size per partition, partitions consumed concurrently), so the
 * difference to (d) is the engine's own work, not a different fetch pattern.
 *
 * Timed from before `connect` (group join included, as in the CLI) until the last message of every
 * partition has been decoded; the disconnect is not timed.
 */
import { MAX_BYTES_PER_PARTITION, PARTITIONS_CONSUMED_CONCURRENTLY } from '../src/sources/kafka/kafka-source.js';
import type { Kafka } from 'kafkajs';
import { createWorkspaceDecoder } from '../src/events/decode.js';

export interface KafkaDecodeResult {
  elapsedMs: number;
  /** From the first batch to the last decoded message (without connect and group join). */
  streamingMs: number;
  messages: number;
  bytes: number;
  decodeFailures: number;
  /** Time spent inside the decoder only. */
  decodeMs: number;
  batches: number;
}

export async function measureKafkaDecode(kafka: Kafka, topic: string, groupId: string): Promise<KafkaDecodeResult> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([partition]) => partition));

  const decode = createWorkspaceDecoder();
  const result: KafkaDecodeResult = { elapsedMs: 0, streamingMs: 0, messages: 0, bytes: 0, decodeFailures: 0, decodeMs: 0, batches: 0 };
  const started = performance.now();
  let firstBatchAt: number | undefined;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
    if (remaining.size === 0) resolve();
  });

  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: PARTITIONS_CONSUMED_CONCURRENTLY,
      eachBatch: async ({ batch }) => {
        firstBatchAt ??= performance.now();
        result.batches++;
        const t = performance.now();
        for (const message of batch.messages) {
          const decoded = decode({
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            timestamp: message.timestamp,
          });
          if (!decoded.ok) result.decodeFailures++;
          result.bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0);
        }
        result.decodeMs += performance.now() - t;
        result.messages += batch.messages.length;
        const last = batch.messages[batch.messages.length - 1];
        if (last && BigInt(last.offset) + 1n >= (ends.get(batch.partition) ?? 0n)) {
          remaining.delete(batch.partition);
          if (remaining.size === 0) {
            const now = performance.now();
            result.elapsedMs = now - started;
            result.streamingMs = now - (firstBatchAt ?? now);
            finish();
          }
        }
      },
    });
    await done;
  } finally {
    await consumer.disconnect();
  }
  return result;
}
