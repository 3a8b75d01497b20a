/**
 * Advisory locks, keyed by name through hashtextextended so every process derives the same key:
 * - every batch that writes a projection holds its lock SHARED for its transaction (batches run in parallel);
 * - a rebuild's switch holds it EXCLUSIVE for the switch transaction, so no batch interleaves with the merge;
 * - a batch also locks the folds of its workspaces (exclusive, for its transaction): workspace ids hash into
 *   FOLD_LOCK_BUCKETS buckets, taken in bucket order, so concurrent batches (created/updated topics are consumed
 *   concurrently) that share workspaces serialize and cannot deadlock;
 * - a rebuild holds a session-level "rebuild:<projection>" lock for its whole life: one rebuild at a time.
 *   A session lock needs a session: behind PgBouncer in transaction pooling mode each statement may run on
 *   another server connection, so the rebuild checks that its session really holds the lock.
 */
import type { Session } from './database.js';

export async function lockProjectionShared(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock_shared(hashtextextended('projection:' || $1, 0))`, [projection]);
}

/**
 * Enough to keep unrelated batches apart, few enough for any lock table (4 concurrent batches: 1,024 locks).
 * One advisory lock per id would not scale: a batch of small updates holds tens of thousands of ids, and
 * PostgreSQL's shared lock table (max_locks_per_transaction × connections) runs out ("out of shared memory").
 */
const FOLD_LOCK_BUCKETS = 256;

/**
 * Locks the folds of these workspaces, including workspaces that have no state row yet (FOR UPDATE cannot
 * lock a row that does not exist); with `projectionShared`, the projection's shared lock first, in the same
 * statement (one round trip for a batch's locks). Reads that must see what the previous holder committed
 * go in a later statement: a statement's snapshot is taken before it waits.
 */
export async function lockFolds(
  client: Session,
  projection: string,
  workspaceIds: Iterable<number>,
  options: { projectionShared: boolean },
): Promise<void> {
  const buckets = new Set<number>();
  for (const id of workspaceIds) buckets.add(id % FOLD_LOCK_BUCKETS);
  // Bucket -1 stands for the projection lock: it sorts first.
  if (options.projectionShared) buckets.add(-1);
  if (buckets.size === 0) return;
  await client.query(
    `SELECT CASE WHEN k.bucket < 0 THEN pg_advisory_xact_lock_shared(hashtextextended('projection:' || $1, 0))
                 ELSE pg_advisory_xact_lock(hashtext($1), k.bucket) END
       FROM (SELECT bucket FROM unnest($2::int[]) AS bucket ORDER BY bucket) AS k`,
    [projection, [...buckets]],
  );
}

export async function lockProjectionExclusive(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0))`, [projection]);
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
    `SELECT pg_try_advisory_lock(hashtextextended('rebuild:' || $1, 0)) AS locked, pg_backend_pid() AS pid`,
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
  await client.query(`SELECT pg_advisory_unlock(hashtextextended('rebuild:' || $1, 0))`, [projection]);
}
