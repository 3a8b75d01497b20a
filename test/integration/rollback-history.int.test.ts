import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { logLines } from '../support/log-lines.js';
import { upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
  await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'gen0.example' });
  await upsertWorkspaceRows(db.pool, Array.from({ length: 4 }, (_, i) => workspaceRow(i + 1)));
});
afterEach(async () => {
  await db.drop();
});

const cli = (...args: string[]) => runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, ...args]);
const rollback = (...args: string[]) => runCli(['agentk-states', '--rollback', '--database-url', db.url, ...args]);

/** The live table, every column: a rollback restores rows exactly (ids aside, a deleted row comes back with a new id). */
async function table(): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query('SELECT workspace_id, project_id, desired_config, created_at, updated_at FROM workspace_agentk_states ORDER BY workspace_id');
  return rows;
}

/**
 * Rebuild #g switches generation g in: a new DNS zone changes every row, and generation 3 also inserts
 * workspace 5's. Returns the table after each switch, index 0 being the table before rebuild #1 (empty).
 */
async function generations(n: number, extra: string[] = []): Promise<Record<string, unknown>[][]> {
  const tables = [await table()];
  for (let g = 1; g <= n; g++) {
    await db.pool.query(`UPDATE workspaces_agent_configs SET dns_zone = $1`, [`gen${g}.example`]);
    if (g === 3) await upsertWorkspaceRows(db.pool, [workspaceRow(5)]);
    const result = await cli(...extra);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`rebuild #${g} from snapshot`);
    tables.push(await table());
  }
  return tables;
}

describe('rebuild-projection agentk-states --rollback with history', () => {
  it('undoes the last switches one at a time, two levels deep and further, restoring the exact earlier rows', async () => {
    const [empty, gen1, gen2, gen3] = await generations(3);
    expect(gen3).toHaveLength(5);

    const first = await rollback();
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe('agentk-states rollback: restored 5 rows changed by rebuild #3; earlier switches that can still be undone: #2, #1');
    expect(await table()).toEqual(gen2);

    const second = await rollback();
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe('agentk-states rollback: restored 4 rows changed by rebuild #2; earlier switches that can still be undone: #1');
    expect(await table()).toEqual(gen1);

    expect((await rollback()).stdout.trim()).toBe('agentk-states rollback: restored 4 rows changed by rebuild #1');
    expect(await table()).toEqual(empty);

    const none = await rollback();
    expect(none.code).toBe(1);
    expect(logLines(none.stderr)).toEqual(['fatal: rebuild #1 was already rolled back and no earlier switch\'s undo log is kept']);
    const status = await cli('--status');
    expect(status.stdout).toContain('generation: never rebuilt');
  });

  it('--rollback --to ID restores the table as it was before rebuild #ID switched, undoing the later switches first, in one go', async () => {
    const [, gen1, , gen3] = await generations(3);
    const to2 = await rollback('--to', '2');
    expect(to2.code).toBe(0);
    expect(to2.stdout.trim()).toBe(
      'agentk-states rollback: restored 9 rows changed by rebuilds #3, #2 (undone latest first): the table is as it was before rebuild #2 switched; earlier switches that can still be undone: #1',
    );
    expect(await table()).toEqual(gen1);
    const again = await rollback('--to', '3');
    expect(again.code).toBe(1);
    expect(logLines(again.stderr)).toEqual(['fatal: rebuild #3 was already rolled back; switches that can be undone, latest first: #1']);
    expect((await rollback('--to', '9')).stderr).toContain('rebuild #9 is not a rebuild of agentk-states');

    // A later switch goes on top of what is left: undoing it brings back generation 1, not 3.
    expect((await cli()).code).toBe(0);
    expect((await rollback()).stdout).toContain('changed by rebuild #4; earlier switches that can still be undone: #1');
    expect(await table()).toEqual(gen1);
    expect(gen3).not.toEqual(gen1);
  });

  it('keeps the undo logs of the last 3 switches, or of --rollback-history K', async () => {
    await generations(4);
    const tooOld = await rollback('--to', '1');
    expect(tooOld.code).toBe(1);
    expect(logLines(tooOld.stderr)).toEqual([
      "fatal: rebuild #1's undo log is no longer kept (only the last switches' are, see --rollback-history); switches that can be undone, latest first: #4, #3, #2",
    ]);
    const { rows } = await db.pool.query('SELECT DISTINCT rebuild_id::int AS id FROM rebuild_projection.previous_agentk_states ORDER BY 1');
    expect(rows).toEqual([{ id: 2 }, { id: 3 }, { id: 4 }]);

    await db.pool.query(`UPDATE workspaces_agent_configs SET dns_zone = 'gen5.example'`);
    expect((await cli('--rollback-history', '1')).code).toBe(0);
    const kept = await db.pool.query('SELECT DISTINCT rebuild_id::int AS id FROM rebuild_projection.previous_agentk_states ORDER BY 1');
    expect(kept.rows).toEqual([{ id: 5 }]);
    expect((await rollback('--to', '4')).stderr).toContain("rebuild #4's undo log is no longer kept");
  });
});
