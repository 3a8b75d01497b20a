/**
 * Versioned migrations of the rebuilder's own schema (`schemas/postgres/NNN_name.sql`), applied in order,
 * each in its own transaction, under an advisory lock so that two processes starting together do not race.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADVISORY_LOCK_KEYS } from './advisory-locks.js';
import type { Session } from './database.js';
import { postgresMigrationsDir } from '../../package-paths.js';

export const BOOKKEEPING_SCHEMA = 'rebuild_projection';

/** Our tables keyed by `projection`: a rebuild's shadow projection adopts or discards its rows in each. */
export const PROJECTION_TABLES = ['workspace_states', 'parked_updates', 'held_events', 'checkpoints', 'fold_locks', 'file_identities'] as const;


interface Migration {
  version: number;
  name: string;
  sql: string;
}

function readMigrations(dir: string): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d{3}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: readFileSync(join(dir, file), 'utf8'),
    }));
}

/** The migrations recorded as applied; undefined when our schema was never created (read-only commands check this). */
export async function readAppliedMigrations(client: Session): Promise<Set<number> | undefined> {
  const { rows } = await client.query<{ present: boolean }>(`SELECT to_regclass('${BOOKKEEPING_SCHEMA}.schema_migrations') IS NOT NULL AS present`);
  if (!rows[0]?.present) return undefined;
  const applied = await client.query<{ version: number }>(`SELECT version FROM ${BOOKKEEPING_SCHEMA}.schema_migrations`);
  return new Set(applied.rows.map((row) => row.version));
}

/** The migrations this version has that `applied` lacks, in order (read-only commands report them instead of applying). */
export function pendingMigrations(applied: ReadonlySet<number>, dir = postgresMigrationsDir): number[] {
  return readMigrations(dir).map((migration) => migration.version).filter((version) => !applied.has(version));
}

/** Applies every migration not yet recorded. Returns the versions it applied. */
export async function migrate(client: Session, dir = postgresMigrationsDir): Promise<number[]> {
  const migrations = readMigrations(dir);
  await client.query(`SELECT pg_advisory_lock(${ADVISORY_LOCK_KEYS.migrations})`);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${BOOKKEEPING_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${BOOKKEEPING_SCHEMA}.schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${BOOKKEEPING_SCHEMA}.schema_migrations`,
    );
    const applied = new Set(rows.map((row) => row.version));
    const newlyApplied: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${BOOKKEEPING_SCHEMA}.schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      newlyApplied.push(migration.version);
    }
    return newlyApplied;
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${ADVISORY_LOCK_KEYS.migrations})`);
  }
}
