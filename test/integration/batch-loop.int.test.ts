/**
 * The engine loop applies a large fetched batch in transactions of at most TRANSACTION_LIMITS.devfiles, each
 * with its own checkpoint, so that a batch's memory does not grow with the fetch size; and the batches of
 * several partitions handed over together (a fetch's) in one transaction, each with its own checkpoint.
 * Which transaction wrote a row is PostgreSQL's own record: the row version's xmin.
 */
import { describe, expect, it } from 'vitest';
import { createBatchEngine, TRANSACTION_LIMITS, type ReplayTotals } from '../../src/engine/batch-loop.js';
import { createWorkspaceDecoder } from '../../src/events/decode.js';
import type { Logger } from '../../src/ops/logger.js';
import { readCheckpoints } from '../../src/sink/postgres/checkpoints.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates, type RowSink } from '../../src/sink/postgres/row-sink.js';
import { BatchFailedError } from '../../src/engine/retry.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { asJson, createdEvent, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('loop.example');
const warnings: string[] = [];
const log: Logger = { debug: () => undefined, info: () => undefined, warn: (message) => warnings.push(message), error: () => undefined, child: () => log };

const TOPIC = 'workspace-events';

function engineOn(sink: RowSink = liveAgentkStates) {
  return createBatchEngine({
    db: db.pool,
    projection: 'agentk-states',
    decode: createWorkspaceDecoder(),
    agentConfigMode: 'pinned',
    sink,
    materialize: true,
    signal: new AbortController().signal,
    log,
  });
}

/** One partition's batch creating these workspaces, from offset 0. */
const creates = (partition: number, ids: readonly number[]) => ({
  topic: TOPIC,
  partition,
  messages: ids.map((id, i) => ({ ...asJson(createdEvent(workspaceRow(id))), topic: TOPIC, partition, offset: String(i), timestamp: '0' })),
});

/** The transactions (xmin) that wrote each partition's checkpoint and each workspace's row. */
async function writers(): Promise<{ checkpoints: Map<number, string>; rows: Map<number, string> }> {
  const checkpoints = await db.pool.query<{ p: number; x: string }>(`SELECT kafka_partition AS p, xmin::text AS x FROM rebuild_projection.checkpoints WHERE projection = 'agentk-states'`);
  const rows = await db.pool.query<{ id: number; x: string }>('SELECT workspace_id::int AS id, xmin::text AS x FROM workspace_agentk_states');
  return { checkpoints: new Map(checkpoints.rows.map((r) => [r.p, r.x])), rows: new Map(rows.rows.map((r) => [r.id, r.x])) };
}

describe('the batch loop', () => {
  it("applies the batches of several partitions handed over together in one transaction, each partition's checkpoint its own", async () => {
    await migrate(db.pool);
    await upsertWorkspaceRows(db.pool, [1, 2, 3, 4, 5, 6].map((id) => workspaceRow(id)));
    const engine = engineOn();

    const outcomes = await Promise.all([engine.apply(creates(0, [1, 2])), engine.apply(creates(1, [3, 4])), engine.apply(creates(2, [5, 6]))]);

    expect(outcomes.map((o) => o.nextOffset)).toEqual(['2', '2', '2']);
    expect(await readCheckpoints(db.pool, 'agentk-states', [TOPIC])).toEqual([0, 1, 2].map((partition) => ({ topic: TOPIC, partition, nextOffset: '2' })));
    const { checkpoints, rows } = await writers();
    expect(new Set([...checkpoints.values(), ...rows.values()]).size).toBe(1);
    expect([...rows.keys()].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(engine.totals).toMatchObject({ consumed: 6, written: 6, failed: 0 });
  });

  it('applies batches handed over together alone when they share a workspace', async () => {
    await migrate(db.pool);
    await upsertWorkspaceRows(db.pool, [1, 2, 3].map((id) => workspaceRow(id)));
    const engine = engineOn();

    await Promise.all([engine.apply(creates(0, [1, 2])), engine.apply(creates(1, [2, 3]))]);

    const { checkpoints } = await writers();
    expect(checkpoints.size).toBe(2);
    expect(checkpoints.get(0)).not.toBe(checkpoints.get(1));
    expect((await readModel(db.pool)).size).toBe(3);
  });

  it('applies each batch alone when their shared transaction fails for good: the others commit, the failing one is named', async () => {
    await migrate(db.pool);
    await upsertWorkspaceRows(db.pool, [1, 2, 3, 4].map((id) => workspaceRow(id)));
    // A permanent failure of the write of workspace 4's row (a bug, say): its batch's, not its neighbours'.
    const failing: RowSink = {
      ...liveAgentkStates,
      upsert: (client, rows, range) => (rows.some((row) => row.workspaceId === 4) ? Promise.reject(new Error('cannot write workspace 4')) : liveAgentkStates.upsert(client, rows, range)),
    };
    const engine = engineOn(failing);
    warnings.length = 0;

    const [ok, bad] = await Promise.allSettled([engine.apply(creates(0, [1, 2])), engine.apply(creates(1, [3, 4]))]);

    expect(ok).toEqual({ status: 'fulfilled', value: expect.objectContaining({ nextOffset: '2' }) });
    expect(bad.status).toBe('rejected');
    const error = (bad as PromiseRejectedResult).reason as BatchFailedError;
    expect(error).toBeInstanceOf(BatchFailedError);
    expect(error.message).toBe(`${TOPIC}[1] offsets 0..1: Error: cannot write workspace 4`);
    // The shared transaction's failure is said once, before each batch goes alone.
    expect(warnings).toEqual([expect.stringMatching(/offsets 0\.\.1, .* offsets 0\.\.1: their shared transaction failed, applying each batch alone: cannot write workspace 4$/)]);
    expect(await readCheckpoints(db.pool, 'agentk-states', [TOPIC])).toEqual([{ topic: TOPIC, partition: 0, nextOffset: '2' }]);
    expect([...(await readModel(db.pool)).keys()].sort()).toEqual([1, 2]);
  });


  it('applies a fetched batch larger than TRANSACTION_LIMITS.devfiles in several transactions, each committing its checkpoint', async () => {
    await migrate(db.pool);
    const n = 2 * TRANSACTION_LIMITS.devfiles + Math.floor(TRANSACTION_LIMITS.devfiles / 2);
    const rows = Array.from({ length: n }, (_, i) => workspaceRow(i + 1));
    await upsertWorkspaceRows(db.pool, rows);
    const commits: ReplayTotals[] = [];
    const engine = createBatchEngine({
      db: db.pool,
      projection: 'agentk-states',
      decode: createWorkspaceDecoder(),
      agentConfigMode: 'pinned',
      sink: liveAgentkStates,
      materialize: true,
      signal: new AbortController().signal,
      log,
      onBatch: (totals) => commits.push(totals),
    });
    const messages = rows.map((row, i) => ({ ...asJson(createdEvent(row)), topic: 'workspace-events', partition: 0, offset: String(i), timestamp: '0' }));

    const outcome = await engine.apply({ topic: 'workspace-events', partition: 0, messages });

    expect(commits.map((t) => t.consumed)).toEqual([TRANSACTION_LIMITS.devfiles, 2 * TRANSACTION_LIMITS.devfiles, n]);
    expect(outcome.nextOffset).toBe(String(n));
    expect(await readCheckpoints(db.pool, 'agentk-states', ['workspace-events'])).toEqual([{ topic: 'workspace-events', partition: 0, nextOffset: String(n) }]);
    expect((await readModel(db.pool)).size).toBe(n);
  });
});
