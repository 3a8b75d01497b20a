import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, readFixture, type TestDatabase } from '../support/database.js';
import { insertAgentConfig, insertWorkspace } from '../support/gitlab-rows.js';
import { gitlabBackfillGolden } from '../support/golden.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';

const seedDevfile = readFixture('gitlab/seed-processed-devfile.yaml');

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await db.drop();
});

function backfill(...extra: string[]) {
  return runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, ...extra]);
}

async function statesByWorkspace(): Promise<Map<number, { desired_config: unknown; project_id: string; updated_at: Date }>> {
  const { rows } = await db.pool.query(
    'SELECT workspace_id, project_id, desired_config, updated_at FROM workspace_agentk_states ORDER BY workspace_id',
  );
  return new Map(rows.map((row) => [Number(row.workspace_id), row]));
}

async function deadLetters() {
  const { rows } = await db.pool.query(
    'SELECT workspace_id, source, error_kind, error_path, message, input_excerpt, attempts FROM rebuild_projection.dead_letters ORDER BY workspace_id',
  );
  return rows;
}

describe('rebuild-projection agentk-states --source snapshot (a rebuild from GitLab\'s workspaces table)', () => {
  it("gives the seed's own workspace exactly GitLab's golden desired config", async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'test.workspace.me' });
    await db.pool.query(readFixture('sql/seed-workspace-insert.sql'));
    const result = await backfill();
    // Without a terminal, stderr carries only progress, as JSON log entries.
    const progress = logEntries(result.stderr).map((entry) => entry.progress);
    expect(progress).toContain('building');
    expect(progress).not.toContain(undefined);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/1 workspaces, 1 written, 0 unchanged, 0 deleted, 0 failed/);
    const states = await statesByWorkspace();
    expect(states.size).toBe(1);
    const [workspaceId, state] = [...states][0]!;
    expect(state.project_id).toBe('60');
    expect(state.desired_config).toEqual(
      gitlabBackfillGolden({ name: 'workspace-2', namespace: 'workspace_2_namespace', id: workspaceId!, replicas: 1 }),
    );
  });

  it('is idempotent: a second run writes nothing, keeps updated_at and creates no duplicates', async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1 });
    for (const name of ['ws-a', 'ws-b', 'ws-c']) await insertWorkspace(db.pool, { name, processed_devfile: seedDevfile });
    expect((await backfill()).code).toBe(0);
    const first = await statesByWorkspace();
    const second = await backfill();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/3 workspaces, 0 written, 3 unchanged, 0 deleted, 0 failed/);
    const after = await statesByWorkspace();
    expect(after.size).toBe(3);
    for (const [id, state] of after) {
      expect(state.updated_at).toEqual(first.get(id)?.updated_at);
      expect(state.desired_config).toEqual(first.get(id)?.desired_config);
    }
  });

  it('dead-letters a broken devfile with workspace id and path, writes the others, and exits 2', async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1 });
    const good = await insertWorkspace(db.pool, { name: 'good', processed_devfile: seedDevfile });
    const notYaml = await insertWorkspace(db.pool, { name: 'not-yaml', processed_devfile: 'components: [unclosed' });
    const badQuantity = await insertWorkspace(db.pool, {
      name: 'bad-quantity',
      processed_devfile: seedDevfile.replace('size: 50Gi', 'size: fifty'),
    });
    const result = await backfill();
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/3 workspaces, 1 written, 0 unchanged, 0 deleted, 2 failed/);
    expect([...(await statesByWorkspace()).keys()]).toEqual([good]);
    const letters = await deadLetters();
    expect(letters.map((l) => Number(l.workspace_id))).toEqual([notYaml, badQuantity]);
    expect(letters[0]).toMatchObject({ source: 'snapshot', error_kind: 'devfile_yaml', attempts: 1 });
    expect(letters[0].message).toContain(`workspace ${notYaml}`);
    expect(letters[0].input_excerpt).toBe('components: [unclosed');
    expect(letters[1]).toMatchObject({ error_kind: 'devfile_invalid' });
    expect(letters[1].error_path).toMatch(/components\[3\]\.volume\.size/);
    expect(letters[1].message).toContain('quantities must match the regular expression');
    const { rows } = await db.pool.query('SELECT name, desired_state, actual_state FROM workspaces ORDER BY id');
    expect(rows.every((row) => row.desired_state === 'Running' && row.actual_state === 'Running')).toBe(true);
  });

  it('clears a dead letter once the workspace projects successfully, and counts repeated failures', async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1 });
    const id = await insertWorkspace(db.pool, { name: 'flaky', processed_devfile: '- just a list' });
    expect((await backfill()).code).toBe(2);
    expect((await backfill()).code).toBe(2);
    expect((await deadLetters())[0]).toMatchObject({ error_kind: 'devfile_invalid', attempts: 2 });
    await db.pool.query('UPDATE workspaces SET processed_devfile = $1 WHERE id = $2', [seedDevfile, id]);
    expect((await backfill()).code).toBe(0);
    expect(await deadLetters()).toEqual([]);
    expect((await statesByWorkspace()).has(id)).toBe(true);
  });

  it('dead-letters a workspace whose agent has no config', async () => {
    const id = await insertWorkspace(db.pool, { name: 'orphan', cluster_agent_id: 77, processed_devfile: seedDevfile });
    const result = await backfill();
    expect(result.code).toBe(2);
    expect(await deadLetters()).toMatchObject([
      { workspace_id: String(id), error_kind: 'agent_config_missing', message: `workspace ${id}: cluster agent 77 has no workspaces_agent_configs row` },
    ]);
  });

  it('uses the pinned agent config version, or the live row with --agent-config live', async () => {
    const configId = await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'live.example.com' });
    await db.pool.query(
      `INSERT INTO workspaces_agent_config_versions (created_at, project_id, item_id, event, item_type, object)
       VALUES ('2025-01-01', 1, $1, 'create', 'RemoteDevelopment::WorkspacesAgentConfig', NULL),
              ('2025-02-01', 1, $1, 'update', 'RemoteDevelopment::WorkspacesAgentConfig', $2)`,
      [configId, JSON.stringify({ dns_zone: 'pinned.example.com', enabled: true })],
    );
    const v0 = await insertWorkspace(db.pool, { name: 'v0', processed_devfile: seedDevfile, workspaces_agent_config_version: 0 });
    const v1 = await insertWorkspace(db.pool, { name: 'v1', processed_devfile: seedDevfile, workspaces_agent_config_version: 1 });
    const v2 = await insertWorkspace(db.pool, { name: 'v2', processed_devfile: seedDevfile, workspaces_agent_config_version: 2 });
    expect((await backfill()).code).toBe(0);
    const hostTemplate = (id: number, states: Awaited<ReturnType<typeof statesByWorkspace>>) =>
      (states.get(id)?.desired_config as { metadata: { annotations: Record<string, string> } }[])[0]!.metadata.annotations[
        'workspaces.gitlab.com/host-template'
      ];
    let states = await statesByWorkspace();
    // Version 0 is the paper_trail "create" row (object null): the live row applies; 1 is pinned; 2 does not exist yet.
    expect(hostTemplate(v0, states)).toBe('{{.port}}-v0.live.example.com');
    expect(hostTemplate(v1, states)).toBe('{{.port}}-v1.pinned.example.com');
    expect(hostTemplate(v2, states)).toBe('{{.port}}-v2.live.example.com');
    expect((await backfill('--agent-config', 'live')).code).toBe(0);
    states = await statesByWorkspace();
    expect(hostTemplate(v1, states)).toBe('{{.port}}-v1.live.example.com');
  });

  it('reads the snapshot from --source-database-url and writes to --database-url', async () => {
    const source = await createTestDatabase();
    try {
      await insertAgentConfig(source.pool, { cluster_agent_id: 1 });
      const id = await insertWorkspace(source.pool, { name: 'remote', processed_devfile: seedDevfile });
      await insertWorkspace(db.pool, { id, name: 'remote', processed_devfile: null });
      const result = await backfill('--source-database-url', source.url);
      expect(result.code).toBe(0);
      expect((await statesByWorkspace()).has(id)).toBe(true);
      const { rows } = await source.pool.query(`SELECT to_regclass('rebuild_projection.runs') AS runs, count(*) FROM workspace_agentk_states`);
      expect(rows[0]).toEqual({ runs: null, count: '0' });
    } finally {
      await source.drop();
    }
  });

  it('backfills 10,000 workspaces in batches with nothing lost', async () => {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1 });
    await db.pool.query(
      `INSERT INTO workspaces (created_at, updated_at, user_id, project_id, cluster_agent_id, desired_state_updated_at,
                               name, namespace, desired_state, actual_state, processed_devfile,
                               workspaces_agent_config_version, desired_config_generator_version, project_ref)
       SELECT now(), now(), 1, 1 + i % 50, 1, now(), 'ws-' || i, 'ns-' || i,
              CASE WHEN i % 3 = 0 THEN 'Stopped' ELSE 'Running' END, 'Running', $1, 0, 3, 'main'
         FROM generate_series(1, 10000) AS i`,
      [seedDevfile],
    );
    const result = await backfill('--batch-size', '700');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/10000 workspaces, 10000 written, 0 unchanged, 0 deleted, 0 failed/);
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS rows, count(DISTINCT workspace_id)::int AS workspaces,
              count(*) FILTER (WHERE (desired_config -> 1 -> 'spec' ->> 'replicas')::int = 0)::int AS stopped
         FROM workspace_agentk_states s JOIN workspaces w ON w.id = s.workspace_id AND w.project_id = s.project_id`,
    );
    expect(rows[0]).toEqual({ rows: 10000, workspaces: 10000, stopped: 3333 });
  });
});

describe('rebuild-projection command line', () => {
  it('rejects an unknown flag with one line and exit code 64', async () => {
    const result = await runCli(['agentk-states', '--sauce', 'snapshot']);
    expect(result.code).toBe(64);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringContaining("Unknown option '--sauce'")]);
  });

  it('rejects a bad --batch-size naming the flag', async () => {
    const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, '--batch-size', 'lots']);
    expect(result.code).toBe(64);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringContaining('--batch-size must be a positive integer')]);
  });

  it('reports an unreachable database in one line with exit code 1 and no password', async () => {
    const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', 'postgres://me:secret@127.0.0.1:1/nope']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringContaining('could not connect to the target database postgres://me:***@127.0.0.1:1/nope')]);
    expect(result.stderr).not.toContain('secret');
  });

  it('prints help with every option', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--source', '--database-url', '--source-database-url', '--batch-size', '--help']) {
      expect(result.stdout).toContain(flag);
    }
  });
});
