/**
 * The file source conforms to the Kafka source: the same events (the bad-input corpus between good neighbours,
 * and a varied workspace history: updates, deletes, a re-create, an update before its create, redeliveries)
 * give the same rows and the same dead letters through a real topic and through a file.
 *
 * - A kcat dump: produced to a real topic with 3 partitions, dumped by the real `kcat -C -e -J` (Debian's
 *   package; .ci/run installs it, and the test says so and skips without it), then rebuilt from the file
 *   with no broker configured: rows, letters (at the dump's topic/partition/offset) and checkpoints are those
 *   of the Kafka run.
 * - NDJSON: one value per line has no key, so it is compared with the same values produced without a key
 *   (one partition: offset = line − 1): rows and letters (reason, workspace, path, offset) are equal, and each
 *   bad line's letter names file:line. Values holding a newline byte cannot be a line and are left out.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, inject } from 'vitest';
import { BAD_MESSAGE_REASONS } from '../../src/events/decode.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { BAD_INPUT_CORPUS } from '../fixtures/bad-input/corpus.js';
import { runCli } from '../support/cli.js';
import { logLines } from '../support/log-lines.js';
import { createTestDatabase, readFixture, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
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

const brokers = inject('kafkaBrokers');
const dir = mkdtempSync(join(tmpdir(), 'file-source-int-'));
const otherDevfile = readFixture('gitlab/main_integration/processed_devfile_with_poststart_event.yaml');

const kcatAvailable = (() => {
  try {
    execFileSync('kcat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!kcatAvailable) console.warn('[file-source] kcat is not installed (apt-get install kcat): the kcat dump test is skipped');

let databases: TestDatabase[] = [];
beforeEach(() => {
  databases = [];
});
afterEach(async () => {
  for (const db of databases) await db.drop();
});
async function gitlabDatabase(rows: WorkspaceRow[]): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'file.workspace.me' });
  await upsertWorkspaceRows(db.pool, rows);
  return db;
}

interface Stream {
  messages: OutgoingMessage[];
  /** GitLab's `workspaces` rows after these events. */
  rows: WorkspaceRow[];
  /** Workspaces the events delete. */
  deleted: number[];
  badCount: number;
}

/** The corpus between good neighbours, then a varied history; `keyed` false: what a bare NDJSON line can carry. */
function eventStream(keyed: boolean): Stream {
  const messages: OutgoingMessage[] = [];
  const rows = new Map<number, WorkspaceRow>();
  let badCount = 0;
  BAD_INPUT_CORPUS.forEach((corpusCase, n) => {
    // A line holds a value: not a null one (a tombstone), an empty one (a blank line) or one with a newline byte.
    const value = corpusCase.message.value;
    if (!keyed && (value === null || value.length === 0 || value.includes(0x0a))) return;
    const neighbour = workspaceRow(1 + n);
    rows.set(neighbour.id, neighbour);
    messages.push(n % 2 === 0 || !keyed ? asJson(createdEvent(neighbour)) : asAvro(createdEvent(neighbour)));
    messages.push(corpusCase.message as OutgoingMessage);
    if ('good' in corpusCase.expected) rows.set(corpusCase.expected.good.id, corpusCase.expected.good);
    else badCount++;
  });
  // Varied history, ids 5001…: every third stopped, every fourth given another devfile, every fifth deleted.
  const deleted: number[] = [];
  const deletion = (id: number, version: number): OutgoingMessage =>
    keyed
      ? tombstone(id)
      : { key: null as unknown as Buffer, value: Buffer.from(JSON.stringify({ before: { id }, after: null, op: 'd', source: { table: 'workspaces', lsn: version }, ts_ms: 1_756_904_881_000 })) };
  for (let id = 5001; id <= 5030; id++) {
    let row = workspaceRow(id);
    const created = createdEvent(row);
    const history: OutgoingMessage[] = [asJson(created)];
    let version = 1;
    if (id % 3 === 0) {
      row = { ...row, desired_state: 'Stopped' };
      history.push(asJson(updatedEvent(id, ++version, { desired_state: 'Stopped' })));
    }
    if (id % 4 === 0) {
      row = { ...row, processed_devfile: otherDevfile };
      history.push(asJson(updatedEvent(id, ++version, { processed_devfile: otherDevfile })));
    }
    // A redelivery of the create changes nothing.
    if (id % 7 === 0) history.push(asJson(created));
    // An update before its create: parked, then applied.
    if (id === 5012) history.unshift(history.splice(1, 1)[0]!);
    if (id % 5 === 0) {
      history.push(deletion(id, version + 1));
      deleted.push(id);
    } else rows.set(id, row);
    messages.push(...history);
  }
  // A bad update holds its workspace's later events (sequenced dead letters): its row stays at version 1.
  const holder = workspaceRow(5032);
  const badUpdate = JSON.parse(asJson(updatedEvent(5032, 2, { desired_state: 'Stopped' })).value!.toString('utf8')) as Record<string, unknown>;
  messages.push(asJson(createdEvent(holder)), { key: Buffer.from('5032'), value: Buffer.from(JSON.stringify({ ...badUpdate, version: 'two' })) }, asJson(updatedEvent(5032, 3, { desired_state: 'Stopped' })));
  rows.set(5032, holder);
  badCount++;
  // Deleted, then created again on the same partition.
  const again = workspaceRow(5031, { name: 'workspace-5031-again' });
  messages.push(asJson(createdEvent(workspaceRow(5031))), deletion(5031, 2), asJson(createdEvent(again, 3)));
  rows.set(5031, again);
  const unkeyed = (m: OutgoingMessage): OutgoingMessage => ({ key: null as unknown as Buffer, value: m.value });
  return { messages: keyed ? messages : messages.map(unkeyed), rows: [...rows.values()], deleted, badCount };
}

