/**
 * Every advisory lock the rebuilder takes, in one table: its key as a SQL expression, and what it guards.
 * One-key locks (bigint) and two-key locks (int4, int4) are separate spaces in PostgreSQL, so the run locks
 * cannot meet the others.
 */
export const ADVISORY_LOCK_KEYS = {
  /**
   * Projection `name` (a SQL expression): held shared by every batch that writes it, for its transaction, and
   * exclusive by a rebuild's switch (projection-locks.ts).
   */
  projection: (name: string) => `hashtextextended('projection:' || ${name}, 0)`,
  /** Session lock: one rebuild of projection `name` at a time (projection-locks.ts, rebuild-lock.ts). */
  rebuild: (name: string) => `hashtextextended('rebuild:' || ${name}, 0)`,
  /** Session lock: serializes migrations across processes (migrate.ts). An arbitrary constant. */
  migrations: '7344120001',
  /** Session lock held by the run whose id is `id` (a SQL expression) while it lives: its liveness (runs.ts). */
  run: (id: string) => `hashtext('run-liveness'), (${id} % 2147483648)::int`,
} as const;
