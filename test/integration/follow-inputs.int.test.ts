/**
 * The follow path (applyKafkaBatch) against the real PostgreSQL, for updates that touch no input of the
 * generator (an agent's reconciliation bumps: actual_state, responded_to_agent_at): they advance the fold and
 * the checkpoint in the batch's transaction and neither generate nor write workspace_agentk_states; a later
 * update that touches an input generates from every earlier change. Expected rows come from the generator
 * (verified against GitLab's goldens in the unit tests) applied to the row the spec says the events describe.
 */
import { describe, expect, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import { applyKafkaBatch, type AppliedBatch, type BatchDeps } from '../../src/engine/apply-kafka-batch.js';
import { createWorkspaceDecoder, type WorkspaceMessage } from '../../src/events/decode.js';
import type { WorkspaceChanges, WorkspaceRow } from '../../projections/agentk-states/events.js';
import { saveCheckpoints } from '../../src/sink/postgres/checkpoints.js';
import type { Session } from '../../src/sink/postgres/database.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { withTransaction } from '../../src/sink/postgres/transaction.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { asJson, createdEvent, readModel, tombstone, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const DNS_ZONE = 'test.workspace.me';
const agentConfig = agentConfigSchema.parse({ dns_zone: DNS_ZONE });
const db = useFreshGitLabDatabase(DNS_ZONE);
const TOPIC = 'workspace-events';
const PROJECTION = 'agentk-states';

/** The agent's reconciliation bump of version `version`: no column the generator reads. */
const bump = (id: number, version: number): WorkspaceChanges => ({ actual_state: version % 2 ? 'Running' : 'Stopped', responded_to_agent_at: new Date(1_700_000_000_000 + version) });

/** Applies `messages` (partition 0, from `first`) as one batch, counting its statements. */
async function apply(first: number, messages: OutgoingMessage[], deps: Partial<BatchDeps> = {}): Promise<AppliedBatch & { statements: number }> {
  const positioned: WorkspaceMessage[] = messages.map((m, i) => ({ topic: TOPIC, partition: 0, offset: String(first + i), key: m.key, value: m.value, timestamp: '0' }));
  let statements = 0;
  const applied = await withTransaction(db.pool, (client) => {
    const counting: Session = { query: (text, values) => (statements++, client.query(text, values)) };
    return applyKafkaBatch(counting, { topic: TOPIC, partition: 0, messages: positioned }, {
      projection: PROJECTION, decode: createWorkspaceDecoder(), agentConfigMode: 'pinned', sink: liveAgentkStates, materialize: true, ...deps,
    });
  });
  return { ...applied, statements };
}

async function setUp(rows: WorkspaceRow[]): Promise<void> {
  await migrate(db.pool);
  await upsertWorkspaceRows(db.pool, rows);
}

const expected = (...rows: WorkspaceRow[]) => new Map(rows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })]));

async function stored(id: number): Promise<{ version: string; actual_state: string; devfile: string | null; next_offset: string }> {
  const { rows } = await db.pool.query(
    `SELECT s.version::text, s.workspace->>'actual_state' AS actual_state, s.processed_devfile AS devfile, c.next_offset::text
       FROM rebuild_projection.workspace_states AS s, rebuild_projection.checkpoints AS c
      WHERE s.projection = $1 AND s.workspace_id = $2 AND c.projection = $1 AND c.topic = $3 AND c.kafka_partition = 0`,
    [PROJECTION, id, TOPIC],
  );
  return rows[0];
}

async function damage(): Promise<void> {
  await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]'`);
}

async function deadLetterKeys(): Promise<string[]> {
  const { rows } = await db.pool.query<{ key: string }>('SELECT dead_letter_key AS key FROM rebuild_projection.dead_letters ORDER BY 1');
  return rows.map((r) => r.key);
}

