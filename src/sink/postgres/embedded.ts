/**
 * The embedded default: PostgreSQL in this process (PGlite, PostgreSQL 18 compiled to WASM), with its files
 * in a data directory of ours, for trying the tool without a server. Not for production: one process at a
 * time, one backend session.
 *
 *   openEmbeddedDatabase({ dataDir }): Promise<EmbeddedDatabase>
 *     Opens (creating on first use) the database in `dataDir`, holding the directory's lock until `end()`.
 *     The result is a `Database` (database.ts) like a pg.Pool: every engine mode runs on it, through the
 *     single-session adapter (single-session.ts). On first use GitLab's tables are created from
 *     schemas/gitlab/gitlab-schema.sql: the directory is ours, so its database is GitLab's by construction.
 *
 * Layout of `dataDir`: `postgres/` (PGlite's files) and `rebuild-projection.lock` (the pid holding it, with
 * its short-lived companions: data-dir-lock.ts). A directory holding anything else is refused, and so is a
 * database in it without GitLab's `workspaces`. A second process on the same directory is refused while the
 * first lives; a lock left by a process that died is taken over (data-dir-lock.ts).
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { gitlabSchemaDir } from '../../package-paths.js';
import type { Database } from './database.js';
import { isLockFile, lockDataDir } from './data-dir-lock.js';
import { SingleSessionDatabase } from './single-session.js';

export class EmbeddedDatabaseError extends Error {
  override readonly name = 'EmbeddedDatabaseError';
}

export interface EmbeddedDatabase extends Database {
  /** The absolute data directory, for messages. */
  readonly dataDir: string;
  /** Whether this open created the database (and GitLab's tables). */
  readonly created: boolean;
}

const POSTGRES_DIR = 'postgres';

/** `$XDG_CACHE_HOME/rebuild-projection`, else `~/.cache/rebuild-projection`. */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>>): string {
  const cache = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cache, 'rebuild-projection');
}

export async function openEmbeddedDatabase(options: { dataDir: string }): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  const postgresDir = join(dataDir, POSTGRES_DIR);
  refuseForeignFiles(dataDir);
  const unlock = lockDataDir(dataDir, (message, cause) => new EmbeddedDatabaseError(message, { cause }));
  let pglite: PGlite | undefined;
  try {
    const created = !holdsDatabase(dataDir, postgresDir);
    // Loaded here, not at startup: the pg path never needs PGlite.
    const [{ PGlite }, { createPgConfig }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite/node-postgres')]);
    pglite = await PGlite.create({ dataDir: postgresDir }).catch((error: unknown) => {
      throw new EmbeddedDatabaseError(`could not open the embedded database in ${postgresDir}: ${(error as Error).message}`, { cause: error });
    });
    const client = new pg.Client(createPgConfig(pglite));
    await client.connect();
    const db = new Embedded(client, pglite, dataDir, created, unlock);
    await ensureGitLabTables(db, dataDir);
    return db;
  } catch (error) {
    await pglite?.close().catch(() => undefined);
    unlock();
    throw error;
  }
}

class Embedded extends SingleSessionDatabase implements EmbeddedDatabase {
  constructor(
    client: pg.Client,
    private readonly pglite: PGlite,
    readonly dataDir: string,
    readonly created: boolean,
    private readonly unlock: () => void,
  ) {
    super(client);
  }

  override async end(): Promise<void> {
    try {
      await super.end();
      await this.pglite.close();
    } finally {
      this.unlock();
    }
  }
}

/** Refuses, before writing anything there, a directory that holds what is not ours. */
function refuseForeignFiles(dataDir: string): void {
  let entries: string[];
  try {
    mkdirSync(dataDir, { recursive: true });
    entries = readdirSync(dataDir);
  } catch (error) {
    throw new EmbeddedDatabaseError(`cannot use --data-dir ${dataDir}: ${(error as Error).message}`, { cause: error });
  }
  const others = entries.filter((name) => !isLockFile(name) && name !== POSTGRES_DIR);
  if (others.length > 0) {
    throw new EmbeddedDatabaseError(
      `--data-dir ${dataDir} holds files that are not an embedded database of rebuild-projection (${others.slice(0, 3).join(', ')}…): ` +
        'pass an empty or new directory',
    );
  }
}

/** Whether PGlite's directory holds a database (under the lock: another process may be creating it). */
function holdsDatabase(dataDir: string, postgresDir: string): boolean {
  const files = readdirSync(dataDir).includes(POSTGRES_DIR) ? readdirSync(postgresDir) : [];
  if (files.length > 0 && !files.includes('PG_VERSION')) {
    throw new EmbeddedDatabaseError(
      `${postgresDir} holds files but no database (PG_VERSION): an interrupted first run? Delete ${dataDir} or pass another --data-dir`,
    );
  }
  return files.length > 0;
}

/** Creates GitLab's tables in a database that has none; refuses one that has other tables but no `workspaces`. */
async function ensureGitLabTables(db: Database, dataDir: string): Promise<void> {
  const { rows } = await db.query<{ workspaces: string | null; tables: number }>(
    `SELECT to_regclass('public.workspaces')::text AS workspaces,
            (SELECT count(*)::int FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')) AS tables`,
  );
  if (rows[0]?.workspaces) return;
  if ((rows[0]?.tables ?? 0) > 0) {
    throw new EmbeddedDatabaseError(`the embedded database in ${dataDir} has tables but not GitLab's "workspaces": pass another --data-dir`);
  }
  // One simple-protocol string: PostgreSQL runs it as one implicit transaction, so it is all or nothing.
  await db.query(readFileSync(join(gitlabSchemaDir, 'gitlab-schema.sql'), 'utf8'));
}
