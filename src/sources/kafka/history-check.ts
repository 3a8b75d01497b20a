/**
 * Can these topics rebuild the read model from zero? Not if retention already deleted their early
 * segments: a partition whose log start offset is above 0 on a topic that is not compacted has lost
 * events (a compacted topic keeps the latest event per key, which is enough for a full rebuild).
 */
import kafkajs, { type Admin } from 'kafkajs';

// kafkajs is CommonJS: only some of its exports are visible as ESM named exports.
const { ConfigResourceTypes } = kafkajs;
import { readPartitionRanges } from './kafka-client.js';

export class HistoryMissingError extends Error {
  override readonly name = 'HistoryMissingError';
}

/** Throws HistoryMissingError naming each partition whose history is gone. Reads only; changes nothing. */
export async function assertFullHistory(admin: Admin, topics: readonly string[]): Promise<void> {
  const ranges = await readPartitionRanges(admin, topics);
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] })),
  });
  const compacted = new Set(
    resources
      .filter((r) => r.configEntries.some((e) => e.configName === 'cleanup.policy' && e.configValue.split(',').includes('compact')))
      .map((r) => r.resourceName),
  );
  const truncated = ranges.filter((r) => !compacted.has(r.topic) && BigInt(r.low) > 0n);
  if (truncated.length > 0) {
    const where = truncated.map((r) => `${r.topic}[${r.partition}] starts at offset ${r.low}`).join(', ');
    throw new HistoryMissingError(
      `cannot rebuild from Kafka: the topic no longer holds its full history (${where}; retention deleted the earlier events ` +
        `and the topic is not compacted). Nothing was changed. Rebuild from GitLab's database instead: --source snapshot`,
    );
  }
}
