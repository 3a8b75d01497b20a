/**
 * What the engine asks of a database, narrowed to what it uses, so that both a `pg.Pool` (the production
 * path, several backend sessions) and the embedded single-session adapter (single-session.ts) serve it:
 * - `Session`: runs statements (a pooled client, a pool, a lease of the one embedded session);
 * - `Lease`: a session borrowed from a `Database` and given back with `release` (error: discard it);
 * - `Database`: statements on any session, and leases.
 */
import pg from 'pg';

export interface Session {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Lease extends Session {
  /** With an error (or true): the session broke, do not lend it again. */
  release(error?: Error | boolean): void;
  /** 'error': the session's connection broke (the statement in flight rejects too). */
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}

export interface Database extends Session {
  /** One backend session behind every lease (single-session.ts); absent on a pg.Pool. */
  readonly singleSession?: true;
  connect(): Promise<Lease>;
  end(): Promise<void>;
}

/** A session of its own for as long as a run lives (its liveness lock), ended with `end`. */
export interface OwnSession extends Session {
  end(): Promise<void>;
}

/**
 * A new connection beside `db`'s pool (same server and credentials); on a single-session database there is
 * no other session to open, so it is a lease of that one, held until `end`.
 */
export async function openOwnSession(db: Database, applicationName: string): Promise<OwnSession> {
  if (db.singleSession) {
    const lease = await db.connect();
    return { query: (text, values) => lease.query(text, values), end: async () => lease.release() };
  }
  if (!(db instanceof pg.Pool)) throw new Error('openOwnSession: a Database is a pg.Pool or single-session');
  const client = new pg.Client({ ...db.options, application_name: applicationName });
  // A lost connection rejects the statement in flight (or the next one), which is where it is handled.
  client.on('error', () => undefined);
  await client.connect();
  return { query: (text, values) => client.query(text, values), end: () => client.end() };
}

/** Numbers the parameters of one statement as they are added, so that statement parts compose into one round trip. */
export interface StatementParams {
  /** Adds `value`; returns its placeholder (`$n`). */
  (value: unknown): string;
  readonly values: unknown[];
}

export function statementParams(): StatementParams {
  const values: unknown[] = [];
  return Object.assign((value: unknown) => `$${values.push(value)}`, { values });
}
