/**
 * The bad-input corpus (test/fixtures/bad-input/corpus.ts) through a real topic, each case between two good
 * events in one partition: every bad one is dead-lettered at its offset with its hand-written reason and
 * path, every good one (the corpus's valid edge cases and all neighbours) is projected, and the run exits 2.
 */
import { randomBytes } from 'node:crypto';
import { expect, it, inject } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { BAD_INPUT_CORPUS } from '../fixtures/bad-input/corpus.js';
import { runCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { asAvro, asJson, createdEvent, createTopic, produce, readModel, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');

it('dead-letters each bad input at its position with its reason and path, and projects every good neighbour (exit 2)', async () => {
  expect(BAD_INPUT_CORPUS.length).toBeGreaterThanOrEqual(40);
  const kafka = createTestKafka(brokers, 'bad-input-corpus');
  const topic = `bad-input-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  const messages: OutgoingMessage[] = [];
  const goodRows: WorkspaceRow[] = [];
  const expectedLetters: { offset: number; reason: string; path: string | null; name: string }[] = [];
  const neighbour = (n: number) => {
    const row = workspaceRow(1 + n);
    goodRows.push(row);
    messages.push(n % 2 === 0 ? asJson(createdEvent(row)) : asAvro(createdEvent(row)));
  };
  BAD_INPUT_CORPUS.forEach((corpusCase, n) => {
    neighbour(n);
    const offset = messages.length;
    messages.push(corpusCase.message as OutgoingMessage);
    if ('good' in corpusCase.expected) goodRows.push(corpusCase.expected.good);
    else expectedLetters.push({ offset, reason: corpusCase.expected.reason, path: corpusCase.expected.path, name: corpusCase.name });
  });
  neighbour(BAD_INPUT_CORPUS.length);
  await upsertWorkspaceRows(db.pool, goodRows);
  await produce(kafka, topic, messages);

  const result = await runCli(['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url, '--from-checkpoint'], {}, 60_000);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.code, result.stderr).toBe(2);

  const { rows } = await db.pool.query(
    `SELECT kafka_offset::int AS offset, topic, kafka_partition, error_kind, error_path, message FROM rebuild_projection.dead_letters ORDER BY kafka_offset`,
  );
  const byOffset = new Map(rows.map((r) => [r.offset as number, r]));
  const actual = expectedLetters.map((e) => ({ name: e.name, offset: e.offset, reason: byOffset.get(e.offset)?.error_kind, path: byOffset.get(e.offset)?.error_path ?? null }));
  expect(actual).toEqual(expectedLetters.map(({ name, offset, reason, path }) => ({ name, offset, reason, path })));
  expect(rows).toHaveLength(expectedLetters.length);
  for (const row of rows) {
    expect(row).toMatchObject({ topic, kafka_partition: 0 });
    // Bad messages name their position in the message; generation failures are located by the columns.
    if (!String(row.error_kind).startsWith('devfile_')) expect(row.message).toContain(`${topic}[0]@${row.offset}`);
  }
  const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });
  expect(await readModel(db.pool)).toEqual(new Map(goodRows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })])));
  // GitLab's table is still there and intact: the SQL-looking name was data.
  expect((await db.pool.query('SELECT count(*)::int AS n FROM workspaces')).rows[0].n).toBe(goodRows.length);

  // A rebuild from zero over the same corpus (it used to hang in `building` on the first NUL): it finishes,
  // exit 2, and switches in exactly the same rows.
  const rebuild = await runCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url], {}, 90_000);
  expect(rebuild.stderr).not.toMatch(/^\s+at /m);
  expect(rebuild.code, rebuild.stderr).toBe(2);
  expect(rebuild.stdout).toContain(`0 written, ${goodRows.length} unchanged, 0 deleted`);
  expect(await readModel(db.pool)).toEqual(new Map(goodRows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })])));
}, 180_000);
