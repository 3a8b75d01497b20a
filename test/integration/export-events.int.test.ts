/**
 * `--export-events`: GitLab's workspaces as full-row events, round trip. Varied workspaces are exported to a
 * fresh topic whose small max.message.bytes forces many produce requests; a rebuild from that topic writes the
 * rows, `--verify` is clean, and a snapshot rebuild afterwards finds nothing to change (the rows are equal).
 * The NDJSON file holds the same events in the README's JSON encoding. Refusals: a topic that already holds
 * messages (unless --append), an event over the limit, an existing file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Partitioners, type Kafka } from 'kafkajs';
import { afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { decodeWorkspaceMessage } from '../../src/events/decode.js';
import { runCli } from '../support/cli.js';
import { readFixture, useFreshGitLabDatabase } from '../support/database.js';
import { insertAgentConfig, insertWorkspace } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logLines } from '../support/log-lines.js';
import { createTopic, readModel } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');
let kafka: Kafka;
let topic: string;
/** Small enough that ~40 events of 2–7 KB need many produce requests, large enough for each one. */
const MAX_MESSAGE_BYTES = 12_000;

const devfiles = [
  readFixture('gitlab/seed-processed-devfile.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_with_legacy_poststart_event.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_with_poststart_event.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_without_poststart_event.yaml'),
];

beforeAll(() => {
  kafka = createTestKafka(brokers, 'export-events-tests');
});

let ids: number[];
let brokenId: number;
beforeEach(async () => {
  topic = `export-${randomBytes(4).toString('hex')}`;
  await insertAgentConfig(db.pool, { cluster_agent_id: 2, dns_zone: 'second.workspace.me', use_kubernetes_user_namespaces: true });
  ids = [];
  for (let i = 0; i < 40; i++) {
    ids.push(
      await insertWorkspace(db.pool, {
        name: `export-ws-${i}`,
        cluster_agent_id: 1 + (i % 2),
        processed_devfile: devfiles[i % devfiles.length],
        desired_state: ['Running', 'Stopped', 'Running', 'Terminated', 'RestartRequested'][i % 5],
        actual_state: ['Running', 'Stopped', 'Starting', 'Terminated', 'Running'][i % 5],
        force_include_all_resources: i % 3 === 0,
        url_prefix: i % 4 === 0 ? null : `prefix-${i}`,
        url_query_string: i % 6 === 0 ? `folder=/projects/p${i}` : null,
        responded_to_agent_at: i % 2 === 0 ? null : '2025-09-04T10:00:00Z',
        project_id: 60 + (i % 3),
      }),
    );
  }
  // Exported like any other (the contract carries the row); its generation fails on both paths.
  brokenId = await insertWorkspace(db.pool, { name: 'export-ws-broken', processed_devfile: devfiles[0]!.replace('size: 50Gi', 'size: fifty') });
});

afterEach(async () => {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
});

const exportTo = (...extra: string[]) => runCli(['agentk-states', '--export-events', '--database-url', db.url, ...extra]);
const toTopic = (...extra: string[]) => exportTo('--brokers', brokers, '--topic', topic, ...extra);

