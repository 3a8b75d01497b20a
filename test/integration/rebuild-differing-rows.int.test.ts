/**
 * A rebuild writes into its shadow only the rows that differ from the live table (shadow-agentk-states.ts),
 * and the switch refuses when a row it found right was changed by another writer since.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { fatalMessages } from '../support/log-lines.js';
import { upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('differ.example');

const cli = (...args: string[]) => runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, ...args]);

/** Each live row's version (xmin) and contents, by workspace: a row rewritten, even identically, gets a new xmin. */
async function liveRows(): Promise<Map<number, { xmin: string; desired_config: unknown; updated_at: Date }>> {
  const { rows } = await db.pool.query('SELECT workspace_id, xmin::text AS xmin, desired_config, updated_at FROM workspace_agentk_states ORDER BY workspace_id');
  return new Map(rows.map((row) => [Number(row.workspace_id), row]));
}

async function shadowIds(): Promise<number[]> {
  const { rows } = await db.pool.query(
    `SELECT workspace_id FROM rebuild_projection.shadow_agentk_states
      WHERE rebuild_id = (SELECT max(id) FROM rebuild_projection.rebuilds) ORDER BY workspace_id`,
  );
  return rows.map((row) => Number(row.workspace_id));
}

/** Builds a shadow without switching it; returns the fingerprint `--switch` needs. */
async function buildShadow(): Promise<string> {
  const built = await cli('--no-switch');
  expect(built.code).toBe(0);
  const fingerprint = /^fingerprint: ([0-9a-f]{64})/m.exec(built.stdout)?.[1];
  expect(fingerprint).toBeDefined();
  return fingerprint!;
}

async function liveTable(n: number): Promise<void> {
  await upsertWorkspaceRows(db.pool, Array.from({ length: n }, (_, i) => workspaceRow(i + 1)));
  expect((await cli()).code).toBe(0);
}

describe('a rebuild over a table that is nearly right', () => {
  it('writes no row when the table is already right: the shadow stays empty and the switch rewrites nothing', async () => {
    await liveTable(20);
    const before = await liveRows();

    const fingerprint = await buildShadow();
    expect(await shadowIds()).toEqual([]);
    const switched = await cli('--switch', '--fingerprint', fingerprint);
    expect(switched.code).toBe(0);
    expect(switched.stdout).toMatch(/0 written, 20 unchanged/);
    expect(await liveRows()).toEqual(before);
  });

  it('copies exactly the rows that differ into the shadow, and the switch restores them', async () => {
    await liveTable(20);
    const before = await liveRows();
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]' WHERE workspace_id IN (5, 12)`);

    const fingerprint = await buildShadow();
    expect(await shadowIds()).toEqual([5, 12]);
    expect((await cli('--switch', '--fingerprint', fingerprint)).code).toBe(0);
    const after = await liveRows();
    for (const [id, row] of before) {
      expect(after.get(id)?.desired_config).toEqual(row.desired_config);
      // Only the two repaired rows were written.
      if (id === 5 || id === 12) expect(after.get(id)?.xmin).not.toBe(row.xmin);
      else expect(after.get(id)?.xmin).toBe(row.xmin);
    }
  });

  it('compares as jsonb: a live row holding the same config in another number form is unchanged, one differing value is written', async () => {
    await liveTable(10);
    const before = await liveRows();
    // 1 printed as 1.0: the same jsonb value (equal, and equal hashes), another text (jsonb keeps a number's scale).
    await db.pool.query(
      `UPDATE workspace_agentk_states SET desired_config = regexp_replace(desired_config::text, '"replicas": ([0-9]+)', '"replicas": \\1.0', 'g')::jsonb
        WHERE workspace_id = 3`,
    );
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = jsonb_set(desired_config, '{0,metadata,name}', '"renamed"') WHERE workspace_id = 6`);
    const { rows: premise } = await db.pool.query(
      `SELECT desired_config::text LIKE '%"replicas": _.0%' AS rescaled, desired_config = $1::jsonb AS equal FROM workspace_agentk_states WHERE workspace_id = 3`,
      [JSON.stringify(before.get(3)?.desired_config)],
    );
    expect(premise[0]).toEqual({ rescaled: true, equal: true });
    const changed = await liveRows();

    await buildShadow();
    expect(await shadowIds()).toEqual([6]);
    expect(changed.get(6)?.desired_config).not.toEqual(before.get(6)?.desired_config);
  });

  it('a resumed rebuild compares again: a row changed by another writer since the build is written', async () => {
    await liveTable(10);
    const before = await liveRows();
    await buildShadow();
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]' WHERE workspace_id = 7`);
    expect((await cli()).code).toBe(0);
    expect((await liveRows()).get(7)?.desired_config).toEqual(before.get(7)?.desired_config);
  });

  it('refuses the switch, naming the workspace, when another writer changed a row the rebuild found right; the next run repairs it', async () => {
    await liveTable(10);
    const before = await liveRows();
    const fingerprint = await buildShadow();
    const foreign = [{ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'written-by-someone-else' } }];
    await db.pool.query('UPDATE workspace_agentk_states SET desired_config = $1::jsonb WHERE workspace_id = 4', [JSON.stringify(foreign)]);

    // The previewed diff is still the same (the row is marked unchanged): the marker check must refuse.
    const refused = await cli('--switch', '--fingerprint', fingerprint);
    expect(refused.code).toBe(1);
    const [fatal] = fatalMessages(refused.stderr);
    expect(fatal).toMatch(/1 rows of workspace_agentk_states were changed by another writer .*\(workspaces 4\); nothing was switched/);
    expect((await liveRows()).get(4)?.desired_config).toEqual(foreign);
    const { rows } = await db.pool.query(`SELECT phase FROM rebuild_projection.rebuilds ORDER BY id DESC LIMIT 1`);
    expect(rows[0]?.phase).toBe('abandoned');

    expect((await cli()).code).toBe(0);
    expect((await liveRows()).get(4)?.desired_config).toEqual(before.get(4)?.desired_config);
  });
});

/** Rows inserted into a table since the database was created, as PostgreSQL counts them (flushed by each backend at its exit). */
async function rowsInserted(table: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `SELECT coalesce(sum(n_tup_ins), 0)::text AS n FROM pg_stat_all_tables WHERE relname = $1`,
    [table],
  );
  return Number(rows[0]?.n ?? 0);
}

describe('a first install (no live rows, no consumer of ours yet)', () => {
  it('writes each row once, straight into the live table, and --rollback removes them all', async () => {
    await upsertWorkspaceRows(db.pool, Array.from({ length: 30 }, (_, i) => workspaceRow(i + 1)));
    const run = await cli();
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/30 written, 0 unchanged/);
    expect((await liveRows()).size).toBe(30);
    expect(await rowsInserted('shadow_agentk_states')).toBe(0);
    expect(await rowsInserted('workspace_agentk_states')).toBe(30);

    expect((await runCli(['agentk-states', '--rollback', '--database-url', db.url])).code).toBe(0);
    expect((await liveRows()).size).toBe(0);
  });

  it('with --no-switch goes through the shadow, touching nothing before the switch', async () => {
    await upsertWorkspaceRows(db.pool, Array.from({ length: 5 }, (_, i) => workspaceRow(i + 1)));
    const fingerprint = await buildShadow();
    expect((await liveRows()).size).toBe(0);
    expect(await shadowIds()).toEqual([1, 2, 3, 4, 5]);
    expect((await cli('--switch', '--fingerprint', fingerprint)).code).toBe(0);
    expect((await liveRows()).size).toBe(5);
  });
});
