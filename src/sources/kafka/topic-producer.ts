/**
 * Produces keyed messages to one topic in batches that the broker accepts: every partition's record batch
 * within the topic's `max.message.bytes` (the broker's `message.max.bytes` unless the topic overrides it;
 * the admin client reads the effective value). kafkajs puts all of one send's messages for a partition into
 * one record batch, so an unbounded send fails with MESSAGE_TOO_LARGE; here each message's partition is
 * chosen up front with the Java client's partitioner (murmur2 of the key, so a Java producer that takes over
 * puts a workspace's later events on the same partition) and the sends are cut to fit.
 */
import kafkajs, { type Admin, type Kafka, type Producer } from 'kafkajs';
import { readPartitionRanges, withKafkaAdmin } from './kafka-client.js';

// kafkajs is CommonJS: only some of its exports are visible as ESM named exports.
const { ConfigResourceTypes, Partitioners } = kafkajs;

export interface KeyedMessage {
  /** Named in errors (e.g. the workspace id). */
  label: string;
  key: Buffer;
  value: Buffer;
}

/** Kafka's v2 record batch header, and a bound on one record's framing (length, attributes, deltas, key/value lengths, header count varints). */
const RECORD_BATCH_OVERHEAD = 61;
const RECORD_OVERHEAD = 32;
/** One produce request carries at most this much (the broker's socket.request.max.bytes is 100 MiB). */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/** The bytes a message adds to an uncompressed record batch, at most. */
export function recordBytes(message: Pick<KeyedMessage, 'key' | 'value'>): number {
  return message.key.length + message.value.length + RECORD_OVERHEAD;
}

/**
 * Cuts messages (in order) into sends in which each partition's batch stays within `maxBatchBytes` and the
 * whole send within `maxRequestBytes`. A message that alone exceeds the batch limit is a MessageTooLargeError.
 */
export function planSends<M extends Pick<KeyedMessage, 'label' | 'key' | 'value'> & { partition: number }>(
  messages: readonly M[],
  maxBatchBytes: number,
  topic: string,
  maxRequestBytes = MAX_REQUEST_BYTES,
): M[][] {
  const sends: M[][] = [];
  let current: M[] = [];
  let perPartition = new Map<number, number>();
  let total = 0;
  for (const message of messages) {
    const bytes = recordBytes(message);
    if (RECORD_BATCH_OVERHEAD + bytes > maxBatchBytes) {
      throw new MessageTooLargeError(
        `${message.label}: its event is ${RECORD_BATCH_OVERHEAD + bytes} bytes as a record batch, over max.message.bytes ${maxBatchBytes} of topic ${topic}: ` +
          `raise the topic's max.message.bytes (kafka-configs --alter --add-config max.message.bytes=…)`,
      );
    }
    const batch = (perPartition.get(message.partition) ?? RECORD_BATCH_OVERHEAD) + bytes;
    if (current.length > 0 && (batch > maxBatchBytes || total + bytes > maxRequestBytes)) {
      sends.push(current);
      current = [];
      perPartition = new Map();
      total = 0;
    }
    current.push(message);
    perPartition.set(message.partition, (perPartition.get(message.partition) ?? RECORD_BATCH_OVERHEAD) + bytes);
    total += bytes;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

export class MessageTooLargeError extends Error {
  override readonly name = 'MessageTooLargeError';
}

/** The topic already holds messages and the caller did not say to add to them. */
export class TopicNotEmptyError extends Error {
  override readonly name = 'TopicNotEmptyError';
}

export interface TopicProducer {
  /** The topic's effective max.message.bytes. */
  readonly maxBatchBytes: number;
  /** Produces the messages (acks from all in-sync replicas), in as many sends as the limit needs. */
  send(messages: readonly KeyedMessage[]): Promise<void>;
  /** Messages acknowledged so far, and the produce requests they took. */
  readonly produced: { messages: number; requests: number };
  disconnect(): Promise<void>;
}

/**
 * Checks the topic (it must exist; it must be empty unless `append`), reads its message size limit and
 * partitions, and connects a producer.
 */
export async function openTopicProducer(kafka: Kafka, topic: string, options: { append: boolean }): Promise<TopicProducer> {
  const { maxBatchBytes, partitionMetadata } = await withKafkaAdmin(kafka, async (admin) => {
    const ranges = await readPartitionRanges(admin, [topic]);
    const held = ranges.filter((r) => BigInt(r.high) > BigInt(r.low)).sort((a, b) => a.partition - b.partition);
    if (held.length > 0 && !options.append) {
      const count = held.reduce((sum, r) => sum + (BigInt(r.high) - BigInt(r.low)), 0n);
      throw new TopicNotEmptyError(
        `topic ${topic} already holds ${count} messages (${held.map((r) => `[${r.partition}] ${r.low}..${BigInt(r.high) - 1n}`).join(', ')}): ` +
          `exporting would add a second create per workspace after them; use a new topic, or --append (e.g. to finish an interrupted export)`,
      );
    }
    return { maxBatchBytes: await readMaxMessageBytes(admin, topic), partitionMetadata: (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions };
  });
  const partitioner = Partitioners.DefaultPartitioner();
  // Not idempotent: a send retried after a lost acknowledgement may write a message twice, and for full-row
  // creates that is harmless (the second one, at or below the folded version, changes nothing).
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const produced = { messages: 0, requests: 0 };
  return {
    maxBatchBytes,
    produced,
    send: async (messages) => {
      const placed = messages.map((m) => ({ ...m, partition: partitioner({ topic, partitionMetadata, message: { key: m.key, value: m.value } }) }));
      for (const send of planSends(placed, maxBatchBytes, topic)) {
        await producer.send({ topic, acks: -1, messages: send.map(({ key, value, partition }) => ({ key, value, partition })) });
        produced.messages += send.length;
        produced.requests += 1;
      }
    },
    disconnect: () => producer.disconnect(),
  };
}

async function readMaxMessageBytes(admin: Admin, topic: string): Promise<number> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
  });
  const value = resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue;
  const bytes = Number(value);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`topic ${topic}: unexpected max.message.bytes ${JSON.stringify(value)}`);
  return bytes;
}
