import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import {
  asAvro,
  asJson,
  createdEvent,
  createTopic,
  produce,
  readModel,
  tombstone,
  updatedEvent,
  upsertWorkspaceRows,
  workspaceRow,
  type OutgoingMessage,
} from '../support/workspace-events.js';

const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });

const ctx = useKafkaTestContext({ clientId: 'replayer-tests', dnsZone: 'test.workspace.me', topicPrefix: 'workspace-events', groupPrefix: 'replayer' });
const { brokers, kafka, db } = ctx;

const spawnFollower = () =>
  spawnCli(['agentk-states', '--source', 'kafka', '--follow', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url]);

function consume(...extra: string[]) {
  return runCli(['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url, ...(extra.length ? extra : ['--from-checkpoint'])]);
}

/** The rows GitLab would hold for these final workspace states (the generator is verified on its own in unit tests). */
function expectedModel(finalRows: WorkspaceRow[]): Map<number, unknown> {
  return new Map(finalRows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })]));
}

async function checkpoints(): Promise<Map<string, number>> {
  // The CLI creates its bookkeeping schema on start: before that, nothing has been applied.
  const { rows: exists } = await db.pool.query(`SELECT to_regclass('rebuild_projection.checkpoints') AS t`);
  if (!exists[0].t) return new Map();
  const { rows } = await db.pool.query('SELECT kafka_partition, next_offset FROM rebuild_projection.checkpoints WHERE topic = $1', [ctx.topic]);
  return new Map(rows.map((row) => [`${row.kafka_partition}`, Number(row.next_offset)]));
}

/** A mixed stream: 30 workspaces, creates in Avro (both schema ids) and JSON, updates, a few tombstones. */
function mixedStream() {
  const messages: OutgoingMessage[] = [];
  const finalRows: WorkspaceRow[] = [];
  const deletedIds: number[] = [];
  for (let id = 1; id <= 30; id++) {
    const row = workspaceRow(id);
    const encode = id % 3 === 0 ? asJson : (e: Parameters<typeof asAvro>[0]) => asAvro(e, id % 3 === 1 ? 1 : 2);
    messages.push(encode(createdEvent(row)));
    const stopped = { ...row, desired_state: 'Stopped', actual_state: 'Stopped' };
    messages.push(encode(updatedEvent(id, 2, { desired_state: 'Stopped', actual_state: 'Stopped' })));
    let final = stopped;
    if (id % 4 === 0) {
      final = { ...stopped, desired_state: 'Running', name: `renamed-${id}` };
      messages.push(encode(updatedEvent(id, 3, { desired_state: 'Running', name: `renamed-${id}` })));
    }
    if (id % 10 === 5) {
      messages.push(tombstone(id));
      deletedIds.push(id);
    } else finalRows.push(final);
  }
  return { messages, finalRows, deletedIds };
}

