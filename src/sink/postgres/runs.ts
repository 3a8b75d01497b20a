/** Run history (`rebuild_projection.runs`): one row per invocation, for `--status` and post-mortems. */
import { hostname } from 'node:os';
import type pg from 'pg';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

export type RunStatus = 'succeeded' | 'succeeded_with_dead_letters' | 'failed';

export interface RunCounts {
  written: number;
  unchanged: number;
  failed: number;
}

export async function startRun(
  db: pg.ClientBase | pg.Pool,
  run: { projection: string; mode: string; source: string },
): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.runs (projection, mode, source, host, pid) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [run.projection, run.mode, run.source, hostname(), process.pid],
  );
  return Number(rows[0]?.id);
}

export async function finishRun(
  db: pg.ClientBase | pg.Pool,
  runId: number,
  status: RunStatus,
  counts: RunCounts,
  error?: string,
): Promise<void> {
  await db.query(
    `UPDATE ${BOOKKEEPING_SCHEMA}.runs
        SET finished_at = now(), status = $2, written = $3, unchanged = $4, failed = $5, error = $6
      WHERE id = $1`,
    [runId, status, counts.written, counts.unchanged, counts.failed, error ?? null],
  );
}
