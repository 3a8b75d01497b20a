/**
 * Can these topics rebuild the read model from zero? Not if retention (or deleteRecords) already deleted their
 * early records: a partition whose log start offset is above 0 has lost events, whatever its cleanup policy
 * (compaction alone never moves the log start). A compacted topic passes this check: compaction keeps, per
 * key, a suffix of the workspace's history, which folds completely when it starts with a full row (a create,
 * a Debezium `u` with the whole row). Only the records say which workspaces' suffixes start with a partial
 * update (they stay parked), so the rebuild checks that at its switch and refuses to switch when the topic is
 * compacted (listUnappliedParked in rebuild.ts).
 */
import kafkajs, { type Admin } from 'kafkajs';

// kafkajs is CommonJS: only some of its exports are visible as ESM named exports.
const { ConfigResourceTypes } = kafkajs;
import { readPartitionRanges } from './kafka-client.js';

export class HistoryMissingError extends Error {
  override readonly name = 'HistoryMissingError';
}

/**
 * Throws HistoryMissingError naming each partition whose history is gone. Reads only; changes nothing.
 * Returns the topics that are compacted.
 */
export async function assertFullHistory(admin: Admin, topics: readonly string[]): Promise<Set<string>> {
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
  const truncated = ranges.filter((r) => BigInt(r.low) > 0n);
  if (truncated.length > 0) {
    const where = truncated.map((r) => `${r.topic}[${r.partition}] starts at offset ${r.low}`).join(', ');
    throw new HistoryMissingError(
      `cannot rebuild from Kafka: the topic no longer holds its full history (${where}; retention deleted the earlier events). ` +
        `Nothing was changed. Rebuild from GitLab's database instead: --source snapshot`,
    );
  }
  return compacted;
}