/** Devfiles make a JSON create ~5 KB: 500 of them on one partition exceed the broker's 1 MB request limit. */
async function produceInChunks(kafka: Kafka, topic: string, messages: OutgoingMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 100) await produce(kafka, topic, messages.slice(i, i + 100));
}

const letters = async (db: pg.Pool) =>
  (
    await db.query(
      `SELECT workspace_id::int, error_kind, error_path, topic, kafka_partition, kafka_offset::text AS kafka_offset, message
         FROM rebuild_projection.dead_letters ORDER BY topic, kafka_partition, kafka_offset, workspace_id, error_kind`,
    )
  ).rows as { workspace_id: number | null; error_kind: string; error_path: string | null; topic: string | null; kafka_partition: number | null; kafka_offset: string | null; message: string }[];
const checkpoints = async (db: pg.Pool) =>
  (await db.query(`SELECT topic, kafka_partition, next_offset::text FROM rebuild_projection.checkpoints WHERE projection = 'agentk-states' ORDER BY 1, 2`)).rows;
/** Events held behind their workspace's bad message (not the bad messages' own rows). */
const held = async (db: pg.Pool) =>
  (await db.query(`SELECT workspace_id::int, topic, kafka_partition, kafka_offset::text FROM rebuild_projection.held_events WHERE projection = 'agentk-states' AND dead_letter_key IS NULL ORDER BY 1, 2, 3, 4`)).rows;
const isBadMessage = (letter: { error_kind: string }) => (BAD_MESSAGE_REASONS as readonly string[]).includes(letter.error_kind);
const withoutMessage = <T extends { message: string }>(rows: T[]) => rows.map(({ message: _, ...rest }) => rest);

