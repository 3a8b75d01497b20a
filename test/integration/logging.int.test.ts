/**
 * What an operator reads on stderr: JSON log entries (or pretty lines), a follower's heartbeat, kafkajs' own
 * warnings with their namespace, progress that ends at 100% and names the switch's steps, and a summary that
 * says why workspaces were dead-lettered (GitLab's own seed row without its agent config).
 */
import { randomBytes } from 'node:crypto';
import { expect, inject, it } from 'vitest';
import { runCli, spawnCli, waitFor, type SpawnedCli } from '../support/cli.js';
import { readFixture, useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logEntries, type LogEntry } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');

async function stop(cli: SpawnedCli): Promise<{ code: number | null; stderr: string }> {
  cli.child.kill('SIGTERM');
  return cli.exited;
}

it('a follower logs a heartbeat each --heartbeat-interval with lag per partition, rate and totals; kafkajs warnings arrive as entries with their namespace', async () => {
  const kafka = createTestKafka(brokers, 'logging-tests');
  const topic = `logging-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 2);
  const rows = [1, 2, 3].map((id) => workspaceRow(id));
  await upsertWorkspaceRows(db.pool, rows);
  const args = ['agentk-states', '--follow', '--heartbeat-interval', '1', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url];
  const follower = spawnCli(args);
  const entries = () => logEntries(follower.stderrSoFar());
  await produce(kafka, topic, rows.map((r) => asJson(createdEvent(r))));
  await waitFor(async () => (await readModel(db.pool)).size === 3, 30_000);
  const caughtUp = (e: LogEntry) => e.heartbeat === true && e.consumed === 3 && e.lag === 0;
  await waitFor(async () => entries().some(caughtUp), 10_000);
  const beat = entries().find(caughtUp)!;
  expect(beat).toMatchObject({ level: 'info', written: 3, failed: 0 });
  expect(typeof beat.eventsPerS).toBe('number');
  // Lag per partition, for the partitions whose batches it applied.
  expect(Object.keys(beat.lagByPartition as object).every((key) => [`${topic}:0`, `${topic}:1`].includes(key))).toBe(true);
  expect(beat.msg).toMatch(/^following: lag 0 \(.+\); [\d.]+ events\/s over the last \d+ s; 3 events consumed, 3 rows written, 0 failed since start$/);

  // A second member of the group makes the first re-join: kafkajs says so at WARN, through our logger.
  const second = spawnCli(args);
  const secondEntries = () => logEntries(second.stderrSoFar());
  const fromKafkajs = (e: LogEntry) => typeof e.kafkajs === 'string' && (e.level === 'warn' || e.level === 'error');
  await waitFor(async () => [...entries(), ...secondEntries()].some(fromKafkajs), 30_000);
  const warning = [...entries(), ...secondEntries()].find(fromKafkajs)!;
  expect(warning.msg.startsWith(`kafka ${warning.kafkajs as string}: `)).toBe(true);
  const [first, other] = await Promise.all([stop(follower), stop(second)]);
  expect([first.code, other.code]).toEqual([0, 0]);
  // Only log entries on stderr (logEntries throws on anything else), the stop message among them.
  expect(logEntries(first.stderr).map((e) => e.msg)).toContain('SIGTERM received, finishing the batch in flight…');
}, 90_000);

it('--heartbeat-interval 0 logs no heartbeat', async () => {
  const kafka = createTestKafka(brokers, 'logging-tests');
  const topic = `logging-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  await upsertWorkspaceRows(db.pool, [workspaceRow(1)]);
  const follower = spawnCli(['agentk-states', '--follow', '--heartbeat-interval', '0', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  await produce(kafka, topic, [asJson(createdEvent(workspaceRow(1)))]);
  await waitFor(async () => (await readModel(db.pool)).size === 1, 30_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const { code, stderr } = await stop(follower);
  expect(code).toBe(0);
  expect(logEntries(stderr).filter((e) => e.heartbeat !== undefined)).toEqual([]);
});

it("GitLab's own seed row without a workspaces_agent_configs row: the summary says why it was dead-lettered", async () => {
  await db.pool.query('DELETE FROM workspaces_agent_configs');
  await db.pool.query(readFixture('sql/seed-workspace-insert.sql'));
  const { rows } = await db.pool.query<{ id: string }>('SELECT id::text FROM workspaces');
  const result = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url]);
  expect(result.code).toBe(2);
  expect(result.stdout.trim().split('\n')).toHaveLength(1);
  expect(result.stdout).toMatch(
    // The seed's cluster_agent_id is 1.
    new RegExp(`; 1 dead letters in total \\(agent_config_missing ×1, e\\.g\\. workspace ${rows[0]!.id}: cluster agent 1 has no workspaces_agent_configs row; see --dead-letters\\)\\n$`),
  );
});

it('progress: each phase ends with a completed entry, the switch reports its steps, and a --switch that built nothing has no build rate', async () => {
  await upsertWorkspaceRows(db.pool, [1, 2, 3].map((id) => workspaceRow(id)));
  const built = await runCli(['agentk-states', '--source', 'snapshot', '--no-switch', '--database-url', db.url]);
  expect(built.code).toBe(0);
  const fingerprint = /^fingerprint: ([0-9a-f]{64})/m.exec(built.stdout)![1]!;
  const building = logEntries(built.stderr).filter((e) => e.progress === 'building');
  expect(building.at(-1)).toMatchObject({ complete: true, done: 3, msg: expect.stringMatching(/^building: done, 3 in [\d.]+ s \(\d+\/s\)$/) });

  const switched = await runCli(['agentk-states', '--switch', '--fingerprint', fingerprint, '--database-url', db.url]);
  expect(switched.code).toBe(0);
  const steps = logEntries(switched.stderr).filter((e) => e.progress === 'switching');
  expect(steps.map((e) => [e.step ?? null, e.done, e.total, e.complete])).toEqual([
    ['measuring the impact', 0, 3, false],
    ['measuring the impact under the lock', 1, 3, false],
    ['merging into the live table', 2, 3, false],
    ['merging into the live table', 2, 3, true],
  ]);
  expect(switched.stdout).toMatch(/\(switched as previewed\): 3 workspaces, .* build [\d.]+ s \(built by an earlier run\), switch/);
});

it('--log-format pretty writes readable lines; --log-level warn leaves out progress', async () => {
  const unreachable = 'postgres://me@127.0.0.1:1/nope';
  const pretty = await runCli(['agentk-states', '--source', 'snapshot', '--log-format', 'pretty', '--database-url', unreachable]);
  expect(pretty.code).toBe(1);
  expect(pretty.stderr).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] FATAL: could not connect to the target database postgres:\/\/me@127\.0\.0\.1:1\/nope: .*\{"exitCode":1\}\n$/);

  await upsertWorkspaceRows(db.pool, [workspaceRow(1)]);
  const quiet = await runCli(['agentk-states', '--source', 'snapshot', '--log-level', 'warn', '--database-url', db.url]);
  expect([quiet.code, quiet.stderr]).toEqual([0, '']);
  const bad = await runCli(['agentk-states', '--log-level', 'loud']);
  expect(bad.code).toBe(64);
  expect(logEntries(bad.stderr).map((e) => [e.level, e.msg])).toEqual([['fatal', '--log-level must be one of debug, info, warn, error, fatal (see --help)']]);
});
