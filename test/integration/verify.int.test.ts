import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, readFixture, withReadOnlyRole, type TestDatabase } from '../support/database.js';
import { insertAgentConfig, insertWorkspace } from '../support/gitlab-rows.js';
import { gitlabBackfillGolden } from '../support/golden.js';
import { logLines } from '../support/log-lines.js';

const seedDevfile = readFixture('gitlab/seed-processed-devfile.yaml');

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await db.drop();
});

const verify = (...extra: string[]) => runCli(['agentk-states', '--verify', '--database-url', db.url, ...extra]);

interface VerifyJson {
  workspaces: number;
  equal: number;
  differing: number;
  missing: number;
  extra: number;
  failed: number;
  clean: boolean;
  sample: { size: number; of_workspaces: number } | null;
  drift: { workspace_id: number; kind: string; paths: string[]; paths_total: number }[];
  failures: { workspace_id: number; kind: string; path: string | null; message: string }[];
}

const bookkeepingSchemaExists = async () =>
  (await db.pool.query<{ oid: string | null }>(`SELECT to_regnamespace('rebuild_projection')::text AS oid`)).rows[0]?.oid !== null;

/** Inserts a row for a workspace that does not exist, as only a table without its foreign key could hold. */
async function insertOrphanRow(workspaceId: number): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    await client.query(
      `INSERT INTO workspace_agentk_states (workspace_id, project_id, desired_config, created_at, updated_at) VALUES ($1, 1, '[]', now(), now())`,
      [workspaceId],
    );
  } finally {
    await client.query('RESET session_replication_role');
    client.release();
  }
}

