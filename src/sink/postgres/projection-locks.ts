/**
 * The locks of a projection's writers (advisory-locks.ts has every advisory lock's key):
 * - every batch that writes a projection holds its lock SHARED for its transaction (batches run in parallel);
 * - a rebuild's switch holds it EXCLUSIVE for the switch transaction, so no batch interleaves with the merge;
 * - a batch also locks the folds of its workspaces (exclusive, for its transaction) with row locks (lockFolds),
 *   so that concurrent batches (partitions, created/updated topics) that share a workspace serialize on it;
 * - a rebuild holds a session-level "rebuild:<projection>" lock for its whole life: one rebuild at a time.
 *   A session lock needs a session: behind PgBouncer in transaction pooling mode each statement may run on
 *   another server connection, so the rebuild checks that its session really holds the lock.
 */
import type { Session } from './database.js';
import { ADVISORY_LOCK_KEYS } from './advisory-locks.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** The projection's shared lock, for the projection named by $1. */
const PROJECTION_LOCK_SHARED = `pg_advisory_xact_lock_shared(${ADVISORY_LOCK_KEYS.projection('$1')})`;

export async function lockProjectionShared(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT ${PROJECTION_LOCK_SHARED}`, [projection]);
}

/**
 * Locks the folds of these workspaces for the caller's transaction, including workspaces that have no state
 * row yet: each has a row in `fold_locks` (migration 013), inserted when missing and locked when present, in
 * one statement, in id order (concurrent batches take shared workspaces in the same order, so they queue, not
 * deadlock). ON CONFLICT DO UPDATE … WHERE false locks the conflicting row without writing it, and waits for a
 * batch that inserted the same row and has not committed yet. With `projectionShared`, the projection's shared
 * lock comes first, in the same statement: an init plan that gates the rows (a switch holds that lock
 * exclusively before it touches these rows). Reads that must see what the previous holder committed go in a
 * later statement: a statement's snapshot is taken before it waits.
 */
export async function lockFolds(
  client: Session,
  projection: string,
  workspaceIds: Iterable<number>,
  options: { projectionShared: boolean },
): Promise<void> {
  const ids = [...new Set(workspaceIds)];
  if (ids.length === 0 && !options.projectionShared) return;
  await client.query(
    `${options.projectionShared ? `WITH projection_lock AS MATERIALIZED (SELECT ${PROJECTION_LOCK_SHARED})` : ''}
     INSERT INTO ${BOOKKEEPING_SCHEMA}.fold_locks (projection, workspace_id)
     SELECT $1, i.id FROM unnest($2::bigint[]) AS i(id)
      ${options.projectionShared ? 'WHERE EXISTS (SELECT FROM projection_lock)' : ''}
      ORDER BY i.id
     ON CONFLICT (projection, workspace_id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id WHERE false`,
    [projection, ids],
  );
}

export async function lockProjectionExclusive(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEYS.projection('$1')})`, [projection]);
}

/**
 * Runs `work` in one transaction on `client` holding the projection's exclusive lock: every batch that
 * writes the projection waits until COMMIT. On the session that holds the rebuild lock, so the switch never
 * waits on a lock its own process holds on another connection.
 */
export async function withProjectionFrozen<T>(client: Session, projection: string, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await lockProjectionExclusive(client, projection);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // The connection may be gone; the original error is the one to report.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Tries the session-level rebuild lock; true when this session now holds it. */
export async function tryLockRebuild(client: Session, projection: string): Promise<{ locked: boolean; backendPid: number }> {
  const { rows } = await client.query<{ locked: boolean; pid: number }>(
    `SELECT pg_try_advisory_lock(${ADVISORY_LOCK_KEYS.rebuild('$1')}) AS locked, pg_backend_pid() AS pid`,
    [projection],
  );
  return { locked: rows[0]?.locked === true, backendPid: rows[0]?.pid ?? 0 };
}

/**
 * Whether `client` keeps one backend across statements (a direct or session-pooled connection) while `other`
 * holds a transaction open. Through a transaction pooler, `other` is then most likely handed the server
 * connection `client` just used (PgBouncer reuses the most recent one), so `client`'s next statement lands on
 * another backend and the pid changes. Asked before the rebuild lock is taken, so that a refused run leaves no
 * session lock behind on a pooled server connection.
 */
export async function keepsItsBackend(client: Session, other: Session): Promise<{ stable: boolean; backendPid: number }> {
  const pid = async (on: Session): Promise<number> => (await on.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const first = await pid(client);
  await other.query('BEGIN');
  try {
    await pid(other);
    const second = await pid(client);
    return { stable: first === second, backendPid: first };
  } finally {
    await other.query('COMMIT');
  }
}

export async function unlockRebuild(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(${ADVISORY_LOCK_KEYS.rebuild('$1')})`, [projection]);
}
