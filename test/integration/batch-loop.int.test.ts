/**
 * The engine loop applies a large fetched batch in transactions of at most TRANSACTION_LIMITS.devfiles, each
 * with its own checkpoint, so that a batch's memory does not grow with the fetch size.
 */
import { describe, expect, it } from 'vitest';
import { createBatchEngine, TRANSACTION_LIMITS, type ReplayTotals } from '../../src/engine/batch-loop.js';
import { createWorkspaceDecoder } from '../../src/events/decode.js';
import type { Logger } from '../../src/ops/logger.js';
import { readCheckpoints } from '../../src/sink/postgres/checkpoints.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { asJson, createdEvent, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('loop.example');
const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => log };

describe('the batch loop', () => {
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
