/**
 * `--explain WORKSPACE_ID` through the real CLI, against real Kafka and PostgreSQL. Every expected origin is
 * written by hand from what the test produced: each topic has one partition, so the n-th message a test
 * produces to a topic is at offset n-1.
 */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { afterEach, beforeAll, beforeEach, describe, expect, it, inject } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { fatalMessages, logMessages } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
let kafka: Kafka;
let db: TestDatabase;
let creates: string;
let updates: string;
let group: string;

beforeAll(() => {
  kafka = createTestKafka(brokers, 'explain-tests');
});
beforeEach(async () => {
  db = await createTestDatabase();
  await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'test.workspace.me' });
  const suffix = randomBytes(4).toString('hex');
  creates = `workspace-created-${suffix}`;
  updates = `workspace-updated-${suffix}`;
  group = `explain-${suffix}`;
  await createTopic(kafka, creates, 1);
  await createTopic(kafka, updates, 1);
});
afterEach(async () => {
  await db.drop();
});

async function cli(topics: string, ...args: string[]) {
  const result = await runCli(['agentk-states', '--brokers', brokers, '--topic', topics, '--group', group, '--database-url', db.url, ...args]);
  const problems = logMessages(result.stderr);
  return { ...result, problems };
}

const explain = (id: number, ...args: string[]) => runCli(['agentk-states', '--database-url', db.url, '--explain', String(id), ...args]);

/** The parts of `--json` these tests check. */
interface ExplainJson {
  workspace_id: number;
  problems: string[];
  folded_state: { version: number; deleted: boolean } | null;
  origins: Record<string, unknown>[];
  origins_dropped: number;
  parked_updates: { version: number; topic: string; partition: number; offset: string }[];
  dead_letters_total: number;
  agent_config: Record<string, unknown> | null;
  live_row: { project_id: number; updated_at: string } | null;
  in_gitlab: boolean;
  from_folded_state: { ok: boolean; live_row?: string; paths?: string[]; paths_total?: number } | null;
  from_gitlab_row: { ok: boolean; live_row?: string; paths?: string[]; paths_total?: number } | null;
  folded_vs_gitlab: { columns: string[]; columns_total: number } | null;
}

async function explainJson(id: number): Promise<{ code: number; json: ExplainJson }> {
  const result = await explain(id, '--json');
  expect(result.stderr).toBe('');
  const lines = result.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return { code: result.code, json: JSON.parse(lines[0]!) as ExplainJson };
}

