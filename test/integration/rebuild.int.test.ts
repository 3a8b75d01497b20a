import { describe, expect, it } from 'vitest';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import {
  asAvro,
  createdEvent,
  createTopic,
  produce,
  readModel,
  tombstone,
  updatedEvent,
  upsertWorkspaceRows,
  workspaceRow,
} from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'rebuild-tests', dnsZone: 'gen1.example', topicPrefix: 'workspace-events', groupPrefix: 'rebuild' });
const { brokers, kafka, db } = ctx;

const kafkaArgs = () => ['--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url];
const cli = (...args: string[]) => runCli(['agentk-states', ...args, ...kafkaArgs()]);
const spawnAgentkStates = (...args: string[]) => spawnCli(['agentk-states', ...args, ...kafkaArgs()]);

async function query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.pool.query(sql, params)).rows as T[];
}

/** The DNS zones the live table's host templates use: one generation has exactly one. */
const ZONES_SQL = `SELECT count(*)::int AS rows,
         count(DISTINCT substring(desired_config -> 0 -> 'metadata' -> 'annotations' ->> 'workspaces.gitlab.com/host-template' FROM '[.]([a-z0-9]+[.]example)$'))::int AS zones,
         min(substring(desired_config -> 0 -> 'metadata' -> 'annotations' ->> 'workspaces.gitlab.com/host-template' FROM '[.]([a-z0-9]+[.]example)$')) AS zone
    FROM workspace_agentk_states`;

/** N workspaces, each a create and one update, produced to a 3-partition topic and present in `workspaces`. */
async function stream(n: number): Promise<WorkspaceRow[]> {
  await createTopic(kafka, ctx.topic, 3);
  const rows: WorkspaceRow[] = [];
  const messages = [];
  for (let id = 1; id <= n; id++) {
    const row = workspaceRow(id);
    messages.push(asAvro(createdEvent(row)), asAvro(updatedEvent(id, 2, { desired_state: 'Stopped' })));
    rows.push({ ...row, desired_state: 'Stopped' });
  }
  await upsertWorkspaceRows(db.pool, rows);
  await produce(kafka, ctx.topic, messages);
  return rows;
}

/** Fills the live table with generation 1, then makes the agent config say generation 2. */
async function liveGenerationOne(n: number): Promise<Map<number, unknown>> {
  await stream(n);
  expect((await cli('--from-beginning')).code).toBe(0);
  const before = await readModel(db.pool);
  expect(before.size).toBe(n);
  expect(await query(ZONES_SQL)).toEqual([{ rows: n, zones: 1, zone: 'gen1.example' }]);
  await db.pool.query(`UPDATE workspaces_agent_configs SET dns_zone = 'gen2.example'`);
  return before;
}