describe('the file source', () => {
  it.skipIf(!kcatAvailable)('rebuilds from a kcat -J dump of a topic, without a broker, to the rows, dead letters and checkpoints of the Kafka run', async () => {
    const stream = eventStream(true);
    const kafka = createTestKafka(brokers, 'file-source');
    const topic = `file-source-${randomBytes(4).toString('hex')}`;
    await createTopic(kafka, topic, 3);
    await produceInChunks(kafka, topic, stream.messages);

    // The same mode both ways: a rebuild (its generation failures are found when it materializes, unpositioned).
    const viaKafka = await gitlabDatabase(stream.rows);
    const consumed = await runCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', viaKafka.url]);
    expect(consumed.code, consumed.stderr).toBe(2);

    const dump = join(dir, `${topic}.json`);
    writeFileSync(dump, execFileSync('kcat', ['-b', brokers, '-C', '-e', '-J', '-q', '-t', topic, '-o', 'beginning'], { maxBuffer: 64 * 1024 * 1024 }));

    const viaFile = await gitlabDatabase(stream.rows);
    // No brokers anywhere: the file is all it reads.
    const rebuilt = await runCli(['agentk-states', '--source', `file:${dump}`, '--database-url', viaFile.url]);
    expect(rebuilt.stderr).not.toMatch(/^\s+at /m);
    expect(rebuilt.code, rebuilt.stderr).toBe(2);
    expect(rebuilt.stdout).toMatch(/^agentk-states rebuild #1 from file: /);
    expect(rebuilt.stderr).toContain(`${dump}: read as a kcat -J topic dump`);

    const rows = await readModel(viaKafka.pool);
    expect(rows.size).toBe(stream.rows.length);
    for (const id of stream.deleted) expect(rows.has(id)).toBe(false);
    expect(await readModel(viaFile.pool)).toEqual(rows);
    const kafkaLetters = await letters(viaKafka.pool);
    expect(kafkaLetters.filter((l) => l.topic !== null)).toHaveLength(stream.badCount - kafkaLetters.filter((l) => l.error_kind.startsWith('devfile_')).length);
    expect(withoutMessage(await letters(viaFile.pool))).toEqual(withoutMessage(kafkaLetters));
    expect(await held(viaFile.pool)).toEqual(await held(viaKafka.pool));
    expect((await held(viaKafka.pool)).map((h) => h.workspace_id)).toEqual([5032]);
    // A replay of the backup leaves the checkpoints a --follow of the topic continues from.
    expect(await checkpoints(viaFile.pool)).toEqual(await checkpoints(viaKafka.pool));
    // Each bad message's letter names its line in the dump beside its position in the topic.
    const badMessages = (await letters(viaFile.pool)).filter(isBadMessage);
    expect(badMessages.length).toBeGreaterThanOrEqual(30);
    for (const letter of badMessages) {
      expect(letter.message).toMatch(new RegExp(`^${dump.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+ \\(${topic}\\[${letter.kafka_partition}\\]@${letter.kafka_offset}\\): ${letter.error_kind}`));
    }
  }, 120_000);

  it('replays NDJSON events to the rows and dead letters of the same values from an unkeyed topic, each letter at its file:line, and resumes', async () => {
    const stream = eventStream(false);
    const kafka = createTestKafka(brokers, 'file-source-ndjson');
    const topic = `file-source-ndjson-${randomBytes(4).toString('hex')}`;
    await createTopic(kafka, topic, 1);
    await produceInChunks(kafka, topic, stream.messages);
    const viaKafka = await gitlabDatabase(stream.rows);
    const consumed = await runCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', viaKafka.url, '--from-checkpoint']);
    expect(consumed.code, consumed.stderr).toBe(2);

    const path = join(dir, `${topic}.ndjson.gz`);
    writeFileSync(path, gzipSync(Buffer.concat(stream.messages.flatMap((m) => [m.value ?? Buffer.alloc(0), Buffer.from('\n')]))));
    const viaFile = await gitlabDatabase(stream.rows);
    const replayed = await runCli(['agentk-states', '--source', `file:${path}`, '--database-url', viaFile.url, '--from-checkpoint']);
    expect(replayed.stderr).not.toMatch(/^\s+at /m);
    expect(replayed.code, replayed.stderr).toBe(2);
    expect(replayed.stdout).toContain(`agentk-states file replay: ${stream.messages.length} events`);
    expect(replayed.stderr).toContain(`${path}: read as NDJSON events`);

    const rows = await readModel(viaKafka.pool);
    expect(rows.size).toBe(stream.rows.length);
    expect(await readModel(viaFile.pool)).toEqual(rows);
    const comparable = (all: Awaited<ReturnType<typeof letters>>) => all.map(({ workspace_id, error_kind, error_path, kafka_offset }) => ({ workspace_id, error_kind, error_path, kafka_offset }));
    const name = `file:${topic}.ndjson.gz`;
    const fileLetters = await letters(viaFile.pool);
    expect(comparable(fileLetters)).toEqual(comparable(await letters(viaKafka.pool)));
    expect(fileLetters.length).toBeGreaterThanOrEqual(30);
    expect(await held(viaFile.pool)).toEqual((await held(viaKafka.pool)).map((h) => ({ ...h, topic: name })));
    expect((await held(viaFile.pool)).map((h) => h.workspace_id)).toEqual([5032]);
    const badMessages = fileLetters.filter(isBadMessage);
    expect(badMessages.length).toBeGreaterThanOrEqual(30);
    for (const letter of badMessages) {
      expect(letter.topic).toBe(name);
      expect(letter.message.startsWith(`${path}:${Number(letter.kafka_offset) + 1}: ${letter.error_kind}`), letter.message).toBe(true);
    }

    // Again: everything is at or below the checkpoint. From the beginning: folded already, nothing changes.
    const again = await runCli(['agentk-states', '--source', `file:${path}`, '--database-url', viaFile.url, '--from-checkpoint']);
    expect(again.stdout).toContain(`: 0 events, 0 written, 0 unchanged, 0 deleted, 0 parked, 0 failed, 0 held, ${stream.messages.length} already applied`);
    const replay = await runCli(['agentk-states', '--source', `file:${path}`, '--database-url', viaFile.url, '--from-beginning']);
    expect(replay.stdout).toContain(`: ${stream.messages.length} events, 0 written, `);
    expect(await readModel(viaFile.pool)).toEqual(rows);
    expect(comparable(await letters(viaFile.pool))).toEqual(comparable(fileLetters));

    // A file rebuild beside a Kafka consumer of other topics would replace what it applied: refused at the switch.
    const beside = await runCli(['agentk-states', '--source', `file:${path}`, '--database-url', viaKafka.url]);
    expect(beside.code, beside.stderr).toBe(1);
    expect(logLines(beside.stderr).at(-1)).toContain(`fatal: rebuild #1 from ${name}: the live table is also kept from ${topic} (a consumer's checkpoints), which the file does not carry`);
    expect(await readModel(viaKafka.pool)).toEqual(rows);

    // Tried again, a bad line is still bad; its letter then names its position (line − 1), not its line.
    const retried = await runCli(['agentk-states', '--retry-dead-letters', '--reason', 'not_json', '--database-url', viaFile.url]);
    expect(retried.code, retried.stderr).toBe(2);
    const notJson = (await letters(viaFile.pool)).filter((l) => l.error_kind === 'not_json');
    expect(notJson.length).toBeGreaterThan(0);
    for (const letter of notJson) expect(letter.message.startsWith(`${name}[0]@${letter.kafka_offset}: not_json`), letter.message).toBe(true);
  }, 120_000);

  it('refuses --follow with a file (exit 64) and a file it cannot read (exit 1), each in one line', async () => {
    const db = await gitlabDatabase([workspaceRow(1)]);
    const follow = await runCli(['agentk-states', '--source', 'file:events.ndjson', '--follow', '--database-url', db.url]);
    expect(follow.code).toBe(64);
    expect(logLines(follow.stderr)).toEqual([expect.stringContaining('fatal: --follow needs Kafka: a file has an end')]);
    const missing = await runCli(['agentk-states', '--source', `file:${join(dir, 'absent.ndjson')}`, '--database-url', db.url]);
    expect(missing.code).toBe(1);
    expect(logLines(missing.stderr)).toEqual([`fatal: cannot read ${join(dir, 'absent.ndjson')}: ENOENT: no such file or directory, access '${join(dir, 'absent.ndjson')}'`]);
  });
  it('refuses a dump that starts above its checkpoint, or whose offsets go back, each in one line and applying nothing of it', async () => {
    const rows = [workspaceRow(1), workspaceRow(2), workspaceRow(3)];
    const db = await gitlabDatabase(rows);
    const topic = 'dumped-workspaces';
    // kcat -J's envelope, written as its documentation gives it.
    const line = (offset: number, row: WorkspaceRow) =>
      JSON.stringify({ topic, partition: 0, offset, tstype: 'create', ts: 1764633600000, broker: 0, key: String(row.id), payload: asJson(createdEvent(row)).value!.toString('utf8') });
    const dump = (name: string, lines: string[]) => {
      const path = join(dir, name);
      writeFileSync(path, `${lines.join('\n')}\n`);
      return ['agentk-states', '--source', `file:${path}`, '--from-checkpoint', '--database-url', db.url];
    };
    const first = await runCli(dump('first.json', [line(0, rows[0]!), line(1, rows[1]!)]));
    expect(first.code, first.stderr).toBe(0);
    // Offsets 2..4 are missing: applying 5 would move the checkpoint past them without a word.
    const gap = await runCli(dump('gap.json', [line(5, rows[2]!)]));
    expect(gap.code).toBe(1);
    expect(logLines(gap.stderr).filter((l) => l.startsWith('fatal: '))).toEqual([
      expect.stringMatching(/^fatal: .*gap\.json: dumped-workspaces\[0\] starts at offset 5 but its checkpoint is at 2: records 2\.\.4 are not in the dump/),
    ]);
    const backwards = await runCli(dump('backwards.json', [line(3, rows[2]!), line(2, rows[2]!)]));
    expect(backwards.code).toBe(1);
    expect(logLines(backwards.stderr).filter((l) => l.startsWith('fatal: '))).toEqual([
      expect.stringMatching(/^fatal: .*backwards\.json:2: dumped-workspaces:0 offset 2 is not after 3: the records of a partition must be in offset order$/),
    ]);
    expect([...(await readModel(db.pool)).keys()].sort()).toEqual([rows[0]!.id, rows[1]!.id].sort());
  });
});
