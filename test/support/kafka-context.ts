/** The per-test setup of the Kafka integration tests: one client per file, a fresh topic name, group and GitLab database per test. */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { beforeEach, inject } from 'vitest';
import { useFreshGitLabDatabase, type TestDatabase } from './database.js';
import { createTestKafka } from './kafka-broker.js';

export interface KafkaTestContext {
  brokers: string;
  kafka: Kafka;
  /** The current test's database (see useFreshGitLabDatabase). */
  db: Pick<TestDatabase, 'url' | 'pool'>;
  /** `${topicPrefix}-<suffix>`: a name no other test uses; the test creates the topic itself. */
  readonly topic: string;
  /** `${groupPrefix}-<suffix>`, the same suffix as the topic's. */
  readonly group: string;
}

/**
 * Registers, for every test of the calling file, a fresh GitLab-shaped database (agent config 1 with `dnsZone`,
 * dropped after the test) and new topic and group names; the kafkajs client (`clientId`) is the file's.
 */
export function useKafkaTestContext(options: { clientId: string; dnsZone: string; topicPrefix: string; groupPrefix: string }): KafkaTestContext {
  const brokers = inject('kafkaBrokers');
  const db = useFreshGitLabDatabase(options.dnsZone);
  let names: { topic: string; group: string } | undefined;
  beforeEach(() => {
    const suffix = randomBytes(4).toString('hex');
    names = { topic: `${options.topicPrefix}-${suffix}`, group: `${options.groupPrefix}-${suffix}` };
  });
  const now = () => {
    if (!names) throw new Error('useKafkaTestContext: read the topic and group inside a test');
    return names;
  };
  return {
    brokers,
    kafka: createTestKafka(brokers, options.clientId),
    db,
    get topic() {
      return now().topic;
    },
    get group() {
      return now().group;
    },
  };
}