describe('rebuild-projection agentk-states --source kafka', () => {
  it('projects a mixed Avro/JSON stream with updates and tombstones into exactly the final states', async () => {
    await createTopic(kafka, ctx.topic, 3);
    const { messages, finalRows, deletedIds } = mixedStream();
    await upsertWorkspaceRows(db.pool, finalRows);
    await produce(kafka, ctx.topic, messages);
    const result = await consume();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const model = await readModel(db.pool);
    expect(model).toEqual(expectedModel(finalRows));
    for (const id of deletedIds) expect(model.has(id)).toBe(false);
    // Hand-checked facts of the final states: workspace 4 was renamed and runs, workspace 1 is stopped.
    const deployment = (id: number) => (model.get(id) as { kind: string; metadata: { name: string }; spec: { replicas: number } }[])[1]!;
    expect(deployment(4)).toMatchObject({ kind: 'Deployment', metadata: { name: 'renamed-4' }, spec: { replicas: 1 } });
    expect(deployment(1)).toMatchObject({ metadata: { name: 'workspace-1' }, spec: { replicas: 0 } });
    // Checkpoints reached the end of every partition, and Kafka holds the same offsets for lag tools.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(ctx.topic);
      const committed = (await admin.fetchOffsets({ groupId: ctx.group, topics: [ctx.topic] }))[0]!.partitions;
      const ours = await checkpoints();
      for (const end of ends) {
        expect(ours.get(`${end.partition}`) ?? 0).toBe(Number(end.high));
        expect(Number(committed.find((p) => p.partition === end.partition)?.offset ?? 0)).toBe(Number(end.high));
      }
    } finally {
      await admin.disconnect();
    }
    // Running again applies nothing: everything is below the checkpoints.
    const again = await consume();
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/: 0 events, 0 written/);
  });

  it('parks updates that arrive before their create on another topic and applies them when it comes', async () => {
    const updatesTopic = `${ctx.topic}-updated`;
    await createTopic(kafka, ctx.topic, 2);
    await createTopic(kafka, updatesTopic, 2);
    const row = workspaceRow(41);
    const final = { ...row, desired_state: 'Stopped', name: 'late-create' };
    await upsertWorkspaceRows(db.pool, [final]);
    await produce(kafka, updatesTopic, [asJson(updatedEvent(41, 2, { desired_state: 'Stopped' })), asJson(updatedEvent(41, 3, { name: 'late-create' }))]);
    const first = await runCli(['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', updatesTopic, '--group', ctx.group, '--database-url', db.url, '--from-checkpoint']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/2 parked/);
    expect((await readModel(db.pool)).size).toBe(0);
    await produce(kafka, ctx.topic, [asAvro(createdEvent(row))]);
    const second = await runCli(['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', `${ctx.topic},${updatesTopic}`, '--group', ctx.group, '--database-url', db.url, '--from-checkpoint']);
    expect(second.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expectedModel([final]));
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM rebuild_projection.parked_updates');
    expect(rows[0].n).toBe(0);
  });

  it('dead-letters bad messages with their position and reason, and applies everything else', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const good = workspaceRow(51);
    const badDevfile = workspaceRow(52, { processed_devfile: 'components: [' });
    await upsertWorkspaceRows(db.pool, [good, badDevfile]);
    await produce(kafka, ctx.topic, [
      { key: Buffer.from('50'), value: Buffer.from([0x07, 1, 2, 3]) },
      { key: Buffer.from('50'), value: Buffer.from([0x00, 0, 0, 0, 99, 1, 2]) },
      { key: Buffer.from('50'), value: Buffer.from('{"type":"workspace-created","workspace_id":50}') },
      asJson(createdEvent(good)),
      asJson(createdEvent(badDevfile)),
    ]);
    const result = await consume();
    expect(result.code).toBe(2);
    expect(await readModel(db.pool)).toEqual(expectedModel([good]));
    const { rows } = await db.pool.query(
      'SELECT kafka_offset::int AS offset, topic, error_kind, error_path, message, workspace_id FROM rebuild_projection.dead_letters ORDER BY kafka_offset',
    );
    expect(rows.map((r) => [r.offset, r.error_kind])).toEqual([
      [0, 'bad_magic_byte'],
      [1, 'unknown_schema_id'],
      [2, 'schema_invalid'],
      [4, 'devfile_yaml'],
    ]);
    for (const row of rows) expect(row.topic).toBe(ctx.topic);
    expect(rows[0].message).toContain(`${ctx.topic}`);
    expect(rows[3]).toMatchObject({ workspace_id: '52' });
  });

  it('replays from an offset and from a timestamp without changing a correct table', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const { messages, finalRows } = mixedStream();
    await upsertWorkspaceRows(db.pool, finalRows);
    await produce(kafka, ctx.topic, messages);
    expect((await consume()).code).toBe(0);
    // Damage the read model; a replay regenerates every workspace its events touch.
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]'`);
    const fromOffset = await consume('--from-offset', '0');
    expect(fromOffset.code).toBe(0);
    expect(fromOffset.stdout).toMatch(new RegExp(`: ${messages.length} events`));
    expect(await readModel(db.pool)).toEqual(expectedModel(finalRows));
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]'`);
    const fromTimestamp = await consume('--from-timestamp', '2000-01-01T00:00:00Z');
    expect(fromTimestamp.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expectedModel(finalRows));
    // Per-partition offsets: replaying only partition 0 from its end touches nothing.
    const fromEnd = await consume('--from-offset', `0:${(await checkpoints()).get('0')}`);
    expect(fromEnd.stdout).toMatch(/: 0 events/);
  });

  it('survives kill -9 in the middle of a stream: restarted, the table is exactly right', async () => {
    await createTopic(kafka, ctx.topic, 3);
    const messages: OutgoingMessage[] = [];
    const finalRows: WorkspaceRow[] = [];
    // Enough workspaces for several transactions per partition (at most TRANSACTION_LIMITS.devfiles generating
    // workspaces each), so that the kill lands between two of them.
    const workspaces = 1_600;
    for (let id = 1; id <= workspaces; id++) {
      const row = workspaceRow(id);
      messages.push(asAvro(createdEvent(row)));
      for (let v = 2; v <= 4; v++) messages.push(asAvro(updatedEvent(id, v, { desired_state: v % 2 === 0 ? 'Stopped' : 'Running', url: `https://v${v}` })));
      finalRows.push({ ...row, desired_state: 'Stopped', url: 'https://v4' });
    }
    await upsertWorkspaceRows(db.pool, finalRows);
    await produce(kafka, ctx.topic, messages);
    const { child, exited } = spawnFollower();
    let applied = 0;
    await waitFor(async () => {
      applied = [...(await checkpoints()).values()].reduce((a, b) => a + b, 0);
      return applied > 0;
    });
    child.kill('SIGKILL');
    await exited;
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(messages.length);
    const restarted = await consume();
    expect(restarted.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expectedModel(finalRows));
    const { rows } = await db.pool.query('SELECT min(version)::int AS min, max(version)::int AS max, count(*)::int AS n FROM rebuild_projection.workspace_states');
    expect(rows[0]).toEqual({ min: 4, max: 4, n: workspaces });
  });

  it('--follow applies new events as they arrive and exits 0 on SIGTERM after committing', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const row = workspaceRow(61);
    await upsertWorkspaceRows(db.pool, [row]);
    const { child, exited } = spawnFollower();
    await produce(kafka, ctx.topic, [asJson(createdEvent(row))]);
    await waitFor(async () => (await readModel(db.pool)).size > 0, 30_000);
    expect(await readModel(db.pool)).toEqual(expectedModel([row]));
    await produce(kafka, ctx.topic, [asJson(updatedEvent(61, 2, { desired_state: 'Stopped' }))]);
    const stopped = { ...row, desired_state: 'Stopped' };
    // Deep equality: jsonb returns keys in its own order, so comparing JSON texts would never match.
    await waitFor(async () => isDeepStrictEqual((await readModel(db.pool)).get(61), expectedModel([stopped]).get(61)), 30_000);
    expect(await readModel(db.pool)).toEqual(expectedModel([stopped]));
    child.kill('SIGTERM');
    const { code, stdout } = await exited;
    expect(code).toBe(0);
    expect(stdout).toMatch(/kafka follow: 2 events/);
    // Kafka's copy of the positions (sent in the background) was complete before the follower left.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const committed = (await admin.fetchOffsets({ groupId: ctx.group, topics: [ctx.topic] }))[0]!.partitions;
      const ours = await checkpoints();
      expect([...ours.values()].reduce((a, b) => a + b, 0)).toBe(2);
      for (const [partition, next] of ours) expect(Number(committed.find((p) => p.partition === Number(partition))?.offset)).toBe(next);
    } finally {
      await admin.disconnect();
    }
  });

  it('follows a Debezium change stream of the workspaces table (with and without the schema envelope)', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const debezium = (op: string, lsn: number, before: object | null, after: object | null, envelope: boolean): OutgoingMessage => {
      const payload = { before, after, op, source: { connector: 'postgresql', table: 'workspaces', lsn }, ts_ms: 1_756_904_881_000 };
      const id = ((after ?? before) as { id: number }).id;
      return {
        key: Buffer.from(JSON.stringify(envelope ? { schema: { type: 'struct' }, payload: { id } } : { id })),
        value: Buffer.from(JSON.stringify(envelope ? { schema: { type: 'struct' }, payload } : payload)),
      };
    };
    const columns = (row: WorkspaceRow) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));
    const a = workspaceRow(71);
    const b = workspaceRow(72);
    const aStopped = { ...a, desired_state: 'Stopped' };
    await upsertWorkspaceRows(db.pool, [aStopped]);
    await produce(kafka, ctx.topic, [
      debezium('r', 1000, null, columns(a), true),
      debezium('c', 1100, null, columns(b), false),
      debezium('u', 1200, columns(a), columns(aStopped), false),
      debezium('d', 1300, columns(b), null, true),
    ]);
    const result = await consume();
    expect(result.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expectedModel([aStopped]));
    const { rows } = await db.pool.query('SELECT workspace_id::int AS id, version::int AS version, deleted FROM rebuild_projection.workspace_states ORDER BY 1');
    expect(rows).toEqual([
      { id: 71, version: 1200, deleted: false },
      { id: 72, version: 1300, deleted: true },
    ]);
  });

  it('shares partitions between two consumers of one group: a rebalance neither loses nor double-applies an event', async () => {
    await createTopic(kafka, ctx.topic, 4);
    const finalRows: WorkspaceRow[] = [];
    const firstHalf: OutgoingMessage[] = [];
    const secondHalf: OutgoingMessage[] = [];
    for (let id = 1; id <= 200; id++) {
      const row = workspaceRow(id);
      firstHalf.push(asAvro(createdEvent(row)));
      for (let v = 2; v <= 5; v++) firstHalf.push(asAvro(updatedEvent(id, v, { url: `https://v${v}` })));
      for (let v = 6; v <= 8; v++) secondHalf.push(asAvro(updatedEvent(id, v, { url: `https://v${v}` })));
      finalRows.push({ ...row, url: 'https://v8' });
    }
    await upsertWorkspaceRows(db.pool, finalRows);
    await produce(kafka, ctx.topic, firstHalf);
    const total = firstHalf.length + secondHalf.length;
    const applied = async () => [...(await checkpoints()).values()].reduce((x, y) => x + y, 0);
    const one = spawnFollower();
    await waitFor(async () => (await applied()) > 0);
    const two = spawnFollower();
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        const { groups } = await admin.describeGroups([ctx.group]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
      });
    } finally {
      await admin.disconnect();
    }
    await produce(kafka, ctx.topic, secondHalf);
    await waitFor(async () => (await applied()) === total);
    expect(await applied()).toBe(total);
    one.child.kill('SIGTERM');
    two.child.kill('SIGTERM');
    const outputs = (await Promise.all([one.exited, two.exited])).map((result) => result.stdout);
    const consumed = outputs.map((out) => Number(/kafka follow: (\d+) events/.exec(out)?.[1] ?? NaN));
    // Every event was applied by exactly one of the two processes.
    expect(consumed[0]! + consumed[1]!).toBe(total);
    expect(consumed[1]).toBeGreaterThan(0);
    expect(await readModel(db.pool)).toEqual(expectedModel(finalRows));
  });
});
