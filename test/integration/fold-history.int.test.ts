/**
 * The fold against real Kafka and PostgreSQL: replays converge on the rebuild's rows across a delete and a
 * re-create, a compacted history is either complete or named (exit 2), a deleted workspace leaves no dead
 * letter, and an oversized devfile stays out of the folded state. Expected rows come from the generator
 * (verified against GitLab's goldens in the unit tests) applied to the final `workspaces` rows the spec says
 * the events describe.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { runCli } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { logMessages } from '../support/log-lines.js';
import {
  asJson,
  createdEvent,
  createTopic,
  produce,
  readModel,
  seedDevfile,
  tombstone,
  updatedEvent,
  upsertWorkspaceRows,
  workspaceRow,
  type OutgoingMessage,
} from '../support/workspace-events.js';

const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });

const ctx = useKafkaTestContext({ clientId: 'fold-history-tests', dnsZone: 'test.workspace.me', topicPrefix: 'workspace-events', groupPrefix: 'fold-history' });
const { brokers, kafka, db } = ctx;

/** Runs the CLI; `problems` are the messages of its log entries other than progress samples. */
async function cli(...args: string[]) {
  const result = await runCli(['agentk-states', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url, ...args]);
  const problems = logMessages(result.stderr);
  return { ...result, problems };
}

function expectedModel(finalRows: WorkspaceRow[]): Map<number, unknown> {
  return new Map(finalRows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })]));
}

async function deadLetters(): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query(
    `SELECT workspace_id::int AS workspace_id, error_kind, topic, kafka_partition, kafka_offset::int AS kafka_offset, message
       FROM rebuild_projection.dead_letters ORDER BY workspace_id`,
  );
  return rows;
}

const columns = (row: WorkspaceRow) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v]));

function debezium(op: string, lsn: number, before: WorkspaceRow | null, after: WorkspaceRow | null): OutgoingMessage {
  const id = (after ?? before)!.id;
  const payload = { before: before && columns(before), after: after && columns(after), op, source: { connector: 'postgresql', table: 'workspaces', lsn }, ts_ms: 1_756_904_881_000 };
  return { key: Buffer.from(JSON.stringify({ id })), value: Buffer.from(JSON.stringify(payload)) };
}

describe('replays after a delete and a re-create', () => {
  /** Rebuilds from zero, then replays three ways: each must leave exactly the expected rows, exit 0. */
  async function rebuildThenReplay(messages: OutgoingMessage[], finalRows: WorkspaceRow[]): Promise<void> {
    await createTopic(kafka, ctx.topic, 1);
    await upsertWorkspaceRows(db.pool, finalRows);
    await produce(kafka, ctx.topic, messages);
    const expected = expectedModel(finalRows);
    const rebuilt = await cli();
    expect(rebuilt.problems).toEqual([]);
    expect(rebuilt.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expected);
    for (const replay of [['--from-beginning'], ['--from-offset', '1'], ['--from-timestamp', '2000-01-01T00:00:00Z']]) {
      const result = await cli(...replay);
      expect({ replay, code: result.code, problems: result.problems }).toEqual({ replay, code: 0, problems: [] });
      expect(await readModel(db.pool)).toEqual(expected);
      expect(await deadLetters()).toEqual([]);
    }
  }

  it('our JSON format: create, update, tombstone, re-create, update → the same rows on rebuild and every replay', async () => {
    const first = workspaceRow(1);
    const second = workspaceRow(1, { name: 'second-life' });
    const gone = workspaceRow(2);
    const kept = workspaceRow(3);
    await rebuildThenReplay(
      [
        asJson(createdEvent(first)), asJson(createdEvent(gone)), asJson(createdEvent(kept)),
        asJson(updatedEvent(1, 2, { desired_state: 'Stopped' })), tombstone(1), tombstone(2),
        asJson(createdEvent(second)), asJson(updatedEvent(1, 2, { url: 'https://second' })),
        asJson(updatedEvent(3, 2, { desired_state: 'Stopped' })),
      ],
      [{ ...second, url: 'https://second' }, { ...kept, desired_state: 'Stopped' }],
    );
  });

  it('Debezium: c, u, d, tombstone, c, u with LSNs → the same rows on rebuild and every replay', async () => {
    const first = workspaceRow(1);
    const stopped = { ...first, desired_state: 'Stopped' };
    const second = workspaceRow(1, { name: 'second-life' });
    const secondStopped = { ...second, desired_state: 'Stopped' };
    const kept = workspaceRow(3);
    await rebuildThenReplay(
      [
        debezium('c', 1000, null, first), debezium('c', 1010, null, kept), debezium('u', 1100, first, stopped),
        debezium('d', 1200, stopped, null), tombstone(1), debezium('c', 1300, null, second), debezium('u', 1400, second, secondStopped),
      ],
      [secondStopped, kept],
    );
  });
});

