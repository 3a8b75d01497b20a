/**
 * The rebuild lock: a session-level advisory lock ("rebuild:<projection>", projection-locks.ts) held on one
 * dedicated connection for as long as a rebuild (or a rollback) runs, so that only one runs at a time.
 *
 * A session lock needs a session: behind PgBouncer in transaction pooling mode each statement may run on
 * another server connection, so the holder first checks that its connection keeps its backend. Losing that
 * connection (pg_terminate_backend, network) releases the lock: the work is told through `lost` and must stop.
 */
import type { Database, Lease } from './database.js';
import { keepsItsBackend, tryLockRebuild, unlockRebuild } from './projection-locks.js';
import { withClient } from './transaction.js';

/** The connection does not keep one PostgreSQL session across statements: a session lock would not hold. */
export class SessionPoolingError extends Error {
  override readonly name = 'SessionPoolingError';
  readonly retriable = false;
  constructor() {
    super(
      'the target database connection does not keep one PostgreSQL session across statements (PgBouncer in transaction pooling mode?): ' +
        'a rebuild holds a session advisory lock for its whole run; pass a --database-url that connects directly to PostgreSQL or through a session-pooled PgBouncer',
    );
  }
}

export interface HeldRebuildLock {
  /** The connection holding the lock (the switch runs on it, so it never waits on a lock its own process holds). */
  client: Lease;
  /** Aborted when the connection holding the lock is lost. */
  lost: AbortSignal;
  /** Why it was lost, once it was. */
  lostBecause(): Error | undefined;
}

/**
 * Runs `work` holding the rebuild lock of `projection`; `{ held: false }` without running it when another
 * session holds the lock.
 */
export async function withRebuildLock<T>(db: Database, projection: string, work: (lock: HeldRebuildLock) => Promise<T>): Promise<{ held: true; value: T } | { held: false }> {
  const client = await db.connect();
  // Unheard, a checked-out client's 'error' would crash the process; heard, it stops the work through `lost`.
  let lostBecause: Error | undefined;
  const lost = new AbortController();
  const onError = (error: Error): void => {
    lostBecause ??= error;
    lost.abort();
  };
  client.on('error', onError);
  try {
    // One embedded session is never behind a pooler (and cannot hold a transaction beside another lease's).
    const session = db.singleSession ? undefined : await withClient(db, (other) => keepsItsBackend(client, other));
    if (session && !session.stable) throw new SessionPoolingError();
    const lock = await tryLockRebuild(client, projection);
    if (session && lock.backendPid !== session.backendPid) throw new SessionPoolingError();
    if (!lock.locked) return { held: false };
    try {
      return { held: true, value: await work({ client, lost: lost.signal, lostBecause: () => lostBecause }) };
    } finally {
      // A lost session released its lock with it.
      if (!lostBecause) await unlockRebuild(client, projection);
    }
  } finally {
    client.off('error', onError);
    client.release(lostBecause);
  }
}
