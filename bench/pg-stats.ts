/**
 * Rows written, as PostgreSQL counts them (pg_stat_all_tables: n_tup_ins, n_tup_upd, n_tup_del), for the
 * tables a rebuild or a follower writes: the live table, the shadow and the undo log. These are the
 * server's numbers, not the CLI's, so a writer that says "unchanged" but writes anyway is caught.
 *
 * PostgreSQL 15 keeps table statistics in shared memory, flushed by each backend at transaction end at most
 * once a second; a backend that goes idle within that second holds them for up to 10 s
 * (PGSTAT_IDLE_INTERVAL), one that exits flushes them. So the writers are stopped (their backends exit)
 * before the counts are read, and a reading is taken only once it has stayed the same for SETTLED_MS; a
 * table that does not exist (yet) counts zero.
 */
import pg from 'pg';

export const TRACKED_TABLES = {
  live: { schema: 'public', table: 'workspace_agentk_states' },
  shadow: { schema: 'rebuild_projection', table: 'shadow_agentk_states' },
  undo: { schema: 'rebuild_projection', table: 'previous_agentk_states' },
} as const;
export type TrackedTable = keyof typeof TRACKED_TABLES;

export interface TableWrites {
  inserted: number;
  updated: number;
  deleted: number;
}
export type WritesByTable = Record<TrackedTable, TableWrites>;

const POLL_MS = 250;
/** Longer than the backends' flush interval (1 s), so the exits of the writers' backends have landed. */
const SETTLED_MS = 1_500;
const GIVE_UP_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readWrites(client: pg.Client): Promise<WritesByTable> {
  // A fresh statistics snapshot for every reading (stats_fetch_consistency may cache within a transaction).
  await client.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await client.query<{ schemaname: string; relname: string; ins: string; upd: string; del: string }>(
    `SELECT schemaname, relname, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_del::text AS del
       FROM pg_stat_all_tables WHERE (schemaname, relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [Object.values(TRACKED_TABLES).map((t) => t.schema), Object.values(TRACKED_TABLES).map((t) => t.table)],
  );
  const of = ({ schema, table }: { schema: string; table: string }): TableWrites => {
    const row = rows.find((r) => r.schemaname === schema && r.relname === table);
    return { inserted: Number(row?.ins ?? 0), updated: Number(row?.upd ?? 0), deleted: Number(row?.del ?? 0) };
  };
  return { live: of(TRACKED_TABLES.live), shadow: of(TRACKED_TABLES.shadow), undo: of(TRACKED_TABLES.undo) };
}

/** The counters once every backend has flushed (unchanged for SETTLED_MS); throws if they never settle. */
export async function settledWrites(url: string): Promise<WritesByTable> {
  const client = new pg.Client({ connectionString: url, application_name: 'rebuild-projection bench (pg_stat)' });
  await client.connect();
  try {
    const started = performance.now();
    let last = await readWrites(client);
    let stableSince = performance.now();
    for (;;) {
      await sleep(POLL_MS);
      const now = await readWrites(client);
      if (JSON.stringify(now) !== JSON.stringify(last)) {
        last = now;
        stableSince = performance.now();
      } else if (performance.now() - stableSince >= SETTLED_MS) return now;
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`pg_stat_all_tables did not settle within ${GIVE_UP_MS / 1000} s (something keeps writing the tracked tables)`);
    }
  } finally {
    await client.end();
  }
}

/** after − before, per table. A table dropped and created again in between would count from zero: not done here. */
export function writesBetween(before: WritesByTable, after: WritesByTable): WritesByTable {
  const minus = (a: TableWrites, b: TableWrites): TableWrites => ({ inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted });
  return { live: minus(after.live, before.live), shadow: minus(after.shadow, before.shadow), undo: minus(after.undo, before.undo) };
}

export const totalWrites = (w: TableWrites): number => w.inserted + w.updated + w.deleted;