describe('rebuild-projection agentk-states --verify (the table against what a snapshot rebuild would write)', () => {
  let ids: { a: number; b: number; c: number; d: number; broken: number };
  let agentConfigId: number;
  beforeEach(async () => {
    agentConfigId = await insertAgentConfig(db.pool, { cluster_agent_id: 1 });
    ids = {
      a: await insertWorkspace(db.pool, { name: 'ws-a', processed_devfile: seedDevfile }),
      b: await insertWorkspace(db.pool, { name: 'ws-b', processed_devfile: seedDevfile }),
      c: await insertWorkspace(db.pool, { name: 'ws-c', processed_devfile: seedDevfile }),
      d: await insertWorkspace(db.pool, { name: 'ws-d', processed_devfile: seedDevfile }),
      broken: await insertWorkspace(db.pool, { name: 'ws-broken', processed_devfile: seedDevfile.replace('size: 50Gi', 'size: fifty') }),
    };
    // The rebuild dead-letters the broken workspace (exit 2) and writes the four others.
    expect((await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url])).code).toBe(2);
  });

  it('is clean right after a snapshot rebuild, counting the broken workspace as failed, not as drift', async () => {
    const result = await verify();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('agentk-states verify: 5 workspaces, 4 equal, 0 differing, 0 missing, 0 extra, 1 failed');
    expect(lines[1]).toMatch(new RegExp(`^  workspace ${ids.broken} failed \\(devfile_invalid at components\\[3\\]\\.volume\\.size\\): workspace ${ids.broken}: `));
    expect(lines).toHaveLength(2);
  });

  it('reports each kind of drift made by hand, with the exact differing paths, and exits 2', async () => {
    // Spec §4: object 1 is the Deployment; its replica count is 1 for a Running workspace.
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = jsonb_set(desired_config, '{1,spec,replicas}', '5') WHERE workspace_id = $1`, [ids.a]);
    await db.pool.query(`UPDATE workspace_agentk_states SET project_id = project_id + 1 WHERE workspace_id = $1`, [ids.b]);
    await db.pool.query(`DELETE FROM workspace_agentk_states WHERE workspace_id = $1`, [ids.c]);
    await insertOrphanRow(999_999);
    // A row for the broken workspace is not compared: a rebuild keeps it (the workspace is dead-lettered).
    await insertOrphanRow(ids.broken);

    const text = await verify();
    expect(text.code).toBe(2);
    expect(text.stdout.trimEnd().split('\n').slice(0, 5)).toEqual([
      'agentk-states verify: 6 workspaces, 1 equal, 2 differing, 1 missing, 1 extra, 1 failed',
      `  workspace ${ids.a} differing: desired_config[1].spec.replicas`,
      `  workspace ${ids.b} differing: project_id`,
      `  workspace ${ids.c} missing`,
      '  workspace 999999 extra',
    ]);

    const json = await verify('--json');
    expect(json.code).toBe(2);
    expect(json.stdout.trimEnd().split('\n')).toHaveLength(1);
    const report = JSON.parse(json.stdout) as VerifyJson;
    expect(report).toMatchObject({ workspaces: 6, equal: 1, differing: 2, missing: 1, extra: 1, failed: 1, clean: false, sample: null });
    expect(report.drift).toEqual([
      { workspace_id: ids.a, kind: 'differing', paths: ['desired_config[1].spec.replicas'], paths_total: 1 },
      { workspace_id: ids.b, kind: 'differing', paths: ['project_id'], paths_total: 1 },
      { workspace_id: ids.c, kind: 'missing', paths: [], paths_total: 0 },
      { workspace_id: 999_999, kind: 'extra', paths: [], paths_total: 0 },
    ]);
    expect(report.failures).toEqual([
      {
        workspace_id: ids.broken,
        kind: 'devfile_invalid',
        path: 'components[3].volume.size',
        message: expect.stringContaining('quantities must match the regular expression'),
      },
    ]);
  });

  it('finds drift across batch boundaries and in rows past the last workspace', async () => {
    await db.pool.query(`DELETE FROM workspace_agentk_states WHERE workspace_id = $1`, [ids.d]);
    await insertOrphanRow(999_998);
    await insertOrphanRow(999_999);
    const result = await verify('--batch-size', '1', '--json');
    expect(result.code).toBe(2);
    const report = JSON.parse(result.stdout) as VerifyJson;
    expect(report).toMatchObject({ workspaces: 7, equal: 3, differing: 0, missing: 1, extra: 2, failed: 1 });
    expect(report.drift.map((d) => [d.workspace_id, d.kind])).toEqual([
      [ids.d, 'missing'],
      [999_998, 'extra'],
      [999_999, 'extra'],
    ]);
  });

  it('resolves agent configs as the rebuild does, --agent-config included', async () => {
    // Spec §1.2: workspaces at agent config version 0 are pinned to version row 0's object once it exists.
    await db.pool.query(
      `INSERT INTO workspaces_agent_config_versions (created_at, project_id, item_id, event, item_type, object)
       VALUES ('2025-09-01T00:00:00Z', 1, $1, 'update', 'RemoteDevelopment::WorkspacesAgentConfig', $2)`,
      [agentConfigId, JSON.stringify({ dns_zone: 'old.workspace.me' })],
    );
    const pinned = JSON.parse((await verify('--json')).stdout) as VerifyJson;
    expect(pinned).toMatchObject({ workspaces: 5, equal: 0, differing: 4, failed: 1, clean: false });
    const live = await verify('--agent-config', 'live');
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(/^agentk-states verify: 5 workspaces, 4 equal, 0 differing/);
  });

  it('--sample checks a random sample of that size and says so', async () => {
    const small = await verify('--sample', '2');
    expect(small.code).toBe(0);
    expect(small.stdout).toMatch(/^agentk-states verify \(random sample of 2 of 5 workspaces\): 2 workspaces, /);

    await db.pool.query(`DELETE FROM workspace_agentk_states WHERE workspace_id = $1`, [ids.a]);
    await insertOrphanRow(999_999);
    // A sample larger than the table is all of it (rows without a workspace included).
    const all = JSON.parse((await verify('--sample', '100', '--json')).stdout) as VerifyJson;
    expect(all).toMatchObject({ workspaces: 6, equal: 3, missing: 1, extra: 1, failed: 1, clean: false, sample: { size: 6, of_workspaces: 5 } });
  });

  it('bounds the list and says how many more there are, with exact counts', async () => {
    await db.pool.query('DELETE FROM workspace_agentk_states');
    for (let i = 0; i < 25; i++) await insertWorkspace(db.pool, { name: `ws-more-${i}`, processed_devfile: seedDevfile });
    const result = await verify();
    expect(result.code).toBe(2);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('agentk-states verify: 30 workspaces, 0 equal, 0 differing, 29 missing, 0 extra, 1 failed');
    expect(lines.filter((line) => / missing$/.test(line))).toHaveLength(20);
    expect(lines).toContain('  … 9 more workspaces with drift');
  });
});

describe('--verify as a read-only role on a database the rebuilder has never seen', () => {
  it('exits 0 on a table holding GitLab\'s own golden row, 2 once it drifts, and creates no schema', async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'test.workspace.me' });
    await db.pool.query(readFixture('sql/seed-workspace-insert.sql'));
    const { rows } = await db.pool.query<{ id: string }>('SELECT id::text FROM workspaces');
    const id = Number(rows[0]!.id);
    const golden = gitlabBackfillGolden({ name: 'workspace-2', namespace: 'workspace_2_namespace', id, replicas: 1 });
    await db.pool.query(
      `INSERT INTO workspace_agentk_states (workspace_id, project_id, desired_config, created_at, updated_at) VALUES ($1, 60, $2, now(), now())`,
      [id, JSON.stringify(golden)],
    );
    await withReadOnlyRole(db, async (url) => {
      const clean = await runCli(['agentk-states', '--verify', '--database-url', url]);
      expect(clean.stderr).toBe('');
      expect(clean.stdout).toBe('agentk-states verify: 1 workspaces, 1 equal, 0 differing, 0 missing, 0 extra, 0 failed\n');
      expect(clean.code).toBe(0);
      await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = desired_config #- '{0,metadata,labels,agent.gitlab.com/id}'`);
      const drifted = await runCli(['agentk-states', '--verify', '--database-url', url]);
      expect(drifted.code).toBe(2);
      expect(drifted.stdout).toContain(`  workspace ${id} differing: desired_config[0].metadata.labels["agent.gitlab.com/id"]`);
    });
    expect(await bookkeepingSchemaExists()).toBe(false);
  });

  it('exits 1 with one line when workspace_agentk_states is missing, and creates neither it nor our schema', async () => {
    await db.pool.query('DROP TABLE workspace_agentk_states');
    const result = await verify();
    expect(result.code).toBe(1);
    const lines = logLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fatal: the target database has no "workspace_agentk_states" table: .* \(it is not created here\); nothing was created in it$/);
    expect((await db.pool.query(`SELECT to_regclass('workspace_agentk_states') AS t`)).rows[0].t).toBeNull();
    expect(await bookkeepingSchemaExists()).toBe(false);
  });

  it('exits 1 with one line when workspaces is missing', async () => {
    await db.pool.query('DROP TABLE workspaces CASCADE');
    const result = await verify();
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([expect.stringMatching(/^fatal: the target database has no "workspaces" table: /)]);
    expect(await bookkeepingSchemaExists()).toBe(false);
  });
});