async function readTopic(): Promise<{ key: string; value: string; partition: number }[]> {
  const consumer = kafka.consumer({ groupId: `read-${topic}`, maxWaitTimeInMs: 100 });
  const admin = kafka.admin();
  await admin.connect();
  const total = (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
  await admin.disconnect();
  const seen: { key: string; value: string; partition: number }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        seen.push({ key: message.key!.toString(), value: message.value!.toString(), partition });
        if (seen.length === total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return seen;
}

describe('--export-events', () => {
  it('to a topic: batched within max.message.bytes, one keyed create per workspace; a rebuild from it equals a snapshot rebuild, --verify clean', async () => {
    await createTopic(kafka, topic, 3, [{ name: 'max.message.bytes', value: String(MAX_MESSAGE_BYTES) }]);
    const exported = await toTopic();
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toBe('');
    const summary = new RegExp(`^agentk-states export-events: 41 workspaces from a snapshot at \\S+ to topic ${topic} \\(json\\): 41 events in (\\d+) produce requests within max\\.message\\.bytes ${MAX_MESSAGE_BYTES}; `);
    expect(exported.stdout).toMatch(summary);
    const requests = Number(summary.exec(exported.stdout)![1]);

    const messages = await readTopic();
    // One request carries at most one batch per partition, each within the limit: at least this many were needed
    // (one unbounded send would have been refused by the broker with MESSAGE_TOO_LARGE).
    const bytes = messages.reduce((sum, m) => sum + m.key.length + m.value.length, 0);
    expect(bytes).toBeGreaterThan(3 * MAX_MESSAGE_BYTES);
    expect(requests).toBeGreaterThanOrEqual(Math.ceil(bytes / (3 * MAX_MESSAGE_BYTES)));
    expect(messages.map((m) => Number(m.key)).sort((a, b) => a - b)).toEqual([...ids, brokenId].sort((a, b) => a - b));
    for (const m of messages) {
      const event = JSON.parse(m.value) as { type: string; workspace_id: number; version: number; workspace: { id: number; name: string } };
      expect(event).toMatchObject({ type: 'workspace-created', workspace_id: Number(m.key), version: 1, workspace: { id: Number(m.key) } });
      expect(event).not.toHaveProperty('agent_config');
    }
    expect(new Set(messages.map((m) => m.partition)).size).toBe(3);
    // Where a keyed producer with Kafka's Java partitioner (murmur2; kafkajs' DefaultPartitioner) puts them.
    const admin = kafka.admin();
    await admin.connect();
    const partitionMetadata = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions;
    await admin.disconnect();
    const javaPartition = Partitioners.DefaultPartitioner();
    for (const m of messages) expect(m.partition).toBe(javaPartition({ topic, partitionMetadata, message: { key: m.key, value: null } }));

    const rebuilt = await runCli(['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', topic, '--group', `g-${topic}`, '--database-url', db.url]);
    // Exit 2: the broken workspace is dead-lettered, as a snapshot rebuild does.
    expect(rebuilt.code, rebuilt.stderr).toBe(2);
    expect(rebuilt.stdout).toContain('41 workspaces, 40 written');
    const fromTopic = await readModel(db.pool);
    expect([...fromTopic.keys()].sort((a, b) => a - b)).toEqual(ids);

    const verified = await runCli(['agentk-states', '--verify', '--json', '--database-url', db.url]);
    const report = JSON.parse(verified.stdout) as { equal: number; differing: number; missing: number; extra: number; failed: number; clean: boolean };
    expect(report).toMatchObject({ equal: 40, differing: 0, missing: 0, extra: 0, failed: 1, clean: true });
    expect(verified.code).toBe(0);

    const snapshot = await runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url]);
    expect(snapshot.code, snapshot.stderr).toBe(2);
    expect(snapshot.stdout).toContain('0 written, 40 unchanged, 0 deleted, 1 failed');
    expect(await readModel(db.pool)).toEqual(fromTopic);
  });

  it('refuses a topic that already holds messages, unless --append; writes nothing either way to the database', async () => {
    await createTopic(kafka, topic, 2);
    expect((await toTopic()).code).toBe(0);
    const again = await toTopic();
    expect(again.code).toBe(1);
    expect(logLines(again.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^fatal: topic ${topic} already holds 41 messages \\(\\[0\\] 0\\.\\.\\d+, \\[1\\] 0\\.\\.\\d+\\): .*--append`)),
    ]);
    const appended = await toTopic('--append');
    expect(appended.code, appended.stderr).toBe(0);
    expect(appended.stdout).toContain('41 events in');
    const { rows } = await db.pool.query(`SELECT to_regnamespace('rebuild_projection')::text AS schema, (SELECT count(*) FROM workspace_agentk_states)::int AS rows`);
    expect(rows[0]).toEqual({ schema: null, rows: 0 });
  });

  it('an event over the topic limit is one line naming the workspace and what was produced before it, exit 1', async () => {
    await createTopic(kafka, topic, 1, [{ name: 'max.message.bytes', value: '3000' }]);
    // The seed devfile (5 KB) cannot fit in 3000 bytes; the other fixtures (1–2 KB) can. The first seed row is
    // made small, so the first one left is ids[4], after two batches of two were produced.
    await db.pool.query('UPDATE workspaces SET processed_devfile = $1 WHERE id = $2', [devfiles[3], ids[0]]);
    const result = await toTopic('--batch-size', '2');
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^fatal: workspace ${ids[4]}: its event is \\d+ bytes as a record batch, over max\\.message\\.bytes 3000 of topic ${topic}: raise .*` +
            ` \\(4 events were produced before this: after the fix, run again with --append\\)$`,
        ),
      ),
    ]);
  });

  it('--export-encoding avro: Confluent-framed Avro with the catalog\'s current schema, decoded by the rebuilder', async () => {
    await createTopic(kafka, topic, 2);
    const result = await toTopic('--export-encoding', 'avro');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`to topic ${topic} (avro): 41 events in`);
    const consumer = kafka.consumer({ groupId: `read-${topic}`, maxWaitTimeInMs: 100 });
    const decoded: ReturnType<typeof decodeWorkspaceMessage>[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          decoded.push(decodeWorkspaceMessage({ topic, partition, offset: message.offset, key: message.key, value: message.value, timestamp: message.timestamp }));
          if (decoded.length === 41) resolve();
        },
      });
    });
    await consumer.disconnect();
    for (const d of decoded) expect(d).toMatchObject({ ok: true, encoding: 'avro', event: { type: 'workspace-created', version: 1 } });
  });

  it('a missing topic is refused, not created', async () => {
    const result = await toTopic();
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([`fatal: topic not found on the broker: ${topic}`]);
  });

  it('--to-file writes NDJSON, one contract JSON event per line, and never overwrites a file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'export-events-'));
    const file = path.join(dir, 'workspaces.ndjson');
    const result = await exportTo('--to-file', file);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^agentk-states export-events: 41 workspaces from a snapshot at \\S+ to ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(NDJSON\\): \\d+ bytes`));
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(41);
    const decoded = lines.map((line, index) => decodeWorkspaceMessage({ topic: 'file', partition: 0, offset: String(index), key: null, value: Buffer.from(line), timestamp: '0' }));
    for (const d of decoded) expect(d).toMatchObject({ ok: true, encoding: 'json', event: { type: 'workspace-created', version: 1 } });
    expect(decoded.map((d) => (d.ok ? d.event.workspaceId : 0))).toEqual([...ids, brokenId]);
    expect(existsSync(`${file}.partial-${process.pid}`)).toBe(false);
    // The file source reads exactly this format: a rebuild from it writes the rows, and --verify is clean.
    const rebuilt = await runCli(['agentk-states', '--source', `file:${file}`, '--database-url', db.url]);
    expect(rebuilt.code, rebuilt.stderr).toBe(2);
    expect(rebuilt.stdout).toMatch(/^agentk-states rebuild #1 from file: .*41 workspaces, 40 written/);
    const verified = await runCli(['agentk-states', '--verify', '--json', '--database-url', db.url]);
    expect(JSON.parse(verified.stdout)).toMatchObject({ equal: 40, differing: 0, missing: 0, extra: 0, failed: 1, clean: true });

    writeFileSync(path.join(dir, 'taken.ndjson'), 'keep me\n');
    const refused = await exportTo('--to-file', path.join(dir, 'taken.ndjson'));
    expect(refused.code).toBe(1);
    expect(logLines(refused.stderr)).toEqual([expect.stringMatching(/^fatal: .*taken\.ndjson already exists: choose a new file \(it is never overwritten\)$/)]);
    expect(readFileSync(path.join(dir, 'taken.ndjson'), 'utf8')).toBe('keep me\n');
  });
});
