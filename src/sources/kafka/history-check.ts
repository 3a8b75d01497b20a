/**
 * Can these topics rebuild the read model from zero? Not if retention already deleted their early
 * segments: a partition whose log start offset is above 0 on a topic that is not compacted has lost
 * events. A compacted topic passes: compaction keeps, per key, a suffix of the workspace's history, which
 * folds completely when it starts with a full row (a create, a Debezium `u` with the whole row). A
 * workspace whose surviving history starts with a partial update stays parked, and the rebuild names it
 * and exits 2 (listUnappliedParked): a per-workspace check, since only the records say which ones survived.
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
