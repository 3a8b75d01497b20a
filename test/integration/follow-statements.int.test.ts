/**
 * The statements a follow batch sends (applyKafkaBatch against the real PostgreSQL): a batch skips the work
 * its workspaces do not need. A workspace letter (a failed generation) is cleared by the batch that next
 * generates or deletes the workspace (README, "Dead letters"); a batch whose workspaces hold none sends no
 * DELETE for them, and one whose workspace holds one still clears it.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { applyKafkaBatch, type AppliedBatch } from '../../src/engine/apply-kafka-batch.js';
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