describe('a compacted topic', () => {
  const compacted = [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'segment.ms', value: '100' },
    { name: 'min.cleanable.dirty.ratio', value: '0.01' },
  ];

  it('our JSON format: a rebuild whose creates compaction removed is refused before its switch, naming the workspaces; the live table is untouched', async () => {
    await createTopic(kafka, ctx.topic, 1, compacted);
    // What survives compaction of each key's history (a suffix of it): 11 its create, 12 and 13 their last update.
    const whole = workspaceRow(11);
    await upsertWorkspaceRows(db.pool, [whole, workspaceRow(12), workspaceRow(13)]);
    await produce(kafka, ctx.topic, [
      asJson(createdEvent(whole)),
      asJson(updatedEvent(12, 3, { desired_state: 'Stopped' })),
      asJson(updatedEvent(13, 2, { name: 'renamed' })),
    ]);
    const result = await cli();
    expect(result.code).toBe(1);
    const lines = result.problems;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot rebuild from the compacted topic ${ctx.topic}: 2 workspaces (2 updates) stay parked`);
    expect(lines[0]).toContain(`12 (1 from ${ctx.topic}[0]@1)`);
    expect(lines[0]).toContain(`13 (1 from ${ctx.topic}[0]@2)`);
    expect(lines[0]).toContain('Nothing was switched');
    expect(lines[0]).toContain('--source snapshot');
    expect(await readModel(db.pool)).toEqual(new Map());
  });

  it('Debezium full rows: a workspace whose c was compacted away is rebuilt from its u, exit 0', async () => {
    await createTopic(kafka, ctx.topic, 1, compacted);
    const a = workspaceRow(21);
    const aStopped = { ...a, desired_state: 'Stopped' };
    const b = workspaceRow(22);
    const bRenamed = { ...b, name: 'renamed' };
    await upsertWorkspaceRows(db.pool, [aStopped, bRenamed]);
    // 21's c compacted away, its u survives; 22 entirely in the not-yet-compacted head.
    await produce(kafka, ctx.topic, [debezium('u', 2000, a, aStopped), debezium('r', 2100, null, b), debezium('u', 2200, b, bRenamed)]);
    const result = await cli();
    expect(result.problems).toEqual([]);
    expect(result.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(expectedModel([aStopped, bRenamed]));
  });
});

describe('updates whose create never arrives (a topic that never carried it)', () => {
  it('a rebuild switches the rest, names the parked workspaces with their positions, and exits 2', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const whole = workspaceRow(41);
    await upsertWorkspaceRows(db.pool, [whole, workspaceRow(42)]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(whole)), asJson(updatedEvent(42, 2, { desired_state: 'Stopped' }))]);
    const result = await cli();
    expect(result.code).toBe(2);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^1 workspaces \(1 updates\) stay parked/);
    expect(result.problems[0]).toContain(`42 (1 from ${ctx.topic}[0]@1)`);
    expect(result.problems[0]).toContain('--source snapshot');
    expect(await readModel(db.pool)).toEqual(expectedModel([whole]));
  });
});

describe('dead letters of deleted workspaces', () => {
  it('a workspace deleted from GitLab while the consumer was down leaves no dead letter once its tombstone is consumed', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const live = workspaceRow(30);
    await upsertWorkspaceRows(db.pool, [live]);
    // 31 was deleted from `workspaces` before the consumer caught up; its tombstone comes later.
    await produce(kafka, ctx.topic, [asJson(createdEvent(live)), asJson(createdEvent(workspaceRow(31))), asJson(updatedEvent(31, 2, { desired_state: 'Stopped' }))]);
    const first = await cli('--from-checkpoint');
    expect(first.code).toBe(2);
    expect(await deadLetters()).toEqual([
      expect.objectContaining({ workspace_id: 31, error_kind: 'workspace_missing_in_target', topic: ctx.topic, kafka_partition: 0, kafka_offset: 2 }),
    ]);
    await produce(kafka, ctx.topic, [tombstone(31)]);
    const second = await cli('--from-checkpoint');
    expect(second.code).toBe(0);
    expect(await deadLetters()).toEqual([]);
    const replay = await cli('--from-beginning');
    expect(replay.code).toBe(0);
    expect(await deadLetters()).toEqual([]);
    expect(await readModel(db.pool)).toEqual(expectedModel([live]));
  });

  it('a rebuild from zero clears the workspace letter of a workspace its history deletes', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const live = workspaceRow(30);
    await upsertWorkspaceRows(db.pool, [live]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(live)), asJson(createdEvent(workspaceRow(31))), asJson(updatedEvent(31, 2, { desired_state: 'Stopped' }))]);
    expect((await cli('--from-checkpoint')).code).toBe(2);
    expect(await deadLetters()).toEqual([expect.objectContaining({ workspace_id: 31, error_kind: 'workspace_missing_in_target' })]);
    await produce(kafka, ctx.topic, [tombstone(31)]);
    const rebuilt = await cli();
    expect(rebuilt.problems).toEqual([]);
    expect(rebuilt.code).toBe(0);
    expect(await deadLetters()).toEqual([]);
    expect(await readModel(db.pool)).toEqual(expectedModel([live]));
  });
});

describe('an oversized devfile', () => {
  it('is kept out of the folded state; a later valid devfile projects', async () => {
    await createTopic(kafka, ctx.topic, 1);
    // 300,000 characters: far beyond the generator's 65,535 (spec §9), within Kafka's default 1 MB message.
    // Random text, so that PostgreSQL's compression cannot hide it in the size measured below.
    const huge = `${seedDevfile}\n# ${randomBytes(150_000).toString('hex')}\n`;
    const row = workspaceRow(41, { processed_devfile: huge });
    await upsertWorkspaceRows(db.pool, [workspaceRow(41)]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(row)), asJson(updatedEvent(41, 2, { desired_state: 'Stopped' }))]);
    const first = await cli('--from-checkpoint');
    expect(first.code).toBe(2);
    expect(await deadLetters()).toEqual([
      expect.objectContaining({
        workspace_id: 41, error_kind: 'devfile_too_large',
        message: `workspace 41: devfile_too_large: processed_devfile has ${huge.length} characters; at most 65535 are allowed`,
      }),
    ]);
    const { rows } = await db.pool.query(
      `SELECT version::int AS version, pg_column_size(workspace) + coalesce(pg_column_size(processed_devfile), 0) AS bytes
         FROM rebuild_projection.workspace_states WHERE workspace_id = 41`,
    );
    expect(rows[0].version).toBe(2);
    expect(rows[0].bytes).toBeLessThan(4_096);

    await produce(kafka, ctx.topic, [asJson(updatedEvent(41, 3, { processed_devfile: seedDevfile }))]);
    const second = await cli('--from-checkpoint');
    expect(second.code).toBe(0);
    expect(await deadLetters()).toEqual([]);
    expect(await readModel(db.pool)).toEqual(expectedModel([workspaceRow(41, { desired_state: 'Stopped' })]));
  });
});
