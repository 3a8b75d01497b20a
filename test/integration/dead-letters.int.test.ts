/**
 * Dead letters you can work with, against the real PostgreSQL and broker through the real CLI: a workspace
 * with a bad message holds its later events (its neighbours in the partition flow on), a replay neither
 * doubles nor loses them, a retry after the fix applies them in order; the listing's counts and filters
 * write nothing; a purge needs --yes and then applies what the purged message held.
 *
 * The bad message is an Avro event written with a schema id (7) the package's catalog does not know
 * (unknown_schema_id); the fix is a catalog that maps 7 to the current schema, given with --schemas.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import { findSchemasDir, loadSchemaCatalog } from '../../src/events/codec/catalog.js';
import { encodeAvro, encodeKey } from '../../src/events/encode.js';
import type { WorkspaceRow, WorkspaceValueEvent } from '../../projections/agentk-states/events.js';
import { runCli } from '../support/cli.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { fatalMessages, logEntries } from '../support/log-lines.js';
import { asJson, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });
const UNKNOWN_ID = 7;
const ctx = useKafkaTestContext({ clientId: 'dead-letter-tests', dnsZone: 'test.workspace.me', topicPrefix: 'dead-letters', groupPrefix: 'dead-letters' });
const { brokers, kafka, db } = ctx;
let fixedSchemas: string;

beforeAll(() => {
  // The fix: the package's catalog plus schema id 7 → the current schema file.
  fixedSchemas = mkdtempSync(join(tmpdir(), 'dead-letter-schemas-'));
  const shipped = findSchemasDir();
  for (const file of readdirSync(shipped).filter((f) => f.endsWith('.avsc'))) copyFileSync(join(shipped, file), join(fixedSchemas, file));
  writeFileSync(
    join(fixedSchemas, 'catalog.json'),
    JSON.stringify({
      schemas: [
        { id: 1, file: 'workspace-event.v1.avsc' },
        { id: 2, file: 'workspace-event.v2.avsc', current: true },
        { id: UNKNOWN_ID, file: 'workspace-event.v2.avsc' },
      ],
    }),
  );
});
afterAll(() => rmSync(fixedSchemas, { recursive: true, force: true }));

const cliArgs = (...mode: string[]) => ['agentk-states', '--source', 'kafka', '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url, ...mode];
const cli = (...mode: string[]) => runCli(cliArgs(...mode), {}, 60_000);
const generated = (row: WorkspaceRow) => generateDesiredConfig({ workspace: row, agentConfig });
/** Avro with a schema id only the fixed catalog knows: unknown_schema_id for the package's catalog. */
const unknownSchema = (event: WorkspaceValueEvent): OutgoingMessage => ({
  key: encodeKey(event.workspaceId),
  value: encodeAvro(event, UNKNOWN_ID, loadSchemaCatalog(fixedSchemas)),
});
/** No stack trace or unhandled event: only log entries. */
const noStackTrace = (stderr: string) => {
  expect(stderr).not.toMatch(/^\s+at |Unhandled|node:internal/m);
  logEntries(stderr);
};

async function letters() {
  const { rows } = await db.pool.query(
    `SELECT workspace_id::int AS workspace, kafka_offset::int AS offset, error_kind, attempts FROM rebuild_projection.dead_letters ORDER BY kafka_offset NULLS LAST, workspace_id`,
  );
  return rows as { workspace: number | null; offset: number | null; error_kind: string; attempts: number }[];
}
async function held() {
  const { rows } = await db.pool.query(
    `SELECT workspace_id::int AS workspace, kafka_offset::int AS offset, dead_letter_key IS NOT NULL AS bad FROM rebuild_projection.held_events ORDER BY workspace_id, kafka_offset`,
  );
  return rows as { workspace: number; offset: number; bad: boolean }[];
}

