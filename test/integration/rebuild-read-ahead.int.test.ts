/**
 * A rebuild's build reads and generates pages ahead of the one it writes (page-pipeline.ts) and compares rows
 * with the live table by the digest carried from the generation workers: with many small pages and two
 * workers, the table it leaves is still exactly GitLab's golden row for every workspace, and over a table
 * that is right except a few rows, only those are written.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { gitlabBackfillGolden } from '../support/golden.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { asAvro, createdEvent, createTopic, produce, readModel, tombstone, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'rebuild-read-ahead-tests', dnsZone: 'test.workspace.me', topicPrefix: 'workspace-events', groupPrefix: 'read-ahead' });
const { brokers, kafka, db } = ctx;

/** 4 per page over 41 workspaces: 11 pages (the last partial, then the empty one past the end), so read-ahead runs throughout. */
const PAGED = ['--batch-size', '4', '--workers', '2'];
const N = 41;
/** Deleted in the log (and in GitLab) before the rebuild: pages have gaps. */
const DELETED = [9, 10, 23];

const kafkaRebuild = () => runCli(['agentk-states', '--source', 'kafka', ...PAGED, '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url]);
const snapshotRebuild = () => runCli(['agentk-states', '--source', 'snapshot', ...PAGED, '--database-url', db.url]);

const liveIds = () => Array.from({ length: N }, (_, i) => i + 1).filter((id) => !DELETED.includes(id));

/** GitLab's seed workspace under each id (spec: its backfill golden), one create each; the deleted ones tombstoned. */
async function seedWorkspaces(): Promise<void> {
  const rows = liveIds().map((id) => workspaceRow(id, { name: `workspace-${id}`, namespace: `workspace_${id}_namespace` }));
  await upsertWorkspaceRows(db.pool, rows);
  await createTopic(kafka, ctx.topic, 3);
  const deleted = DELETED.map((id) => workspaceRow(id, { name: `workspace-${id}`, namespace: `workspace_${id}_namespace` }));
  await produce(kafka, ctx.topic, [...[...rows, ...deleted].map((row) => asAvro(createdEvent(row))), ...DELETED.map(tombstone)]);
}

async function expectGoldenTable(): Promise<void> {
  const expected = new Map(liveIds().map((id) => [id, gitlabBackfillGolden({ name: `workspace-${id}`, namespace: `workspace_${id}_namespace`, id, replicas: 1 })]));
  expect(await readModel(db.pool)).toEqual(expected);
}

/** Makes these live rows wrong (as a bug or a hand edit would). */
const corrupt = (ids: number[]) => db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[{"kind": "wrong"}]' WHERE workspace_id = ANY($1::bigint[])`, [ids]);

describe('a rebuild with read-ahead (small pages, two workers)', () => {
  it('from Kafka: writes every row of the spec into an empty table, and over a nearly right table only the rows that differ', async () => {
    await seedWorkspaces();
    const first = await kafkaRebuild();
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^agentk-states rebuild #1 from kafka: 38 workspaces, 38 written, 0 unchanged, 0 deleted, 0 failed/m);
    await expectGoldenTable();

    // One row per page region: first page, a page after a gap, the last page.
    await corrupt([1, 24, 41]);
    const second = await kafkaRebuild();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^agentk-states rebuild #2 from kafka: 38 workspaces, 3 written, 35 unchanged, 0 deleted, 0 failed/m);
    await expectGoldenTable();
  });

  it('from the snapshot: over a nearly right table writes only the rows that differ, and the table is the spec again', async () => {
    await seedWorkspaces();
    expect((await snapshotRebuild()).code).toBe(0);
    await expectGoldenTable();

    await corrupt([2, 22, 40]);
    const second = await snapshotRebuild();
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^agentk-states rebuild #2 from snapshot: 38 workspaces, 3 written, 35 unchanged, 0 deleted, 0 failed/m);
    await expectGoldenTable();
  });
});
