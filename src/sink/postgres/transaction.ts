/**
 * Borrowing pooled connections safely. pg emits 'error' on a checked-out client whose backend dies
 * (pg_terminate_backend, a server restart); the pool's own handler covers only idle clients, and an 'error'
 * without a listener crashes the process. So each borrower listens while it holds the client, and a client
 * that broke is released with the error, which makes the pool discard it instead of lending it again.
 */
import type { Database, Lease } from './database.js';

type Work<T> = (client: Lease, markBroken: (error: unknown) => void) => Promise<T>;

async function borrow<T>(pool: Database, work: Work<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const markBroken = (error: unknown): void => {
    broken ??= error instanceof Error ? error : new Error(String(error));
  };
  // The query in flight fails with the same cause and reports it; this listener only marks the client.
  client.on('error', markBroken);
  try {
    return await work(client, markBroken);
  } finally {
    client.off('error', markBroken);
    client.release(broken);
  }
}

/** Lends `work` one pooled connection (for session-level things like advisory locks) and returns it after. */
export function withClient<T>(pool: Database, work: (client: Lease) => Promise<T>): Promise<T> {
  return borrow(pool, (client) => work(client));
}

/** Runs `work` in one transaction on a pooled connection: COMMIT on success, ROLLBACK and rethrow on failure. */
export function withTransaction<T>(pool: Database, work: (client: Lease) => Promise<T>): Promise<T> {
  return borrow(pool, async (client, markBroken) => {
    await client.query('BEGIN');
    let result: T;
    try {
      result = await work(client);
    } catch (error) {
      // A failed ROLLBACK means the connection is gone: discard it, and do not hide the original error.
      await client.query('ROLLBACK').catch(markBroken);
      throw error;
    }
    await client.query('COMMIT');
    return result;
  });
}

/**
 * Runs `work` in one REPEATABLE READ READ ONLY transaction: every statement sees the same snapshot, and
 * nothing can be written. Ended with COMMIT either way (there is nothing to undo).
 */
export function withReadOnlySnapshot<T>(pool: Database, work: (client: Lease) => Promise<T>): Promise<T> {
  return borrow(pool, async (client, markBroken) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await work(client);
    } finally {
      await client.query('COMMIT').catch(markBroken);
    }
  });
}
