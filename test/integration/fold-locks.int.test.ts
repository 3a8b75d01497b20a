/**
 * The fold locks (projection-locks.ts lockFolds): two batches wait for each other exactly when they share a
 * workspace, whether or not its lock row exists yet, and never because their workspaces are merely many.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { lockFolds, lockProjectionExclusive } from '../../src/sink/postgres/projection-locks.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const PROJECTION = 'agentk-states';
/** Long enough for a granted lock, short enough that a wait fails the statement quickly. */
const LOCK_TIMEOUT = '1s';
const LOCK_NOT_AVAILABLE = '55P03';

let db: TestDatabase;
let sessions: pg.PoolClient[];

beforeEach(async () => {
  db = await createTestDatabase();
  await migrate(db.pool);
  sessions = [];
});

afterEach(async () => {
  for (const session of sessions) session.release();
  await db.drop();
});

/** A session with an open transaction that gives up on a lock after LOCK_TIMEOUT. */
async function openBatch(): Promise<pg.PoolClient> {
  const session = await db.pool.connect();
  sessions.push(session);
  await session.query('BEGIN');
  await session.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
  return session;
}

/** Ends a batch's transaction and gives its session back (the pool has 4). */
async function endBatch(session: pg.PoolClient, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
  await session.query(how);
  sessions.splice(sessions.indexOf(session), 1);
  session.release();
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

describe('lockFolds', () => {
  it('lets two batches of many workspaces run at once when they share none', async () => {
    // 1,000 ids each: under the 256 advisory buckets this replaced, the second batch waited for the first.
    const first = await openBatch();
    await lockFolds(first, PROJECTION, range(1, 1000), { projectionShared: true });
    const second = await openBatch();
    await expect(lockFolds(second, PROJECTION, range(100_001, 1000), { projectionShared: true })).resolves.toBeUndefined();
  });

  it('makes a batch wait for one that holds a shared workspace, existing or new, until it commits', async () => {
    const setup = await openBatch();
    await lockFolds(setup, PROJECTION, [5], { projectionShared: true });
    await endBatch(setup, 'COMMIT');

    for (const shared of [5, 7]) {
      const first = await openBatch();
      await lockFolds(first, PROJECTION, [1, shared, 9], { projectionShared: true });
      const second = await openBatch();
      const refused = await lockFolds(second, PROJECTION, [shared], { projectionShared: true }).then(() => undefined, (e: unknown) => e);
      expect((refused as { code?: unknown }).code, `workspace ${shared}`).toBe(LOCK_NOT_AVAILABLE);
      await endBatch(second, 'ROLLBACK');

      const waiting = await openBatch();
      const granted = lockFolds(waiting, PROJECTION, [shared, 2], { projectionShared: true });
      await endBatch(first, 'COMMIT');
      await expect(granted).resolves.toBeUndefined();
      await endBatch(waiting, 'ROLLBACK');
    }
  });

  it('keeps the projections apart, and the switch (exclusive projection lock) ahead of every batch', async () => {
    const live = await openBatch();
    await lockFolds(live, PROJECTION, [1], { projectionShared: true });
    const shadow = await openBatch();
    await expect(lockFolds(shadow, `${PROJECTION}#rebuild-1`, [1], { projectionShared: true })).resolves.toBeUndefined();
    await endBatch(live, 'COMMIT');
    await endBatch(shadow, 'COMMIT');

    const switching = await openBatch();
    await lockProjectionExclusive(switching, PROJECTION);
    // A batch of no workspace (a checkpoint's advance) waits all the same.
    for (const ids of [[2], []]) {
      const batch = await openBatch();
      const refused = await lockFolds(batch, PROJECTION, ids, { projectionShared: true }).then(() => undefined, (e: unknown) => e);
      expect((refused as { code?: unknown }).code, `${ids.length} workspaces`).toBe(LOCK_NOT_AVAILABLE);
      await endBatch(batch, 'ROLLBACK');
    }
  });
});
