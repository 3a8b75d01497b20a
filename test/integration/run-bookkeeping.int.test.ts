import { describe, expect, it } from 'vitest';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { fatalMessages } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'run-bookkeeping-tests', dnsZone: 'test.workspace.me', topicPrefix: 'workspace-events', groupPrefix: 'run-bookkeeping' });
const { brokers, kafka, db } = ctx;

const kafkaArgs = () => ['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url];
const consume = (...extra: string[]) => runCli([...kafkaArgs(), ...extra]);

async function runStatuses(): Promise<Map<number, { mode: string; status: string }>> {
  const { rows } = await db.pool.query<{ id: string; mode: string; status: string }>('SELECT id::text, mode, status FROM rebuild_projection.runs ORDER BY id');
  return new Map(rows.map((row) => [Number(row.id), { mode: row.mode, status: row.status }]));
}

const schemaExists = async () =>
  (await db.pool.query<{ oid: string | null }>(`SELECT to_regnamespace('rebuild_projection')::text AS oid`)).rows[0]?.oid !== null;

describe('the runs table after a kill -9', () => {
  it("marks the killed run crashed when the next run starts, leaves a live run's row running, and --status shows it", async () => {
    await createTopic(kafka, ctx.topic, 2);
    const live = spawnCli([...kafkaArgs(), '--follow']);
    await waitFor(async () => [...(await runStatuses()).values()].filter((r) => r.status === 'running').length === 1);
    const killed = spawnCli([...kafkaArgs(), '--follow']);
    await waitFor(async () => [...(await runStatuses()).values()].filter((r) => r.status === 'running').length === 2);
    const [liveId, killedId] = [...(await runStatuses()).keys()];
    killed.child.kill('SIGKILL');
    await killed.exited;

    const catchUp = await consume('--from-checkpoint');
    expect(catchUp.code).toBe(0);
    const statuses = await runStatuses();
    expect(statuses.get(killedId!)).toEqual({ mode: 'follow', status: 'crashed' });
    expect(statuses.get(liveId!)).toEqual({ mode: 'follow', status: 'running' });

    const status = await runCli(['agentk-states', '--status', '--database-url', db.url]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^running: #${liveId} follow, started `, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^crashed runs: 1 \\(latest first\\)\\n  #${killedId} follow, started .*, found crashed `, 'm'));

    live.child.kill('SIGTERM');
    expect((await live.exited).code).toBe(0);
    expect((await runStatuses()).get(liveId!)?.status).toBe('succeeded');
  });
});

describe('exit codes of a Kafka replay', () => {
  it('--from-checkpoint exits 2 while the dead-letter table holds letters from an earlier run, 0 once it is empty', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const good = workspaceRow(71);
    await upsertWorkspaceRows(db.pool, [good]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(good)), { key: Buffer.from('72'), value: Buffer.from('not an event') }]);
    const first = await consume('--from-beginning');
    expect(first.code).toBe(2);
    expect(first.stdout).toMatch(/1 failed, .*; 1 dead letters in total/);

    // Nothing new to consume, but the bad message is still in the dead-letter table.
    const again = await consume('--from-checkpoint');
    expect(again.stdout).toMatch(/: 0 events, .*; 1 dead letters in total/);
    expect(again.code).toBe(2);
    expect((await db.pool.query(`SELECT status FROM rebuild_projection.runs ORDER BY id DESC LIMIT 1`)).rows[0].status).toBe('succeeded_with_dead_letters');

    await db.pool.query('DELETE FROM rebuild_projection.dead_letters');
    expect((await consume('--from-checkpoint')).code).toBe(0);
  });
});

describe('a database that is not GitLab\'s', () => {
  it('is refused with exit 1 before our schema is created in it', async () => {
    await db.pool.query('DROP TABLE workspaces CASCADE');
    const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(fatalMessages(result.stderr)).toEqual([expect.stringMatching(/^the target database has no "workspaces" table: /)]);
    expect(await schemaExists()).toBe(false);
  });
});