describe('updates that touch no input of the generator', () => {
  it('advance the fold and the checkpoint, generate nothing and write no row; a later input update sees them all', async () => {
    const row = workspaceRow(1);
    await setUp([row]);
    expect((await apply(0, [asJson(createdEvent(row))])).written).toBe(1);
    // Damaged by hand: a batch that generated the row would repair it.
    await damage();
    const bumps = await apply(1, [asJson(updatedEvent(1, 2, bump(1, 2))), asJson(updatedEvent(1, 3, bump(1, 3)))]);
    expect({ written: bumps.written, unchanged: bumps.unchanged, nextOffset: bumps.nextOffset }).toEqual({ written: 0, unchanged: 0, nextOffset: '3' });
    expect(await readModel(db.pool)).toEqual(new Map([[1, []]]));
    // The devfile was not loaded for the bumps, and is kept as stored.
    expect(await stored(1)).toEqual({ version: '3', actual_state: 'Running', devfile: row.processed_devfile, next_offset: '3' });

    const stop = await apply(3, [asJson(updatedEvent(1, 4, { desired_state: 'Stopped' }))]);
    expect(stop.written).toBe(1);
    expect(await readModel(db.pool)).toEqual(expected({ ...row, ...bump(1, 3), desired_state: 'Stopped' }));
  });

  it('take three statements per batch: the locks, the checkpoint with the folds, and one write', async () => {
    const rows = [1, 2, 3].map((id) => workspaceRow(id));
    await setUp(rows);
    await apply(0, rows.map((row) => asJson(createdEvent(row))));
    const bumps = await apply(3, rows.flatMap((row) => [asJson(updatedEvent(row.id, 2, bump(row.id, 2))), asJson(updatedEvent(row.id, 3, bump(row.id, 3)))]));
    expect(bumps.statements).toBe(3);
  });

  it('keep the agent config a create carried, which the bumps leave in place, for the next generation', async () => {
    const row = workspaceRow(1);
    await setUp([row]);
    // Not the pinned config in GitLab's tables (DNS_ZONE): a lost carried config would be resolved to that one.
    const carried = agentConfigSchema.parse({ dns_zone: 'carried.example.test' });
    await apply(0, [asJson({ ...createdEvent(row), agentConfig: carried })]);
    await apply(1, [asJson(updatedEvent(1, 2, bump(1, 2)))]);
    await apply(2, [asJson(updatedEvent(1, 3, bump(1, 3)))]);
    expect((await apply(3, [asJson(updatedEvent(1, 4, { desired_state: 'Stopped' }))])).written).toBe(1);
    const workspace = { ...row, ...bump(1, 3), desired_state: 'Stopped' };
    expect(await readModel(db.pool)).toEqual(new Map([[1, generateDesiredConfig({ workspace, agentConfig: carried })]]));
  });

  it('regenerate a workspace whose last generation failed, once what it lacked is there', async () => {
    const row = workspaceRow(1, { cluster_agent_id: 2 });
    await setUp([row]);
    const create = await apply(0, [asJson(createdEvent(row))]);
    expect(create.deadLetterKinds).toEqual(['agent_config_missing']);
    await insertAgentConfig(db.pool, { cluster_agent_id: 2, dns_zone: DNS_ZONE });
    const bumped = await apply(1, [asJson(updatedEvent(1, 2, bump(1, 2)))]);
    expect({ written: bumped.written, failed: bumped.failed }).toEqual({ written: 1, failed: 0 });
    expect(await deadLetterKeys()).toEqual([]);
    expect(await readModel(db.pool)).toEqual(expected({ ...row, ...bump(1, 2) }));
  });

  it('a replay regenerates the workspaces whose replayed events carry inputs (a create), not those it only bumps', async () => {
    const [one, two] = [workspaceRow(1), workspaceRow(2)];
    await setUp([one, two]);
    await apply(0, [asJson(createdEvent(one)), asJson(createdEvent(two))]);
    await apply(2, [asJson(updatedEvent(1, 2, bump(1, 2))), asJson(updatedEvent(2, 2, bump(2, 2)))]);
    await damage();
    // Replayed from offset 1 (a replay rewrites the checkpoint first): workspace 2's create and both bumps are
    // folded already (stale).
    await saveCheckpoints(db.pool, PROJECTION, [{ topic: TOPIC, partition: 0, nextOffset: '1' }]);
    const replay = await apply(1, [asJson(createdEvent(two)), asJson(updatedEvent(1, 2, bump(1, 2))), asJson(updatedEvent(2, 2, bump(2, 2)))]);
    expect(replay.written).toBe(1);
    expect(await readModel(db.pool)).toEqual(new Map([[1, []], ...expected({ ...two, ...bump(2, 2) })]));
  });

  it('after a delete, drop the stored devfile and agent config; a re-create on the partition generates again', async () => {
    const row = workspaceRow(1);
    await setUp([row]);
    await apply(0, [asJson({ ...createdEvent(row), agentConfig }), asJson(updatedEvent(1, 2, bump(1, 2)))]);
    const deleted = await apply(2, [{ ...tombstone(1) }, asJson(updatedEvent(1, 3, bump(1, 3)))]);
    expect({ deleted: deleted.deleted, written: deleted.written }).toEqual({ deleted: 1, written: 0 });
    expect(await stored(1)).toEqual({ version: '2', actual_state: null, devfile: null, next_offset: '4' });
    const { rows } = await db.pool.query('SELECT agent_config FROM rebuild_projection.workspace_states WHERE projection = $1 AND workspace_id = 1', [PROJECTION]);
    expect(rows).toEqual([{ agent_config: null }]);
    expect(await readModel(db.pool)).toEqual(new Map());
    await apply(4, [asJson(createdEvent(row))]);
    expect(await readModel(db.pool)).toEqual(expected(row));
  });

  it('fold only while a rebuild builds, and the devfile a bump did not load is the one materialized', async () => {
    const row = workspaceRow(1);
    await setUp([row]);
    const shadow = 'agentk-states.rebuild-test';
    await apply(0, [asJson(createdEvent(row)), asJson(updatedEvent(1, 2, bump(1, 2)))], { projection: shadow, materialize: false });
    await apply(2, [asJson(updatedEvent(1, 3, bump(1, 3)))], { projection: shadow, materialize: false });
    const { rows } = await db.pool.query('SELECT version::text, processed_devfile FROM rebuild_projection.workspace_states WHERE projection = $1', [shadow]);
    expect(rows).toEqual([{ version: '3', processed_devfile: row.processed_devfile }]);
    expect(await readModel(db.pool)).toEqual(new Map());
  });
});
