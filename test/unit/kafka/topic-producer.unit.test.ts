import { describe, expect, it } from 'vitest';
import { MessageTooLargeError, planSends, recordBytes } from '../../../src/sources/kafka/topic-producer.js';

const message = (label: string, partition: number, valueBytes: number) => ({ label, partition, key: Buffer.from(label), value: Buffer.alloc(valueBytes, 'x') });

/** Kafka's record batch header (61 bytes) plus, per record, key + value + at most 32 bytes of framing. */
const batchBytes = (messages: ReturnType<typeof message>[]) => 61 + messages.reduce((sum, m) => sum + m.key.length + m.value.length + 32, 0);

describe('planSends', () => {
  it('keeps every partition batch of a send within the limit, and the order', () => {
    const messages = Array.from({ length: 30 }, (_, i) => message(`w${i}`, i % 3, 900 + i * 10));
    const sends = planSends(messages, 4_000, 't');
    expect(sends.flat()).toEqual(messages);
    for (const send of sends) {
      for (const partition of [0, 1, 2]) expect(batchBytes(send.filter((m) => m.partition === partition))).toBeLessThanOrEqual(4_000);
    }
    // Three partitions of ~1 KB messages in 4 KB batches: 3 per partition per send, so 30 messages need 4 sends.
    expect(sends.length).toBe(4);
  });

  it('bounds the whole request too', () => {
    const messages = Array.from({ length: 10 }, (_, i) => message(`w${i}`, i, 1_000));
    const sends = planSends(messages, 1_000_000, 't', 3_500);
    expect(sends.map((s) => s.length)).toEqual([3, 3, 3, 1]);
  });

  it('a message that alone exceeds the limit names itself and the topic', () => {
    const big = message('workspace 42', 0, 5_000);
    expect(() => planSends([message('workspace 1', 0, 10), big], 5_000, 'workspace-events')).toThrow(MessageTooLargeError);
    expect(() => planSends([big], 5_000, 'workspace-events')).toThrow(
      `workspace 42: its event is ${61 + recordBytes(big)} bytes as a record batch, over max.message.bytes 5000 of topic workspace-events`,
    );
  });

  it('a message that fits exactly is accepted', () => {
    const m = message('w', 0, 1_000);
    expect(planSends([m], batchBytes([m]), 't')).toEqual([[m]]);
  });
});
