/**
 * Advisory locks, keyed by name through hashtextextended so every process derives the same key:
 * - every batch that writes a projection holds its lock SHARED for its transaction (batches run in parallel);
 * - a rebuild's switch holds it EXCLUSIVE for the switch transaction, so no batch interleaves with the merge;
 * - a rebuild holds a session-level "rebuild:<projection>" lock for its whole life: one rebuild at a time.
 *   A session lock needs a session: behind PgBouncer in transaction pooling mode each statement may run on
 *   another server connection, so the rebuild checks that its session really holds the lock.
 */
import type { Session } from './database.js';

export async function lockProjectionShared(client: Session, projection: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock_shared(hashtextextended('projection:' || $1, 0))`, [projection]);
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
