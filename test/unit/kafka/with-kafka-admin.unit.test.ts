import type { Admin, Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { withKafkaAdmin } from '../../../src/sources/kafka/kafka-client.js';

/** A Kafka whose admin records its calls and fails where told. */
function scriptedKafka(fail: { connect?: Error; disconnect?: Error } = {}) {
  const calls: string[] = [];
  const admin = {
    connect: async () => {
      calls.push('connect');
      if (fail.connect) throw fail.connect;
    },
    disconnect: async () => {
      calls.push('disconnect');
      if (fail.disconnect) throw fail.disconnect;
    },
  } as unknown as Admin;
  return { kafka: { admin: () => admin } as unknown as Kafka, calls };
}

describe('withKafkaAdmin', () => {
  it('connects, runs, disconnects and returns what the work returned', async () => {
    const { kafka, calls } = scriptedKafka();
    await expect(withKafkaAdmin(kafka, async () => (calls.push('work'), 42))).resolves.toBe(42);
    expect(calls).toEqual(['connect', 'work', 'disconnect']);
  });

  it('throws the work’s failure, not the disconnect’s that followed it', async () => {
    const { kafka, calls } = scriptedKafka({ disconnect: new Error('disconnect failed') });
    await expect(withKafkaAdmin(kafka, async () => Promise.reject(new Error('topic not found')))).rejects.toThrow('topic not found');
    expect(calls).toEqual(['connect', 'disconnect']);
  });

  it('disconnects after a failed connect too, and throws the connect failure', async () => {
    const { kafka, calls } = scriptedKafka({ connect: new Error('connection refused'), disconnect: new Error('not connected') });
    await expect(withKafkaAdmin(kafka, async () => 1)).rejects.toThrow('connection refused');
    expect(calls).toEqual(['connect', 'disconnect']);
  });

  it('throws a failed disconnect after work that succeeded: it is the only failure, never dropped', async () => {
    const { kafka } = scriptedKafka({ disconnect: new Error('disconnect failed') });
    await expect(withKafkaAdmin(kafka, async () => 1)).rejects.toThrow('disconnect failed');
  });
});
