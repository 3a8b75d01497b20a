/**
 * The statements a follow batch sends (applyKafkaBatch against the real PostgreSQL): a batch skips the work
 * its workspaces do not need. A workspace letter (a failed generation) is cleared by the batch that next
 * generates or deletes the workspace (README, "Dead letters"); a batch whose workspaces hold none sends no
 * DELETE for them, and one whose workspace holds one still clears it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { applyKafkaBatch, applyKafkaBatches, type AppliedBatch } from '../../src/engine/apply-kafka-batch.js';
import { createWorkspaceDecoder, type WorkspaceMessage } from '../../src/events/decode.js';
import type { Session } from '../../src/sink/postgres/database.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { withTransaction } from '../../src/sink/postgres/transaction.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { asJson, createdEvent, readModel, tombstone, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const DNS_ZONE = 'statements.workspace.me';
const db = useFreshGitLabDatabase(DNS_ZONE);
const TOPIC = 'workspace-events';
let nextOffset = 0;
beforeEach(() => {
  nextOffset = 0;
});

/** Applies `messages` as the next batch of partition 0, recording the text of each statement it sends. */
async function apply(messages: OutgoingMessage[]): Promise<AppliedBatch & { statements: string[] }> {
  const positioned: WorkspaceMessage[] = messages.map((m) => ({ topic: TOPIC, partition: 0, offset: String(nextOffset++), key: m.key, value: m.value, timestamp: '0' }));
  const statements: string[] = [];
  const applied = await withTransaction(db.pool, (client) => {
    const recording: Session = { query: (text, values) => (statements.push(text), client.query(text, values)) };
    return applyKafkaBatch(recording, { topic: TOPIC, partition: 0, messages: positioned }, {
      projection: 'agentk-states', decode: createWorkspaceDecoder(), agentConfigMode: 'pinned', sink: liveAgentkStates, materialize: true,
    });
  });
  return { ...applied, statements };
}

const letterDeletes = (statements: string[]) => statements.filter((s) => /DELETE FROM \S*dead_letters/.test(s)).length;

async function letters(): Promise<string[]> {
  const { rows } = await db.pool.query<{ key: string }>('SELECT dead_letter_key AS key FROM rebuild_projection.dead_letters ORDER BY 1');
  return rows.map((r) => r.key);
}

describe('a follow batch', () => {
  it('whose workspaces hold no dead letter sends no DELETE of letters, when it generates or deletes them', async () => {
    await migrate(db.pool);
    const rows = [1, 2, 3].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    expect((await apply(rows.map((row) => asJson(createdEvent(row))))).written).toBe(3);

    const stop = await apply(rows.map((row) => asJson(updatedEvent(row.id, 2, { desired_state: 'Stopped' }))));
    expect(stop.written).toBe(3);
    expect(letterDeletes(stop.statements)).toBe(0);

    const deleted = await apply([tombstone(3)]);
    expect(deleted.deleted).toBe(1);
    expect(letterDeletes(deleted.statements)).toBe(0);
    expect([...(await readModel(db.pool)).keys()]).toEqual([1, 2]);
  });

  it('whose workspace holds a letter (its last generation failed) clears it once the workspace generates, or is deleted', async () => {
    await migrate(db.pool);
    // Cluster agent 2 has no agent config yet: generation fails (agent_config_missing).
    const [healed, gone] = [workspaceRow(11, { cluster_agent_id: 2 }), workspaceRow(12, { cluster_agent_id: 2 })];
    await upsertWorkspaceRows(db.pool, [healed, gone]);
    const failed = await apply([asJson(createdEvent(healed)), asJson(createdEvent(gone))]);
    expect(failed.deadLetterKinds).toEqual(['agent_config_missing', 'agent_config_missing']);
    expect(await letters()).toEqual(['workspace:11', 'workspace:12']);

    await insertAgentConfig(db.pool, { cluster_agent_id: 2, dns_zone: DNS_ZONE });
    const regenerated = await apply([asJson(updatedEvent(11, 2, { desired_state: 'Stopped' }))]);
    expect({ written: regenerated.written, failed: regenerated.failed }).toEqual({ written: 1, failed: 0 });
    expect(await letters()).toEqual(['workspace:12']);

    await apply([tombstone(12)]);
    expect(await letters()).toEqual([]);
  });

  it('that generates reads its agent configs with their versions in one statement', async () => {
    await migrate(db.pool);
    await upsertWorkspaceRows(db.pool, [workspaceRow(21)]);
    const created = await apply([asJson(createdEvent(workspaceRow(21)))]);
    expect(created.written).toBe(1);
    const reads = created.statements.filter((s) => /workspaces_agent_config/.test(s));
    expect(reads).toHaveLength(1);
    expect(reads[0]).toContain('FROM workspaces_agent_configs');
    expect(reads[0]).toContain('FROM workspaces_agent_config_versions');
  });
});

