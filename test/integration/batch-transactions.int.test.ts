/**
 * Where the batch loop cuts a fetched batch into transactions (TRANSACTION_LIMITS), against the real
 * PostgreSQL: by the work they hold, not by the messages. Updates that touch no generator input (an agent's
 * reconciliation bumps) of workspaces already in the transaction cost no fold of their own: a fetch of many
 * bumps of a few workspaces folds them into one transaction, while distinct workspaces, and messages, stay
 * bounded per transaction (a follower's memory must not grow with the fetch size, issue 12 row 7).
 */
import { describe, expect, it } from 'vitest';
import { createBatchEngine, TRANSACTION_LIMITS, type ReplayTotals } from '../../src/engine/batch-loop.js';
import { createWorkspaceDecoder, type WorkspaceMessage } from '../../src/events/decode.js';
import type { WorkspaceChanges } from '../../projections/agentk-states/events.js';
import type { Logger } from '../../src/ops/logger.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { asJson, createdEvent, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('transactions.example');
const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => log };
const TOPIC = 'workspace-events';

const bump = (version: number): WorkspaceChanges => ({ actual_state: version % 2 ? 'Running' : 'Stopped', responded_to_agent_at: new Date(1_700_000_000_000 + version) });

/** An engine on the live table, and the messages consumed by each of its commits. */
async function engineOver(workspaces: number) {
  await migrate(db.pool);
  const rows = Array.from({ length: workspaces }, (_, i) => workspaceRow(i + 1));
  await upsertWorkspaceRows(db.pool, rows);
  const commits: ReplayTotals[] = [];
  const engine = createBatchEngine({
    db: db.pool, projection: 'agentk-states', decode: createWorkspaceDecoder(), agentConfigMode: 'pinned', sink: liveAgentkStates,
    materialize: true, signal: new AbortController().signal, log, onBatch: (totals) => commits.push(totals),
  });
  let offset = 0;
  /** Applies `messages` as one fetched batch of partition 0; returns the messages of each of its transactions. */
  const fetched = async (messages: OutgoingMessage[]): Promise<number[]> => {
    const before = commits.length;
    const consumedBefore = commits.at(-1)?.consumed ?? 0;
    const positioned: WorkspaceMessage[] = messages.map((m) => ({ ...m, topic: TOPIC, partition: 0, offset: String(offset++), timestamp: '0' }));
    await engine.apply({ topic: TOPIC, partition: 0, messages: positioned });
    return commits.slice(before).map((t, i, all) => t.consumed - (i === 0 ? consumedBefore : all[i - 1]!.consumed));
  };
  await fetched(rows.map((row) => asJson(createdEvent(row))));
  return { fetched };
}

/** The sizes of the transactions that cut `total` messages at `limit` each. */
const sizes = (total: number, limit: number): number[] =>
  Array.from({ length: Math.ceil(total / limit) }, (_, i) => Math.min(limit, total - i * limit));

async function versions(): Promise<Map<string, number>> {
  const { rows } = await db.pool.query<{ version: string; n: number }>(
    `SELECT version::text, count(*)::int AS n FROM rebuild_projection.workspace_states WHERE projection = 'agentk-states' GROUP BY 1`,
  );
  return new Map(rows.map((r) => [r.version, r.n]));
}

describe('the batch loop cuts a fetched batch into transactions', () => {
  it('folds several bumps of each of a few workspaces in one transaction, past what distinct workspaces may take', async () => {
    const workspaces = 400;
    const { fetched } = await engineOver(workspaces);
    const rounds = Math.ceil((TRANSACTION_LIMITS.workspaces + 1) / workspaces);
    const bumps = Array.from({ length: rounds * workspaces }, (_, i) => asJson(updatedEvent((i % workspaces) + 1, 2 + Math.floor(i / workspaces), bump(i))));
    expect(bumps.length).toBeGreaterThan(TRANSACTION_LIMITS.workspaces);
    expect(bumps.length).toBeLessThanOrEqual(TRANSACTION_LIMITS.messages);

    expect(await fetched(bumps)).toEqual([bumps.length]);
    expect(await versions()).toEqual(new Map([[String(1 + rounds), workspaces]]));
  });

  it('keeps distinct workspaces, and workspaces that generate, within the limits', async () => {
    const workspaces = TRANSACTION_LIMITS.workspaces + 500;
    const { fetched } = await engineOver(workspaces);
    const stops = Array.from({ length: workspaces }, (_, i) => asJson(updatedEvent(i + 1, 2, { desired_state: 'Stopped' })));
    const bumps = Array.from({ length: workspaces }, (_, i) => asJson(updatedEvent(i + 1, 3, bump(i))));
    expect(await fetched(stops)).toEqual(sizes(workspaces, Math.min(TRANSACTION_LIMITS.workspaces, TRANSACTION_LIMITS.devfiles)));
    expect(await fetched(bumps)).toEqual(sizes(workspaces, TRANSACTION_LIMITS.workspaces));
    expect(await versions()).toEqual(new Map([['3', workspaces]]));
  });

  it('keeps the messages of one transaction within the limit, however few workspaces they name', async () => {
    const { fetched } = await engineOver(10);
    const bumps = Array.from({ length: TRANSACTION_LIMITS.messages + 5 }, (_, i) => asJson(updatedEvent((i % 10) + 1, 2 + Math.floor(i / 10), bump(i))));
    expect(await fetched(bumps)).toEqual([TRANSACTION_LIMITS.messages, 5]);
  });
});