describe('rebuild-projection agentk-states (rebuild from zero)', () => {
  it('switches atomically: a reader polling the live table never sees fewer rows nor a mix of generations', async () => {
    await liveGenerationOne(300);
    const seen: { rows: number; zones: number; zone: string }[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        seen.push(...(await query<{ rows: number; zones: number; zone: string }>(ZONES_SQL)));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    // Small pages: the final materialization must walk every workspace in id order across pages.
    const result = await cli('--batch-size', '70');
    reading = false;
    await reader;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/rebuild #1 from kafka: 300 workspaces, 300 written, 0 unchanged, 0 deleted, 0 failed/);
    expect(seen.length).toBeGreaterThan(10);
    for (const sample of seen) {
      expect(sample.rows).toBe(300);
      expect(sample.zones).toBe(1);
    }
    expect(seen[0]!.zone).toBe('gen1.example');
    expect(await query(ZONES_SQL)).toEqual([{ rows: 300, zones: 1, zone: 'gen2.example' }]);
    // GitLab's definition is intact: same indexes and foreign key.
    const indexes = await query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'workspace_agentk_states' ORDER BY 1`);
    expect(indexes.map((i) => i.indexname)).toEqual([
      'index_workspace_agentk_states_on_project_id',
      'index_workspace_agentk_states_on_workspace_id',
      'workspace_agentk_states_pkey',
    ]);
  });

  it('survives kill -9 mid-rebuild with the live table untouched, resumes, and --rollback restores the previous table', async () => {
    // Enough workspaces for several build transactions per partition (TRANSACTION_LIMITS), so that the kill
    // lands between two of them.
    const workspaces = 2_000;
    const before = await liveGenerationOne(workspaces);
    const { child, exited } = spawnAgentkStates();
    // Kill it while it folds the topic's history into the shadow (checkpoints move, no switch yet).
    const shadowProgress = async () =>
      (await query<{ n: number }>(`SELECT coalesce(sum(next_offset), 0)::int AS n FROM rebuild_projection.checkpoints WHERE projection LIKE '%@rebuild-%'`))[0]!.n;
    await waitFor(async () => (await shadowProgress()) > 0);
    child.kill('SIGKILL');
    await exited;
    expect(await readModel(db.pool)).toEqual(before);
    const folded = await shadowProgress();
    expect(folded).toBeGreaterThan(0);
    expect(folded).toBeLessThan(2 * workspaces);

    const resumed = await cli();
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`rebuild #1 from kafka (resumed): ${workspaces} workspaces, ${workspaces} written`);
    expect(await query(ZONES_SQL)).toEqual([{ rows: workspaces, zones: 1, zone: 'gen2.example' }]);

    const status = await cli('--status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/generation: rebuild #1 from kafka, switched/);
    expect(status.stdout).toMatch(new RegExp(`${ctx.topic}\\[0\\] next offset \\d+, end \\d+, lag 0`));
    expect(status.stdout).toContain('dead letters: 0');

    const rollback = await cli('--rollback');
    expect(rollback.code).toBe(0);
    expect(rollback.stdout).toContain(`restored ${workspaces} rows changed by rebuild #1`);
    expect(await readModel(db.pool)).toEqual(before);
    const again = await cli('--rollback');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('rebuild #1 was already rolled back');
  });

  it('refuses a second rebuild at once, naming the holder', async () => {
    await liveGenerationOne(600);
    const first = spawnAgentkStates();
    await waitFor(async () => (await query<{ n: number }>(`SELECT count(*)::int AS n FROM rebuild_projection.rebuilds WHERE phase = 'building'`))[0]!.n > 0);
    const second = await cli();
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/a rebuild of agentk-states is already running: rebuild #1 on host \S+, pid \d+, started \d{4}-/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect((await first.exited).code).toBe(0);
  });

  it('refuses a Kafka rebuild, before touching anything, when the topic lost its early history', async () => {
    await stream(10);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.fetchTopicMetadata({ topics: [ctx.topic] });
      await admin.deleteTopicRecords({ topic: ctx.topic, partitions: [{ partition: 0, offset: '1' }] });
    } finally {
      await admin.disconnect();
    }
    const result = await cli();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${ctx.topic}[0] starts at offset 1`);
    expect(result.stderr).toContain('--source snapshot');
    expect((await query('SELECT * FROM rebuild_projection.rebuilds')).length).toBe(0);
    expect((await readModel(db.pool)).size).toBe(0);
  });

  it('hands a snapshot over to Kafka without a gap: changes made during the snapshot are applied', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const rows = Array.from({ length: 3000 }, (_, i) => workspaceRow(i + 1));
    await upsertWorkspaceRows(db.pool, rows);
    const follower = spawnAgentkStates('--source', 'snapshot', '--follow', '--batch-size', '100');
    // While the snapshot is being read: GitLab stops workspace 2999 and publishes the event.
    await waitFor(async () => (await query<{ done: number }>(`SELECT done::int FROM rebuild_projection.rebuilds WHERE start_offsets IS NOT NULL AND done > 0`)).length > 0);
    await db.pool.query(`UPDATE workspaces SET desired_state = 'Stopped', updated_at = now() WHERE id = 2999`);
    await produce(kafka, ctx.topic, [asAvro(updatedEvent(2999, 2, { desired_state: 'Stopped' }))]);
    await waitFor(async () => {
      const model = await readModel(db.pool);
      const deployment = (model.get(2999) as { spec?: { replicas: number } }[] | undefined)?.[1];
      return model.size === 3000 && deployment?.spec?.replicas === 0;
    });
    // And the follower keeps applying events after the switch.
    await produce(kafka, ctx.topic, [asAvro(updatedEvent(5, 2, { desired_state: 'Stopped' }))]);
    await waitFor(async () => ((await readModel(db.pool)).get(5) as { spec: { replicas: number } }[])[1]!.spec.replicas === 0);
    follower.child.kill('SIGTERM');
    const { code, stdout } = await follower.exited;
    expect(code).toBe(0);
    expect(stdout).toMatch(/rebuild #1 from snapshot: 3000 workspaces, 3000 written/);
  });

  it('keeps a running --follow consumer working during a Kafka rebuild; events of that time are in the switched-in table', async () => {
    await liveGenerationOne(300);
    const follower = spawnAgentkStates('--follow');
    const rebuild = spawnAgentkStates();
    await waitFor(async () => (await query<{ n: number }>(`SELECT count(*)::int AS n FROM rebuild_projection.rebuilds WHERE phase IN ('building', 'catching_up')`))[0]!.n > 0);
    await produce(kafka, ctx.topic, [asAvro(updatedEvent(7, 3, { desired_state: 'Running' }))]);
    const { code, stdout } = await rebuild.exited;
    expect(code).toBe(0);
    expect(stdout).toMatch(/rebuild #1 from kafka/);
    const deployment = ((await readModel(db.pool)).get(7) as { spec: { replicas: number } }[])[1]!;
    expect(deployment.spec.replicas).toBe(1);
    expect(await query(ZONES_SQL)).toEqual([{ rows: 300, zones: 1, zone: 'gen2.example' }]);
    await produce(kafka, ctx.topic, [asAvro(updatedEvent(8, 3, { desired_state: 'Running' }))]);
    await waitFor(async () => ((await readModel(db.pool)).get(8) as { spec: { replicas: number } }[])[1]!.spec.replicas === 1);
    follower.child.kill('SIGTERM');
    expect((await follower.exited).code).toBe(0);
  });

  it('deletes the live rows of workspaces the log tombstoned, and keeps (and counts) rows the log knows nothing about', async () => {
    await liveGenerationOne(20);
    // A workspace GitLab backfilled before its events were ever published: present, with a row, no events.
    await upsertWorkspaceRows(db.pool, [workspaceRow(500)]);
    await db.pool.query(
      `INSERT INTO workspace_agentk_states (workspace_id, project_id, desired_config, created_at, updated_at)
       VALUES (500, 1, '[{"kind":"ConfigMap"}]', now(), now())`,
    );
    await produce(kafka, ctx.topic, [tombstone(3)]);
    const result = await cli();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/19 workspaces, 19 written, 0 unchanged, 1 deleted, 0 failed \(dead letters\), 1 live rows kept/);
    const model = await readModel(db.pool);
    expect(model.has(3)).toBe(false);
    expect(model.get(500)).toEqual([{ kind: 'ConfigMap' }]);
    expect(model.size).toBe(20);
  });
});