describe('a workspace with a dead-lettered message holds its later events', () => {
  it('holds W behind its bad update while X flows; a replay changes nothing; a retry after the fix applies v2, v3, v4 in order', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const w = workspaceRow(1);
    const x = workspaceRow(2);
    await upsertWorkspaceRows(db.pool, [w, x]);
    await produce(kafka, ctx.topic, [
      asJson(createdEvent(w)), // 0
      asJson(createdEvent(x)), // 1
      unknownSchema(updatedEvent(1, 2, { desired_state: 'Stopped' })), // 2: bad
      asJson(updatedEvent(2, 2, { desired_state: 'Stopped' })), // 3
      asJson(updatedEvent(1, 3, { name: 'w-three' })), // 4: held
      asJson(updatedEvent(2, 3, { name: 'x-three' })), // 5
      asJson(updatedEvent(1, 4, { name: 'w-four' })), // 6: held
    ]);
    const consumed = await cli('--from-checkpoint');
    expect(consumed.code).toBe(2);
    noStackTrace(consumed.stderr);
    expect(consumed.stdout).toMatch(/, 2 held,/);
    const xFinal = { ...x, desired_state: 'Stopped', name: 'x-three' };
    const wV1Only = new Map([[1, generated(w)], [2, generated(xFinal)]]);
    expect(await readModel(db.pool)).toEqual(wV1Only);
    expect(await letters()).toEqual([{ workspace: 1, offset: 2, error_kind: 'unknown_schema_id', attempts: 1 }]);
    expect(await held()).toEqual([{ workspace: 1, offset: 2, bad: true }, { workspace: 1, offset: 4, bad: false }, { workspace: 1, offset: 6, bad: false }]);

    // A replay while W is held: the bad message is lettered again (attempts 2), nothing is held twice or applied.
    const replay = await cli('--from-beginning');
    expect(replay.code).toBe(2);
    expect(await readModel(db.pool)).toEqual(wV1Only);
    expect((await held()).length).toBe(3);
    expect((await letters())[0]!.attempts).toBe(2);

    // Without the fix the retry fails again and keeps everything.
    const unfixed = await cli('--retry-dead-letters');
    expect(unfixed.code).toBe(2);
    expect(unfixed.stdout).toMatch(/1 dead letters chosen, 0 resolved, 1 still failing; 0 held events applied/);
    expect(await readModel(db.pool)).toEqual(wV1Only);
    expect((await letters())[0]!.attempts).toBe(3);
    expect((await held()).length).toBe(3);

    const fixed = await cli('--retry-dead-letters', '--schemas', fixedSchemas);
    expect(fixed.code).toBe(0);
    noStackTrace(fixed.stderr);
    expect(fixed.stdout).toMatch(/1 dead letters chosen, 1 resolved, 0 still failing; 2 held events applied, 0 changed nothing/);
    const wFinal = { ...w, desired_state: 'Stopped', name: 'w-four' };
    expect(await readModel(db.pool)).toEqual(new Map([[1, generated(wFinal)], [2, generated(xFinal)]]));
    expect(await letters()).toEqual([]);
    expect(await held()).toEqual([]);

    // Replayed later with the package's catalog (the message is bad to it): already applied, so not lettered again.
    const again = await cli('--from-beginning');
    expect(again.code).toBe(0);
    expect(await letters()).toEqual([]);
    expect(await readModel(db.pool)).toEqual(new Map([[1, generated(wFinal)], [2, generated(xFinal)]]));
  });

  it('lists counts by reason and filters without writing; a purge refuses without --yes, then applies what it held', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const a = workspaceRow(1);
    const b = workspaceRow(2);
    await upsertWorkspaceRows(db.pool, [a, b]);
    await produce(kafka, ctx.topic, [
      asJson(createdEvent(a)), // 0
      asJson(createdEvent(b)), // 1
      unknownSchema(updatedEvent(1, 2, { desired_state: 'Stopped' })), // 2: bad, holds a
      { key: Buffer.from('2'), value: Buffer.from('{"type":"workspace-updated","workspace_id":2}') }, // 3: schema_invalid, holds b
      { key: Buffer.from('not-a-workspace'), value: Buffer.from('{}') }, // 4: bad_key, no workspace
      asJson(updatedEvent(1, 3, { name: 'a-three' })), // 5: held
      asJson(updatedEvent(2, 3, { name: 'b-three' })), // 6: held
    ]);
    expect((await cli('--from-checkpoint')).code).toBe(2);
    const before = (await db.pool.query(`SELECT * FROM rebuild_projection.dead_letters ORDER BY id`)).rows;

    const all = await cli('--dead-letters');
    expect(all.code).toBe(2);
    noStackTrace(all.stderr);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toBe('3 dead letters');
    expect(lines.slice(1, 4).map((l) => l.split(',')[0]!.trim()).sort()).toEqual(['bad_key: 1', 'schema_invalid: 1', 'unknown_schema_id: 1']);
    expect(lines.slice(4)).toEqual([
      expect.stringMatching(new RegExp(`^workspace 1 ${ctx.topic}\\[0\\]@2 unknown_schema_id: attempts 1, holds 1 later events: `)),
      expect.stringMatching(new RegExp(`^workspace 2 ${ctx.topic}\\[0\\]@3 schema_invalid at \\S+: attempts 1, holds 1 later events: `)),
      expect.stringMatching(new RegExp(`^workspace \\? ${ctx.topic}\\[0\\]@4 bad_key: attempts 1: `)),
    ]);

    const byReason = await cli('--dead-letters', '--reason', 'unknown_schema_id', '--json');
    expect(byReason.code).toBe(2);
    const parsed = JSON.parse(byReason.stdout) as { total: number; by_reason: { reason: string; count: number }[]; letters: { workspace_id: number; held_events: number }[] };
    expect(parsed.total).toBe(1);
    expect(parsed.by_reason.map((r) => [r.reason, r.count])).toEqual([['unknown_schema_id', 1]]);
    expect(parsed.letters.map((l) => [l.workspace_id, l.held_events])).toEqual([[1, 1]]);
    expect((await cli('--dead-letters', '--workspace', '2')).stdout).toMatch(/^1 dead letters\n  schema_invalid: 1, e\.g\. /);
    const none = await cli('--dead-letters', '--source', 'snapshot');
    expect([none.code, none.stdout]).toEqual([0, '0 dead letters\n']);
    expect((await cli('--dead-letters', '--older-than', '1h')).stdout).toBe('0 dead letters\n');
    expect((await cli('--dead-letters', '--since', '2000-01-01T00:00:00Z')).stdout).toMatch(/^3 dead letters\n/);
    expect((await cli('--dead-letters', '--older-than', '1h', '--since', '2000-01-01T00:00:00Z')).code).toBe(64);
    // The listing wrote nothing.
    expect((await db.pool.query(`SELECT * FROM rebuild_projection.dead_letters ORDER BY id`)).rows).toEqual(before);

    const refused = await cli('--purge-dead-letters', '--reason', 'unknown_schema_id');
    expect(refused.code).toBe(64);
    expect(fatalMessages(refused.stderr)).toEqual([expect.stringMatching(/would delete 1 dead letters \(their workspaces hold 1 events, applied once released\): add --yes/)]);
    expect((await letters()).length).toBe(3);

    const purged = await cli('--purge-dead-letters', '--reason', 'unknown_schema_id', '--yes');
    expect(purged.code).toBe(2);
    noStackTrace(purged.stderr);
    expect(purged.stdout).toMatch(/1 dead letters chosen, 1 removed, 0 still failing; 1 held events applied.*; 2 dead letters in total \(bad_key ×1, e\.g\. .+; schema_invalid ×1, e\.g\. .+\[0\]@3: schema_invalid.*; see --dead-letters\)$/m);
    // a's v2 is lost (accepted), its v3 applied; b still waits behind its bad message.
    expect(await readModel(db.pool)).toEqual(new Map([[1, generated({ ...a, name: 'a-three' })], [2, generated(b)]]));
    expect(await held()).toEqual([{ workspace: 2, offset: 3, bad: true }, { workspace: 2, offset: 6, bad: false }]);
    expect((await letters()).map((l) => [l.workspace, l.error_kind])).toEqual([[2, 'schema_invalid'], [null, 'bad_key']]);
  });

  it('a rebuild from zero holds W in its shadow too and hands the holds over at its switch; a retry then releases them', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const w = workspaceRow(5);
    const x = workspaceRow(6);
    await upsertWorkspaceRows(db.pool, [w, x]);
    await produce(kafka, ctx.topic, [
      asJson(createdEvent(w)),
      asJson(createdEvent(x)),
      unknownSchema(updatedEvent(5, 2, { desired_state: 'Stopped' })),
      asJson(updatedEvent(5, 3, { name: 'w-three' })),
      asJson(updatedEvent(6, 2, { name: 'x-two' })),
    ]);
    const rebuilt = await cli();
    expect(rebuilt.code).toBe(2);
    noStackTrace(rebuilt.stderr);
    const xFinal = generated({ ...x, name: 'x-two' });
    expect(await readModel(db.pool)).toEqual(new Map([[5, generated(w)], [6, xFinal]]));
    const { rows } = await db.pool.query(`SELECT DISTINCT projection FROM rebuild_projection.held_events`);
    expect(rows).toEqual([{ projection: 'agentk-states' }]);
    expect((await held()).map((h) => h.bad)).toEqual([true, false]);

    const fixed = await cli('--retry-dead-letters', '--schemas', fixedSchemas);
    expect(fixed.code).toBe(0);
    expect(await readModel(db.pool)).toEqual(new Map([[5, generated({ ...w, desired_state: 'Stopped', name: 'w-three' })], [6, xFinal]]));
    expect(await held()).toEqual([]);
  });

  it('a generation failure holds nothing (later events fold) and a retry regenerates the row after the agent-config fix', async () => {
    await createTopic(kafka, ctx.topic, 1);
    const w = workspaceRow(8, { cluster_agent_id: 2 }); // agent 2 has no workspaces_agent_configs row yet
    const x = workspaceRow(9);
    await upsertWorkspaceRows(db.pool, [w, x]);
    await produce(kafka, ctx.topic, [asJson(createdEvent(w)), asJson(createdEvent(x)), asJson(updatedEvent(8, 2, { name: 'w-two' }))]);
    const consumed = await cli('--from-checkpoint');
    expect(consumed.code).toBe(2);
    expect(consumed.stdout).toMatch(/, 0 held,/);
    expect(await readModel(db.pool)).toEqual(new Map([[9, generated(x)]]));
    expect((await letters()).map((l) => [l.workspace, l.offset])).toEqual([[8, 2]]);
    expect(await held()).toEqual([]);

    const unfixed = await cli('--retry-dead-letters');
    expect(unfixed.code).toBe(2);
    expect((await letters())[0]!.attempts).toBe(2);

    await insertAgentConfig(db.pool, { cluster_agent_id: 2, dns_zone: 'test.workspace.me' });
    const fixed = await cli('--retry-dead-letters', '--workspace', '8');
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/1 dead letters chosen, 1 resolved, 0 still failing/);
    expect(await readModel(db.pool)).toEqual(new Map([[8, generated({ ...w, name: 'w-two' })], [9, generated(x)]]));
    expect(await letters()).toEqual([]);
  });
});