describe('--explain: where each version came from', () => {
  it('a create, an update parked before it on another topic, and a later update: every origin with its topic, partition and offset', async () => {
    const final = workspaceRow(51, { desired_state: 'Stopped', name: 'renamed' });
    await upsertWorkspaceRows(db.pool, [final]);
    // The update topic is consumed alone first: version 2 arrives before its create and is parked.
    await produce(kafka, updates, [asJson(updatedEvent(51, 2, { desired_state: 'Stopped' }))]); // updates@0
    const first = await cli(updates, '--from-checkpoint');
    expect(first.problems).toEqual([]);
    expect(first.code).toBe(0);

    const waiting = await explainJson(51);
    expect(waiting.code).toBe(2);
    expect(waiting.json.folded_state).toBeNull();
    expect(waiting.json.origins).toEqual([]);
    expect(waiting.json.parked_updates).toEqual([{ version: 2, topic: updates, partition: 0, offset: '0' }]);
    expect(waiting.json.problems).toContain("1 parked updates wait for the workspace's create");
    expect(waiting.json.live_row).toBeNull();
    expect(waiting.json.in_gitlab).toBe(true);

    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(51)))]); // creates@0
    await produce(kafka, updates, [asJson(updatedEvent(51, 3, { name: 'renamed' }))]); // updates@1
    const second = await cli(`${creates},${updates}`, '--from-checkpoint');
    expect(second.problems).toEqual([]);
    expect(second.code).toBe(0);

    const expectedOrigins = [
      { version: 1, kind: 'created', topic: creates, partition: 0, offset: '0' },
      { version: 2, kind: 'updated', topic: updates, partition: 0, offset: '0' },
      { version: 3, kind: 'updated', topic: updates, partition: 0, offset: '1' },
    ];
    const { code, json } = await explainJson(51);
    expect(code).toBe(0);
    expect(json.workspace_id).toBe(51);
    expect(json.problems).toEqual([]);
    expect(json.folded_state).toMatchObject({ version: 3, deleted: false });
    expect(json.origins).toEqual(expectedOrigins);
    expect(json.origins_dropped).toBe(0);
    expect(json.parked_updates).toEqual([]);
    expect(json.dead_letters_total).toBe(0);
    expect(json.live_row?.project_id).toBe(final.project_id);
    expect(json.from_folded_state).toEqual({ ok: true, live_row: 'equal', paths: [], paths_total: 0 });
    expect(json.from_gitlab_row).toEqual({ ok: true, live_row: 'equal', paths: [], paths_total: 0 });
    expect(json.folded_vs_gitlab).toEqual({ columns: [], columns_total: 0 });
    // No version rows: pinned version 0 does not exist, so the live config row is used, and says why.
    expect(json.agent_config).toMatchObject({ cluster_agent_id: 1, pinned_version: 0, from: 'live', reason: 'no_such_version', versions: 0 });

    const text = await explain(51);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      "agentk-states explain workspace 51: folded version 3, 0 parked updates, 0 dead letters, live row present, in GitLab's workspaces; no problems",
    );
    const origins = lines.indexOf('origins, oldest first (3 kept):');
    expect(lines.slice(origins + 1, origins + 4)).toEqual([
      `  v1 created ${creates}[0]@0`,
      `  v2 updated ${updates}[0]@0`,
      `  v3 updated ${updates}[0]@1`,
    ]);
    expect(lines).toContain('parked updates: none');
    expect(lines).toContain('generated from the folded state: equal to the live row');
  });

  it('a workspace rebuilt from a snapshot has the snapshot as its first origin, then the events after the handoff', async () => {
    const stopped = workspaceRow(61, { desired_state: 'Stopped' });
    await upsertWorkspaceRows(db.pool, [workspaceRow(61)]);
    // A consumer has been maintaining the table (it has checkpoints), so the snapshot rebuild hands off to Kafka.
    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(61)))]); // creates@0
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);
    const before = Date.now();
    const rebuilt = await cli(creates, '--source', 'snapshot');
    expect(rebuilt.problems).toEqual([]);
    expect(rebuilt.code).toBe(0);
    const after = Date.now();
    const { rows } = await db.pool.query<{ taken_at: Date }>('SELECT snapshot_taken_at AS taken_at FROM rebuild_projection.rebuilds');
    expect(rows).toHaveLength(1);
    const takenAt = rows[0]!.taken_at;
    expect(takenAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(takenAt.getTime()).toBeLessThanOrEqual(after);

    await upsertWorkspaceRows(db.pool, [stopped]);
    await produce(kafka, creates, [asJson(updatedEvent(61, 2, { desired_state: 'Stopped' }))]); // creates@1
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);

    const { code, json } = await explainJson(61);
    expect(code).toBe(0);
    // The rebuild's own folded states replaced the consumer's: its history starts at the snapshot.
    expect(json.origins).toEqual([
      { version: 0, kind: 'snapshot', taken_at: takenAt.toISOString() },
      { version: 2, kind: 'updated', topic: creates, partition: 0, offset: '1' },
    ]);
    expect(json.folded_state).toMatchObject({ version: 2, deleted: false });
    const text = await explain(61);
    expect(text.stdout).toContain(`  v0 snapshot taken ${takenAt.toISOString()}\n  v2 updated ${creates}[0]@1\n`);
  });
});

describe('--explain: a long history keeps the last 50 origins and counts the rest', () => {
  it('58 versions over two runs: v9…v58 kept with their offsets, 8 dropped', async () => {
    const final = workspaceRow(55, { name: 'v58' });
    await upsertWorkspaceRows(db.pool, [final]);
    const update = (version: number) => asJson(updatedEvent(55, version, { name: `v${version}` }));
    // Version v is at offset v-1: the create at 0, then one update per version.
    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(55))), ...Array.from({ length: 54 }, (_, i) => update(i + 2))]);
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);
    await produce(kafka, creates, [update(56), update(57), update(58)]);
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);

    const { code, json } = await explainJson(55);
    expect(code).toBe(0);
    expect(json.origins_dropped).toBe(8);
    expect(json.origins).toEqual(
      Array.from({ length: 50 }, (_, i) => ({ version: i + 9, kind: 'updated', topic: creates, partition: 0, offset: String(i + 8) })),
    );
    expect((await explain(55)).stdout).toContain('origins, oldest first (50 kept, 8 older dropped):\n');
  });
});

