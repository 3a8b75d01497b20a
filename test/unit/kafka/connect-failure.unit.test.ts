import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { describeConnectFailure } from '../../../src/sources/kafka/kafka-client.js';
import { PLAINTEXT } from '../../../src/sources/kafka/kafka-security.js';

const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } = kafkajs;

/** What kafkajs throws when its retries on a socket error are spent (shape seen from admin.connect()). */
const retriesExceeded = (message: string, code?: string) => {
  const last = new KafkaJSConnectionError(`Connection error: ${message}`, { broker: 'kafka-1:9092', ...(code && { code }) });
  return new KafkaJSNumberOfRetriesExceeded(last, { retryCount: 2, retryTime: 600 });
};

describe('describeConnectFailure', () => {
  it.each([
    ['getaddrinfo ENOTFOUND kafka-1', 'ENOTFOUND', 'cannot reach Kafka brokers kafka-1:9092,kafka-2:9092 (PLAINTEXT): host not found (after 3 attempts)'],
    ['connect EHOSTUNREACH 10.0.0.9:9092', 'EHOSTUNREACH', 'cannot reach Kafka brokers kafka-1:9092,kafka-2:9092 (PLAINTEXT): no route to host (after 3 attempts)'],
    ['connect ECONNREFUSED 10.0.0.9:9092', 'ECONNREFUSED', 'cannot reach Kafka brokers kafka-1:9092,kafka-2:9092 (PLAINTEXT): connection refused (after 3 attempts)'],
  ])('%s: one line naming Kafka, the brokers and the cause', (message, code, line) => {
    expect(describeConnectFailure(retriesExceeded(message, code), ['kafka-1:9092', 'kafka-2:9092'], PLAINTEXT)).toBe(line);
  });

  it('anything else keeps kafkajs\' words, once each, on one line', () => {
    const error = new Error('Something\nodd', { cause: new Error('Something\nodd') });
    expect(describeConnectFailure(error, ['kafka-1:9092'], PLAINTEXT)).toBe('cannot use Kafka brokers kafka-1:9092 (PLAINTEXT): Something odd');
  });
});
