/**
 * Creates a fresh topic and produces a workload's event stream into it, as Confluent-framed Avro (the
 * current schema id) keyed by workspace id with the Java client's partitioner, like a real producer.
 *
 * Memory: events are generated, encoded and sent about 1 MB at a time (each send awaited), so the producer
 * holds one send's worth of messages. The per-workspace plans needed by the updates are small (no devfile)
 * and regenerated on demand. The topic keeps everything for the run (retention.ms = retention.bytes = -1).
 */
import type { Kafka, Message } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import { encodeAvro, encodeKey } from '../src/events/encode.js';
import { benchAgents, eventStream, planEvent, planWorkspace, type DevfileSource, type WorkloadSpec } from './workload.js';

/** About what librdkafka-based producers put in one request (batch.size 1 MB). */
const SEND_BYTES = 1024 * 1024;

export interface LoadedTopic {
  topic: string;
  messages: number;
  /** Key + value bytes of every message. */
  bytes: number;
  elapsedMs: number;
}

export async function createBenchTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: partitions,
          replicationFactor: 1,
          configEntries: [
            { name: 'retention.ms', value: '-1' },
            { name: 'retention.bytes', value: '-1' },
            { name: 'max.message.bytes', value: String(8 * 1024 * 1024) },
          ],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteBenchTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

export async function produceWorkload(
  kafka: Kafka,
  topic: string,
  spec: WorkloadSpec,
  devfiles: boolean | DevfileSource = true,
  onProgress?: (sent: number) => void,
): Promise<LoadedTopic> {
  const started = performance.now();
  const agents = benchAgents();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  let messages = 0;
  let bytes = 0;
  try {
    let pending: Message[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pending.length === 0) return;
      await producer.send({ topic, acks: -1, messages: pending });
      messages += pending.length;
      onProgress?.(messages);
      pending = [];
      pendingBytes = 0;
    };
    for (const { workspaceId, version } of eventStream(spec)) {
      const plan = planWorkspace(spec, agents, workspaceId, version === 1 ? devfiles : false);
      const key = encodeKey(workspaceId);
      const value = encodeAvro(planEvent(plan, version));
      pending.push({ key, value });
      pendingBytes += key.length + value.length;
      bytes += key.length + value.length;
      if (pendingBytes >= SEND_BYTES) await flush();
    }
    await flush();
  } finally {
    await producer.disconnect();
  }
  return { topic, messages, bytes, elapsedMs: performance.now() - started };
}