describe('a rebuild from zero of a long history', () => {
  it('2,100 versions of one workspace over many batches: v2051…v2100 kept, 2,050 dropped; a create and its update on two topics', async () => {
    await upsertWorkspaceRows(db.pool, [workspaceRow(55, { name: 'v2100' }), workspaceRow(57, { name: 'renamed' })]);
    const update = (version: number) => asJson(updatedEvent(55, version, { name: `v${version}` }));
    // On `creates`: workspace 55's create at offset 0, its version v at v-1, then workspace 57's create at 2100.
    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(55))), ...Array.from({ length: 2099 }, (_, i) => update(i + 2)), asJson(createdEvent(workspaceRow(57)))]);
    await produce(kafka, updates, [asJson(updatedEvent(57, 2, { name: 'renamed' }))]);
    const rebuilt = await cli(`${creates},${updates}`);
    expect(rebuilt.problems).toEqual([]);
    expect(rebuilt.code).toBe(0);

    const long = await explainJson(55);
    expect(long.json.folded_state).toMatchObject({ version: 2100, deleted: false });
    expect(long.json.origins_dropped).toBe(2050);
    expect(long.json.origins).toEqual(
      Array.from({ length: 50 }, (_, i) => ({ version: i + 2051, kind: 'updated', topic: creates, partition: 0, offset: String(i + 2050) })),
    );
    const twoTopics = await explainJson(57);
    expect(twoTopics.json.folded_state).toMatchObject({ version: 2, deleted: false });
    // Whichever topic was read first, the update applies over the create (parked until it arrives, if need be).
    expect(twoTopics.json.origins).toEqual([
      { version: 1, kind: 'created', topic: creates, partition: 0, offset: '2100' },
      { version: 2, kind: 'updated', topic: updates, partition: 0, offset: '0' },
    ]);
    // Spec desired-config.md: the workspace name N names the Deployment, the second object.
    const { rows } = await db.pool.query(`SELECT workspace_id::int AS id, desired_config -> 1 -> 'metadata' ->> 'name' AS name FROM workspace_agentk_states ORDER BY 1`);
    expect(rows).toEqual([{ id: 55, name: 'v2100' }, { id: 57, name: 'renamed' }]);
  });
});

describe('--explain: the live row against what the generator makes now', () => {
  it('a live row altered by SQL: the diff names the path, from the folded state and from GitLab\'s row, exit 2', async () => {
    await upsertWorkspaceRows(db.pool, [workspaceRow(71)]);
    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(71)))]);
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);
    // Element 1 is the Deployment (spec desired-config.md: object order); a running workspace has 1 replica.
    const altered = await db.pool.query(
      `UPDATE workspace_agentk_states SET desired_config = jsonb_set(desired_config, '{1,spec,replicas}', '7') WHERE workspace_id = 71
       RETURNING desired_config -> 1 ->> 'kind' AS kind`,
    );
    expect(altered.rows).toEqual([{ kind: 'Deployment' }]);

    const { code, json } = await explainJson(71);
    expect(code).toBe(2);
    const differing = { ok: true, live_row: 'differing', paths: ['desired_config[1].spec.replicas'], paths_total: 1 };
    expect(json.from_folded_state).toEqual(differing);
    expect(json.from_gitlab_row).toEqual(differing);
    expect(json.problems).toEqual([
      'the live row differs from what the folded state generates (1 paths)',
      "the live row differs from what GitLab's workspaces row generates (1 paths)",
    ]);
    const text = await explain(71);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain('generated from the folded state: differs from the live row at desired_config[1].spec.replicas\n');
  });

  it('GitLab\'s row changed without an event: the folded state and GitLab\'s row disagree, on the named column', async () => {
    await upsertWorkspaceRows(db.pool, [workspaceRow(81)]);
    await produce(kafka, creates, [asJson(createdEvent(workspaceRow(81)))]);
    expect((await cli(creates, '--from-checkpoint')).code).toBe(0);
    await upsertWorkspaceRows(db.pool, [workspaceRow(81, { desired_state: 'Stopped' })]);

    const { code, json } = await explainJson(81);
    expect(code).toBe(2);
    expect(json.folded_vs_gitlab).toEqual({ columns: ['desired_state'], columns_total: 1 });
    expect(json.from_folded_state).toMatchObject({ ok: true, live_row: 'equal' });
    expect(json.from_gitlab_row).toMatchObject({ ok: true, live_row: 'differing' });
  });
});

describe('--explain: read-only, and unknown workspaces', () => {
  it('an unknown workspace: exit 1 with one line; on a database we never touched nothing is created', async () => {
    const result = await explain(999);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(fatalMessages(result.stderr)).toEqual([
      'workspace 999 is unknown: no folded state, parked update or dead letter, no workspace_agentk_states row, no workspaces row',
    ]);
    const { rows } = await db.pool.query<{ oid: string | null }>(`SELECT to_regnamespace('rebuild_projection')::text AS oid`);
    expect(rows).toEqual([{ oid: null }]);
  });

  it('a workspace only in GitLab\'s table, as a role with only SELECT: no folded state, no live row, exit 2', async () => {
    await upsertWorkspaceRows(db.pool, [workspaceRow(91)]);
    const role = `explain_ro_${randomBytes(5).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const url = new URL(db.url);
      url.username = role;
      const result = await runCli(['agentk-states', '--database-url', url.toString(), '--explain', '91', '--json']);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(2);
      const json = JSON.parse(result.stdout) as ExplainJson;
      expect(json.folded_state).toBeNull();
      expect(json.live_row).toBeNull();
      expect(json.from_folded_state).toBeNull();
      expect(json.from_gitlab_row).toEqual({ ok: true, live_row: 'missing', paths: [], paths_total: 0 });
      expect(json.problems).toEqual(["no live row, though GitLab's workspaces row generates one"]);
    } finally {
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });
});
