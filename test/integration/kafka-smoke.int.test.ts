/**
 * Smoke test: KafkaJS 2.2.4 against the real Apache Kafka 4.x broker that the integration
 * globalSetup starts (scripts/kafka-broker.sh, or KAFKA_BROKERS). Every test uses its own topic
 * and consumer group, waits are bounded, and every client is disconnected in afterEach.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  Partitioners,
  type Admin,
  type Consumer,
  type EachMessagePayload,
  type Kafka,
  type PartitionMetadata,
  type Producer,
} from 'kafkajs';
import { createTestKafka, testProducerConfig } from '../support/kafka-broker.js';

const brokers = inject('kafkaBrokers');

const PARTITIONS = 3;
const WAIT_MS = 30_000;

interface Received {
  key: string | null;
  value: string | null;
  partition: number;
  offset: number;
  timestamp: number;
  headers: Record<string, string>;
}

// ---- per-test resources, torn down in afterEach ------------------------------------------

let cleanups: Array<() => Promise<void>> = [];
let topicsToDelete: string[] = [];

afterEach(async () => {
  const errors: unknown[] = [];
  // Disconnect in reverse creation order (consumers/producers before the admin that deletes).
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  cleanups = [];
  if (topicsToDelete.length > 0) {
    const admin = createTestKafka(brokers, 'smoke-cleanup').admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const leftovers = topicsToDelete.filter((t) => existing.has(t));
      if (leftovers.length > 0) await admin.deleteTopics({ topics: leftovers, timeout: 10_000 });
    } catch (err) {
      errors.push(err);
    } finally {
      await admin.disconnect();
    }
    topicsToDelete = [];
  }
  if (errors.length > 0) throw new AggregateError(errors, 'kafka smoke cleanup failed');
});

function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now()}-${randomUUID().slice(0, 8)}`;
}

function newKafka(): Kafka {
  return createTestKafka(brokers, uniqueName('smoke-client'));
}

async function connectedAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  cleanups.push(() => admin.disconnect());
  await admin.connect();
  return admin;
}

async function connectedProducer(kafka: Kafka, config = testProducerConfig): Promise<Producer> {
  const producer = kafka.producer(config);
  cleanups.push(() => producer.disconnect());
  await producer.connect();
  return producer;
}

async function connectedConsumer(kafka: Kafka, groupId: string, extra: Record<string, unknown> = {}): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10_000,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
    ...extra,
  });
  cleanups.push(() => consumer.disconnect());
  await consumer.connect();
  return consumer;
}

async function createTopic(admin: Admin, topic: string, numPartitions = PARTITIONS): Promise<PartitionMetadata[]> {
  topicsToDelete.push(topic);
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
    timeout: 10_000,
  });
  expect(created).toBe(true);
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  expect(topics).toHaveLength(1);
  const partitions = [...topics[0]!.partitions].sort((a, b) => a.partitionId - b.partitionId);
  expect(partitions.map((p) => p.partitionId)).toEqual([...Array(numPartitions).keys()]);
  for (const p of partitions) expect(p.leader).toBeGreaterThanOrEqual(0);
  return partitions;
}

/** Polls `predicate` every 50 ms; fails with `describe()` in the message after `timeoutMs`. */
async function waitUntil(predicate: () => boolean | Promise<boolean>, describe: () => string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function toReceived({ partition, message }: EachMessagePayload): Received {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
  return {
    key: message.key?.toString('utf8') ?? null,
    value: message.value?.toString('utf8') ?? null,
    partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    headers,
  };
}

/** The messages a test produces: 10 keys x 3 messages each, with explicit past timestamps. */
function buildMessages(base: number) {
  const messages = [];
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < 10; k++) {
      const i = round * 10 + k;
      messages.push({
        key: `key-${k}`,
        value: JSON.stringify({ i, key: `key-${k}`, round }),
        // 1 s apart, ending 10 minutes ago: well inside the broker's timestamp bounds
        // (Kafka 4 rejects CreateTime more than 1 h in the future by default).
        timestamp: String(base + i * 1_000),
        headers: { seq: String(i) },
      });
    }
  }
  return messages;
}

