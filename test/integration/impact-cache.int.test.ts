import { describe, expect, it } from 'vitest';
import { computeImpact, type ImpactCache } from '../../src/engine/impact/compute-impact.js';
import { findUnfinishedRebuild } from '../../src/sink/postgres/rebuilds.js';
import { runCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('gen1.example');

const cli = (...args: string[]) => runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, ...args]);

describe('the switch guard measuring the diff twice (without locks, then in the switch transaction)', () => {
  it('reuses the summaries of rows not written since and summarizes again those that were: the same impact as one pass', async () => {
    await upsertWorkspaceRows(db.pool, Array.from({ length: 12 }, (_, i) => workspaceRow(i + 1)));
    expect((await cli()).code).toBe(0);
    await db.pool.query(`UPDATE workspaces SET desired_state = 'Stopped' WHERE id IN (2, 11)`);
    expect((await cli('--no-switch')).code).toBe(0);
    const rebuild = (await findUnfinishedRebuild(db.pool, 'agentk-states'))!;
    const measure = async (cache?: ImpactCache) => {
      const client = await db.pool.connect();
      try {
        // Small windows: cached and uncached rows in the same window and across windows.
        return await computeImpact(client, rebuild, { pageSize: 4, cache });
      } finally {
        client.release();
      }
    };
    const cache: ImpactCache = new Map();
    const first = await measure(cache);
    expect(first.counts).toMatchObject({ workspaces: 2, stop: 2 });
    expect([...cache.keys()]).toEqual([2, 11]);
    expect(await measure(cache)).toEqual(first);

    // Written in between: a live row of the diff becomes equal to its shadow row (11: out of the diff). (A live
    // row the rebuild found right has no shadow row to diff: when another writer changes one, the switch refuses,
    // see rebuild-differing-rows.int.test.ts.)
    await db.pool.query(`UPDATE workspace_agentk_states l SET desired_config = jsonb_set(l.desired_config, '{1,spec,replicas}', '0') WHERE workspace_id = 11`);
    const again = await measure(cache);
    const fresh = await measure();
    expect(again).toEqual(fresh);
    expect(again.fingerprint).not.toBe(first.fingerprint);
    expect(again.counts).toMatchObject({ workspaces: 1, stop: 1 });
    expect(again.sample.map((w) => [w.workspaceId, w.change])).toEqual([[2, 'stop']]);

    // And a row whose content changes but stays in the diff is summarized again (2: now a restart too).
    await db.pool.query(
      `UPDATE workspace_agentk_states l SET desired_config = jsonb_set(l.desired_config, '{1,spec,template,spec,containers,0,image}', '"x"') WHERE workspace_id = 2`,
    );
    const moved = await measure(cache);
    expect(moved).toEqual(await measure());
    expect(moved.sample[0]).toMatchObject({ workspaceId: 2, change: 'stop', objects: [{ kind: 'Deployment', templateChanged: true }] });
  });
});
