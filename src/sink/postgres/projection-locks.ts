/**
 * Advisory locks, keyed by name through hashtextextended so every process derives the same key:
 * - every batch that writes a projection holds its lock SHARED for its transaction (batches run in parallel);
 * - a rebuild's switch holds it EXCLUSIVE for the switch transaction, so no batch interleaves with the merge;
 * - a rebuild holds a session-level "rebuild:<projection>" lock for its whole life: one rebuild at a time.
 */
import type pg from 'pg';

export async function lockProjectionShared(client: pg.ClientBase, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock_shared(hashtextextended('projection:' || $1, 0))`, [projection]);
}

export async function lockProjectionExclusive(client: pg.ClientBase, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0))`, [projection]);
}

/** Tries the session-level rebuild lock; true when this session now holds it. */
export async function tryLockRebuild(client: pg.ClientBase, projection: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_lock(hashtextextended('rebuild:' || $1, 0)) AS locked`,
    [projection],
  );
  return rows[0]?.locked === true;
}

export async function unlockRebuild(client: pg.ClientBase, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(hashtextextended('rebuild:' || $1, 0))`, [projection]);
}