describe('kafkajs 2.2.4 against Apache Kafka 4.x', () => {
  it('describes the cluster', async () => {
    const admin = await connectedAdmin(newKafka());
    const cluster = await admin.describeCluster();
    const [host, port] = brokers.split(',')[0]!.split(':');
    expect(cluster.brokers.length).toBeGreaterThanOrEqual(1);
    if (!process.env.KAFKA_BROKERS) {
      expect(cluster.brokers).toEqual([{ nodeId: 1, host, port: Number(port) }]);
      expect(cluster.controller).toBe(1);
    }
    expect(cluster.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('creates a topic, produces keyed messages, consumes them in a group, commits, seeks and deletes the topic', async () => {
    const topic = uniqueName('smoke-topic');
    const groupId = uniqueName('smoke-group');
    const kafka = newKafka();
    const admin = await connectedAdmin(kafka);
    const partitionMetadata = await createTopic(admin, topic);
    expect(await admin.listTopics()).toContain(topic);

    // ---- produce ---------------------------------------------------------------------
    const producer = await connectedProducer(kafka);
    const messages = buildMessages(Date.now() - 10 * 60_000 - 30_000);
    const sent = await producer.send({ topic, acks: -1, messages });
    for (const r of sent) {
      expect(r.topicName).toBe(topic);
      expect(r.errorCode).toBe(0);
      expect(r.baseOffset).toBe('0');
    }

    // Where each message must land: the Java-compatible murmur2 partitioner on the key.
    const partitioner = Partitioners.DefaultPartitioner();
    const expected = messages.map((m) => ({
      key: m.key,
      value: m.value,
      partition: partitioner({ topic, partitionMetadata, message: m }),
      headers: m.headers,
      timestamp: Number(m.timestamp),
    }));
    const perPartition = new Map<number, typeof expected>();
    for (const e of expected) perPartition.set(e.partition, [...(perPartition.get(e.partition) ?? []), e]);
    // The 10 keys must spread over more than one partition, or this test proves little.
    expect(perPartition.size).toBeGreaterThan(1);
    expect(new Set(sent.map((r) => r.partition))).toEqual(new Set(perPartition.keys()));

    // ---- consume in a group (manual commits) -----------------------------------------
    const consumer = await connectedConsumer(kafka, groupId);
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received: Received[] = [];
    let phase: 'first' | 'reread' = 'first';
    const reread: Received[] = [];
    await consumer.run({
      autoCommit: false,
      eachMessage: async (payload) => {
        expect(payload.topic).toBe(topic);
        (phase === 'first' ? received : reread).push(toReceived(payload));
      },
    });
    await waitUntil(
      () => received.length >= messages.length,
      () => `${messages.length} messages, got ${received.length}`,
    );
    // Give a duplicate (if any) a moment to show up before checking "exactly once".
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toHaveLength(messages.length);

    for (const [partition, exp] of perPartition) {
      const got = received.filter((r) => r.partition === partition).sort((a, b) => a.offset - b.offset);
      expect(got.map((r) => r.offset)).toEqual(exp.map((_, i) => i));
      expect(got.map(({ key, value, partition: p, headers, timestamp }) => ({ key, value, partition: p, headers, timestamp }))).toEqual(
        exp.map(({ key, value, partition: p, headers, timestamp }) => ({ key, value, partition: p, headers, timestamp })),
      );
    }

    // ---- commit and read the committed offsets back ------------------------------------
    const ends = [...perPartition].map(([partition, exp]) => ({ topic, partition, offset: String(exp.length) }));
    await consumer.commitOffsets(ends);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed).toHaveLength(1);
    expect(committed[0]!.topic).toBe(topic);
    const committedByPartition = Object.fromEntries(committed[0]!.partitions.map((p) => [p.partition, p.offset]));
    for (let p = 0; p < PARTITIONS; p++) {
      // Partitions we never committed report -1.
      expect(committedByPartition[p]).toBe(String(perPartition.get(p)?.length ?? -1));
    }

    // ---- seek back and re-read one partition -------------------------------------------
    const [seekPartition, seekExpected] = [...perPartition].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(seekExpected.length).toBeGreaterThanOrEqual(2);
    phase = 'reread';
    consumer.seek({ topic, partition: seekPartition, offset: '1' });
    await waitUntil(
      () => reread.length >= seekExpected.length - 1,
      () => `${seekExpected.length - 1} re-read messages from partition ${seekPartition}, got ${reread.length}`,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(reread.map((r) => [r.partition, r.offset, r.key, r.value])).toEqual(
      seekExpected.slice(1).map((e, i) => [seekPartition, i + 1, e.key, e.value]),
    );
    // autoCommit is off: seeking must not have moved the committed offsets.
    const afterSeek = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(afterSeek).toEqual(committed);

    // The group is known to the coordinator with our member.
    const { groups } = await admin.describeGroups([groupId]);
    expect(groups[0]!.state).toBe('Stable');
    expect(groups[0]!.members).toHaveLength(1);

    await consumer.stop();
    await consumer.disconnect();

    // ---- delete the topic ------------------------------------------------------------
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
    await waitUntil(
      async () => !(await admin.listTopics()).includes(topic),
      () => `topic ${topic} to disappear`,
      10_000,
    );
  });

  it('reports topic offsets and finds offsets by timestamp', async () => {
    const topic = uniqueName('smoke-offsets');
    const kafka = newKafka();
    const admin = await connectedAdmin(kafka);
    const partitionMetadata = await createTopic(admin, topic);

    // Empty topic: low = high = 0 everywhere.
    const empty = await admin.fetchTopicOffsets(topic);
    expect(empty.sort((a, b) => a.partition - b.partition)).toEqual(
      [...Array(PARTITIONS).keys()].map((partition) => ({ partition, offset: '0', high: '0', low: '0' })),
    );

    const base = Date.now() - 10 * 60_000 - 30_000;
    const messages = buildMessages(base);
    const producer = await connectedProducer(kafka);
    await producer.send({ topic, acks: -1, messages });

    const partitioner = Partitioners.DefaultPartitioner();
    const timestampsByPartition = new Map<number, number[]>();
    for (let p = 0; p < PARTITIONS; p++) timestampsByPartition.set(p, []);
    for (const m of messages) {
      timestampsByPartition.get(partitioner({ topic, partitionMetadata, message: m }))!.push(Number(m.timestamp));
    }

    const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
    expect(offsets).toEqual(
      [...timestampsByPartition].map(([partition, ts]) => ({
        partition,
        offset: String(ts.length),
        high: String(ts.length),
        low: '0',
      })),
    );

    // First offset whose timestamp >= t, or the high watermark if there is none.
    const expectedAt = (t: number) =>
      [...timestampsByPartition].map(([partition, ts]) => {
        const idx = ts.findIndex((x) => x >= t);
        return { partition, offset: String(idx === -1 ? ts.length : idx) };
      });
    const byTs = async (t: number) => (await admin.fetchTopicOffsetsByTimestamp(topic, t)).sort((a, b) => a.partition - b.partition);

    expect(await byTs(base - 60_000)).toEqual(expectedAt(base - 60_000)); // before everything: 0s
    expect(await byTs(base + 15_500)).toEqual(expectedAt(base + 15_500)); // in the middle
    expect(await byTs(Date.now())).toEqual(expectedAt(Date.now())); // after everything: high
    // The middle probe must really be in the middle on some partition.
    expect(expectedAt(base + 15_500).some(({ partition, offset }) => offset !== '0' && offset !== String(timestampsByPartition.get(partition)!.length))).toBe(true);

    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
  });

  it('splits partitions between two members of one group and commits automatically', async () => {
    const topic = uniqueName('smoke-group2');
    const groupId = uniqueName('smoke-group2');
    const kafka = newKafka();
    const admin = await connectedAdmin(kafka);
    await createTopic(admin, topic);

    const seen: Array<Received & { member: string }> = [];
    const members = await Promise.all(
      ['a', 'b'].map(async (member) => {
        const consumer = await connectedConsumer(kafka, groupId);
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          autoCommitInterval: 100,
          eachMessage: async (payload) => {
            seen.push({ ...toReceived(payload), member });
          },
        });
        return consumer;
      }),
    );
    // Wait until both members share the 3 partitions.
    await waitUntil(
      async () => {
        const { groups } = await admin.describeGroups([groupId]);
        const g = groups[0]!;
        return g.state === 'Stable' && g.members.length === 2;
      },
      () => `group ${groupId} to be Stable with 2 members`,
    );

    const producer = await connectedProducer(kafka);
    const messages = buildMessages(Date.now() - 10 * 60_000 - 30_000);
    await producer.send({ topic, acks: -1, messages });
    await waitUntil(
      () => seen.length >= messages.length,
      () => `${messages.length} messages across both members, got ${seen.length}`,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(messages.length);
    expect(new Set(seen.map((s) => s.value)).size).toBe(messages.length);
    // Each partition is consumed by exactly one member, and both members got work
    // (3 partitions over 2 members: 2 + 1).
    const ownerOf = new Map<number, Set<string>>();
    for (const s of seen) ownerOf.set(s.partition, (ownerOf.get(s.partition) ?? new Set()).add(s.member));
    for (const owners of ownerOf.values()) expect(owners.size).toBe(1);

    // Auto-commit lands the end offsets; wait for it (bounded) and compare with the log end.
    const ends = await admin.fetchTopicOffsets(topic);
    await waitUntil(
      async () => {
        const [c] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return ends.every((e) => c!.partitions.find((p) => p.partition === e.partition)?.offset === (e.high === '0' ? '-1' : e.high));
      },
      () => `auto-committed offsets to reach ${JSON.stringify(ends)}`,
      15_000,
    );

    await Promise.all(members.map((m) => m.disconnect()));
    await admin.deleteTopics({ topics: [topic], timeout: 10_000 });
  });

  it('supports an idempotent, transactional producer read with read_committed isolation', async () => {
    const topic = uniqueName('smoke-txn');
    const groupId = uniqueName('smoke-txn');
    const kafka = newKafka();
    const admin = await connectedAdmin(kafka);
    await createTopic(admin, topic);

    const producer = await connectedProducer(kafka, {
      ...testProducerConfig,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionalId: uniqueName('smoke-txn'),
    });
    const committedTxn = await producer.transaction();
    await committedTxn.send({ topic, messages: [{ key: 'k', value: 'committed-1' }, { key: 'k', value: 'committed-2' }] });
    await committedTxn.commit();
    const abortedTxn = await producer.transaction();
    await abortedTxn.send({ topic, messages: [{ key: 'k', value: 'aborted' }] });
    await abortedTxn.abort();
    const lastTxn = await producer.transaction();
    await lastTxn.send({ topic, messages: [{ key: 'k', value: 'committed-3' }] });
    await lastTxn.commit();

    const consumer = await connectedConsumer(kafka, groupId, { readUncommitted: false });
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const values: string[] = [];
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '<null>');
      },
    });
    await waitUntil(() => values.length >= 3, () => `3 committed messages, got ${JSON.stringify(values)}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(values).toEqual(['committed-1', 'committed-2', 'committed-3']);
  });
});
