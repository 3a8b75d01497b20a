/**
 * Run history (`rebuild_projection.runs`): one row per invocation, for `--status` and post-mortems.
 *
 * Liveness (migration 005): a run holds the session-level advisory lock (RUN_LIVENESS, run id) on a connection
 * of its own from the moment its row becomes visible until it finishes. A process killed with -9 loses the
 * connection and so the lock: a 'running' row whose lock can be taken is `crashed`. The server decides, not a
 * clock, so a live run on another host is never misjudged (only one whose own connection broke).
 */
import { hostname } from 'node:os';
import { ADVISORY_LOCK_KEYS } from './advisory-locks.js';
import { openOwnSession, type Database, type OwnSession, type Session } from './database.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

export type RunStatus = 'succeeded' | 'succeeded_with_dead_letters' | 'failed';

export interface RunCounts {
  written: number;
  unchanged: number;
  failed: number;
}

/** The liveness lock of the run whose id is the column `id` (advisory-locks.ts). */
const RUN_LOCK = ADVISORY_LOCK_KEYS.run('id');

/** Each unfinished run's liveness connection, closed by `finishRun`. */
const livenessSessions = new Map<number, OwnSession>();

/** The 'running' runs whose liveness lock this session could take (so their process is gone); it holds them. */
async function lockGoneRuns(client: Session): Promise<number[]> {
  const { rows } = await client.query<{ id: string }>(
    `WITH candidates AS MATERIALIZED (SELECT id FROM ${BOOKKEEPING_SCHEMA}.runs WHERE status = 'running')
     SELECT id::text FROM candidates WHERE pg_try_advisory_lock(${RUN_LOCK})`,
  );
  return rows.map((row) => Number(row.id));
}

async function unlockRuns(client: Session, ids: readonly number[]): Promise<void> {
  if (ids.length > 0) await client.query(`SELECT pg_advisory_unlock(${RUN_LOCK}) FROM unnest($1::bigint[]) AS id`, [ids]);
}

/** Read-only (`--status`): the ids of 'running' rows whose process is gone, not yet marked 'crashed'. One session. */
export async function findGoneRuns(client: Session): Promise<number[]> {
  const ids = await lockGoneRuns(client);
  await unlockRuns(client, ids);
  return ids;
}

/**
 * Marks 'running' rows whose process is gone as 'crashed'. Runs on one session (the locks it tries are its
 * own until released). Returns their ids.
 */
export async function markCrashedRuns(client: Session): Promise<number[]> {
  const ids = await lockGoneRuns(client);
  if (ids.length === 0) return ids;
  try {
    await client.query(
      `UPDATE ${BOOKKEEPING_SCHEMA}.runs
          SET status = 'crashed', finished_at = now(),
              error = 'the process ended without finishing this run (its database session, and so its liveness lock, is gone)'
        WHERE id = ANY($1::bigint[]) AND status = 'running'`,
      [ids],
    );
  } finally {
    await unlockRuns(client, ids);
  }
  return ids;
}

/** Records the start of a run (first marking runs that crashed) and holds its liveness lock until `finishRun`. */
export async function startRun(db: Database, run: { projection: string; mode: string; source: string }): Promise<number> {
  // The row is finished through the pool whatever happens here; a lost session only lets another run mark
  // this one crashed early (finishRun then still records how it ended).
  const session = await openOwnSession(db, 'rebuild-projection (run liveness)');
  try {
    // The lock must last as long as the process: no idle timeout may end this idle session, and TCP
    // keepalives let the server notice within about a minute that a lost host's session is gone.
    await session.query('SET idle_session_timeout = 0; SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3');
    await markCrashedRuns(session);
    await session.query('BEGIN');
    const { rows } = await session.query<{ id: string }>(
      `INSERT INTO ${BOOKKEEPING_SCHEMA}.runs (projection, mode, source, host, pid, session_pid)
       VALUES ($1, $2, $3, $4, $5, pg_backend_pid()) RETURNING id`,
      [run.projection, run.mode, run.source, hostname(), process.pid],
    );
    const id = Number(rows[0]?.id);
    await session.query(`SELECT pg_advisory_lock(${RUN_LOCK}) FROM (SELECT $1::bigint AS id) AS run`, [id]);
    await session.query('COMMIT');
    livenessSessions.set(id, session);
    return id;
  } catch (error) {
    await session.end().catch(() => undefined);
    throw error;
  }
}

export async function finishRun(
  db: Session,
  runId: number,
  status: RunStatus,
  counts: RunCounts,
  error?: string,
): Promise<void> {
  try {
    await db.query(
      `UPDATE ${BOOKKEEPING_SCHEMA}.runs
          SET finished_at = now(), status = $2, written = $3, unchanged = $4, failed = $5, error = $6
        WHERE id = $1`,
      [runId, status, counts.written, counts.unchanged, counts.failed, error ?? null],
    );
  } finally {
    // After the UPDATE: ending the session releases the lock, and the row is no longer 'running' by then.
    const session = livenessSessions.get(runId);
    livenessSessions.delete(runId);
    await session?.end().catch(() => undefined);
  }
}

export interface RunRow {
  id: number;
  mode: string;
  status: string;
  host: string;
  pid: number;
  startedAt: Date;
  finishedAt: Date | null;
}

/** The runs still running, and the latest crashed ones, newest first (`limit` of each). */
export async function unfinishedAndCrashedRuns(
  db: Session,
  projection: string,
  limit: number,
): Promise<{ running: RunRow[]; crashed: RunRow[]; crashedTotal: number }> {
  const { rows } = await db.query<{ id: string; mode: string; status: string; host: string; pid: number; started_at: Date; finished_at: Date | null; crashed_total: string }>(
    `SELECT id::text, mode, status, host, pid, started_at, finished_at, crashed_total::text FROM (
       SELECT *, row_number() OVER (PARTITION BY status ORDER BY id DESC) AS n,
              count(*) FILTER (WHERE status = 'crashed') OVER () AS crashed_total
         FROM ${BOOKKEEPING_SCHEMA}.runs WHERE projection = $1 AND status IN ('running', 'crashed')
     ) AS r WHERE n <= $2 ORDER BY id DESC`,
    [projection, limit],
  );
  const toRun = (row: (typeof rows)[number]): RunRow => ({
    id: Number(row.id), mode: row.mode, status: row.status, host: row.host, pid: row.pid, startedAt: row.started_at, finishedAt: row.finished_at,
  });
  return {
    running: rows.filter((row) => row.status === 'running').map(toRun),
    crashed: rows.filter((row) => row.status === 'crashed').map(toRun),
    crashedTotal: Number(rows[0]?.crashed_total ?? 0),
  };
}
