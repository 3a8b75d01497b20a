/**
 * A pool-shaped `Database` over ONE backend session (the embedded PostgreSQL is one session, embedded.ts).
 * The engine is written for a pool: several leases at once, a transaction on one while others run statements.
 * One session cannot hold two transactions, so the leases take turns; the SQL is the engine's own, unchanged.
 *
 * A lease is in one of three states:
 *   idle         each statement waits until no other lease is inside a transaction, then runs on its own
 *                (autocommit), as it would on a connection of its own
 *   transaction  from BEGIN to COMMIT/ROLLBACK the lease owns the session: other leases' statements and
 *                transactions wait (FIFO), so each transaction sees only its own writes and commits alone
 *   read-only    BEGIN … READ ONLY is not sent: its statements run as in idle. Such a transaction exists to
 *                read GitLab's tables as one snapshot while other leases write (the snapshot source holds it
 *                for a whole rebuild, its batches commit through other leases); in one session those writers
 *                would wait for it for ever. The snapshot is kept anyway: GitLab's tables have no other writer
 *                in an embedded database (one process at a time, and this one never writes them but
 *                workspace_agentk_states), and the read-only modes (--verify, --explain) run alone
 *
 * Session-level advisory locks are the session's, so they are reentrant across leases: one process may own
 * the session at a time (embedded.ts refuses a second), which is what the engine's liveness and rebuild
 * locks guard across processes. A lease that waits longer than SESSION_WAIT_LIMIT_MS fails loudly (a wait
 * on a transaction that waits for the waiter would otherwise hang for ever).
 */
import type pg from 'pg';
import type { Database, Lease } from './database.js';

/** Longest a statement waits for another lease's transaction; the engine's transactions last seconds. */
export const SESSION_WAIT_LIMIT_MS = 60_000;

export class SessionWaitError extends Error {
  override readonly name = 'SessionWaitError';
}

type Statement = 'begin' | 'begin-read-only' | 'end' | 'other';

function classify(text: string): Statement {
  const head = text.trimStart().slice(0, 200).toUpperCase();
  if (/^(BEGIN|START\s+TRANSACTION)\b/.test(head)) return /\bREAD\s+ONLY\b/.test(head) ? 'begin-read-only' : 'begin';
  if (/^(COMMIT|END|ABORT)\b/.test(head) || (/^ROLLBACK\b/.test(head) && !/^ROLLBACK\s+TO\b/.test(head))) return 'end';
  return 'other';
}

/** The result of a statement that was not sent (an emulated read-only BEGIN or its end). */
function notSent<R extends pg.QueryResultRow>(command: string): pg.QueryResult<R> {
  return { command, rowCount: null, oid: 0, rows: [], fields: [] };
}

/** FIFO turns on the session: whoever holds it is alone on it. */
class Turns {
  private holder: object | undefined;
  private readonly queue: { who: object; grant: () => void }[] = [];

  constructor(private readonly waitLimitMs: number) {}

  async take(who: object, what: string): Promise<void> {
    if (this.holder === undefined) {
      this.holder = who;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = { who, grant: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        reject(
          new SessionWaitError(
            `the embedded database's one session has been in another transaction of this process for ${this.waitLimitMs / 1000} s ` +
              `while ${what} waited for it (a transaction waiting for a statement outside it?)`,
          ),
        );
      }, this.waitLimitMs);
      this.queue.push(waiter);
    });
  }

  give(who: object): void {
    if (this.holder !== who) return;
    const next = this.queue.shift();
    this.holder = next?.who;
    next?.grant();
  }
}

class SessionLease implements Lease {
  private state: 'idle' | 'transaction' | 'read-only' = 'idle';
  private released = false;

  constructor(private readonly owner: SingleSessionDatabase) {}

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.released) throw new Error('a released lease of the embedded database was used again');
    const statement = classify(text);
    if (this.state === 'transaction') {
      try {
        return await this.owner.client.query<R>(text, values);
      } finally {
        if (statement === 'end') {
          this.state = 'idle';
          this.owner.turns.give(this);
        }
      }
    }
    if (statement === 'begin-read-only' || (statement === 'end' && this.state === 'read-only')) {
      this.state = statement === 'end' ? 'idle' : 'read-only';
      return notSent<R>(statement === 'end' ? 'COMMIT' : 'BEGIN');
    }
    if (statement !== 'begin') return this.owner.query<R>(text, values);
    await this.owner.turns.take(this, 'a transaction');
    try {
      const result = await this.owner.client.query<R>(text, values);
      this.state = 'transaction';
      return result;
    } catch (error) {
      this.owner.turns.give(this);
      throw error;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.state === 'transaction') {
      // Given back inside a transaction (its COMMIT or ROLLBACK failed): end it before anyone else's turn.
      // Queued first, so every later statement runs after it.
      this.owner.client.query('ROLLBACK').catch(() => undefined);
      this.owner.turns.give(this);
    }
    this.state = 'idle';
  }

  on(event: 'error', listener: (error: Error) => void): this {
    this.owner.client.on(event, listener);
    return this;
  }

  off(event: 'error', listener: (error: Error) => void): this {
    this.owner.client.off(event, listener);
    return this;
  }
}

export class SingleSessionDatabase implements Database {
  readonly singleSession = true;
  /** @internal Shared with the leases. */
  readonly turns: Turns;

  /** `client`: connected, and used by nothing else from now on. */
  constructor(
    readonly client: pg.Client,
    options: { waitLimitMs?: number } = {},
  ) {
    this.turns = new Turns(options.waitLimitMs ?? SESSION_WAIT_LIMIT_MS);
    // A broken session rejects the statement in flight, which reports it; unheard, 'error' would crash.
    client.on('error', () => undefined);
  }

  /** One statement on its own, between other leases' transactions. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const turn = {};
    await this.turns.take(turn, 'a statement');
    try {
      return await this.client.query<R>(text, values);
    } finally {
      this.turns.give(turn);
    }
  }

  async connect(): Promise<Lease> {
    return new SessionLease(this);
  }

  async end(): Promise<void> {
    await this.client.end();
  }
}