describe('a group of batches of several partitions (batch-loop.ts GROUP_LIMITS)', () => {
  it("reads their folds and checkpoints in one statement and saves them in one, each partition's checkpoint its own", async () => {
    await migrate(db.pool);
    const rows = [31, 32, 33, 34].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    const decode = createWorkspaceDecoder();
    const deps = { projection: 'agentk-states', decode, agentConfigMode: 'pinned' as const, sink: liveAgentkStates, materialize: true };
    // Partition p holds workspace 31 + p's create at offset 0 (and partition 2 a second one, at 1).
    const batch = (partition: number, events: OutgoingMessage[], first = 0) => ({
      topic: TOPIC,
      partition,
      messages: events.map((m, i): WorkspaceMessage => ({ topic: TOPIC, partition, offset: String(first + i), key: m.key, value: m.value, timestamp: '0' })),
    });
    const groupOf = (stopped: boolean) => [
      batch(0, [asJson(stopped ? updatedEvent(31, 2, { desired_state: 'Stopped' }) : createdEvent(rows[0]!))], stopped ? 1 : 0),
      batch(1, [asJson(stopped ? updatedEvent(32, 2, { desired_state: 'Stopped' }) : createdEvent(rows[1]!))], stopped ? 1 : 0),
      batch(2, stopped ? [asJson(updatedEvent(33, 2, { desired_state: 'Stopped' }))] : [asJson(createdEvent(rows[2]!)), asJson(createdEvent(rows[3]!))], stopped ? 2 : 0),
    ];
    const run = async (batches: ReturnType<typeof groupOf>) => {
      const statements: string[] = [];
      const applied = await withTransaction(db.pool, (client) => {
        const recording: Session = { query: (text, values) => (statements.push(text), client.query(text, values)) };
        return applyKafkaBatches(recording, batches, deps);
      });
      return { applied, statements };
    };
    const touching = (statements: string[], table: string) => statements.filter((s) => s.includes(`rebuild_projection.${table}`));

    const created = await run(groupOf(false));
    expect(created.applied.map((a) => a.nextOffset)).toEqual(['1', '1', '2']);
    expect(created.applied.map((a) => a.consumed)).toEqual([1, 1, 2]);
    // The rows' counts are the first batch's.
    expect(created.applied.map((a) => a.written)).toEqual([4, 0, 0]);
    expect(touching(created.statements, 'workspace_states')).toHaveLength(2);
    expect(touching(created.statements, 'checkpoints')).toHaveLength(2);

    // Partition 0's batch again (a redelivery, skipped), with the next events of the others.
    const [, one, two] = groupOf(true);
    const again = await run([batch(0, [asJson(createdEvent(rows[0]!))]), one!, two!]);
    expect(again.applied.map((a) => ({ skipped: a.skipped, nextOffset: a.nextOffset }))).toEqual([
      { skipped: 1, nextOffset: undefined },
      { skipped: 0, nextOffset: '2' },
      { skipped: 0, nextOffset: '3' },
    ]);
    expect(again.applied.find((a) => a.nextOffset !== undefined)?.written).toBe(2);
    const { rows: checkpoints } = await db.pool.query<{ kafka_partition: number; next_offset: string }>(
      'SELECT kafka_partition, next_offset::text FROM rebuild_projection.checkpoints WHERE projection = $1 ORDER BY 1',
      ['agentk-states'],
    );
    expect(checkpoints).toEqual([
      { kafka_partition: 0, next_offset: '1' },
      { kafka_partition: 1, next_offset: '2' },
      { kafka_partition: 2, next_offset: '3' },
    ]);
    const model = await readModel(db.pool);
    expect([...model.keys()]).toEqual([31, 32, 33, 34]);

    // Two batches of one partition cannot share the read of its checkpoint: refused before any statement.
    const sent: string[] = [];
    const refused = withTransaction(db.pool, (client) =>
      applyKafkaBatches({ query: (text, values) => (sent.push(text), client.query(text, values)) }, [batch(1, [asJson(updatedEvent(32, 3, {}))], 2), batch(1, [], 3)], deps),
    );
    await expect(refused).rejects.toThrow(`batches of one partition in one transaction: ${TOPIC}[1], ${TOPIC}[1] (a caller bug)`);
    expect(sent).toEqual([]);
  });
});
