/**
 * Debezium's unwrap SMT (ExtractNewRecordState) on a real topic, through the CLI: flattened rows with and
 * without `add.fields` metadata, with the JSON converter's `{schema, payload}` envelope, an update whose
 * TOASTed devfile is unavailable, the rewritten delete (`__deleted: "true"`, then the tombstone of
 * `rewrite-with-tombstone`), and the tombstone mode's JSON-text null. The same changes as Debezium's
 * (un-flattened) JSON converter events, message for message on a second topic, must fold into the same
 * states and rows.
 */
import { randomBytes } from 'node:crypto';
import { expect, inject, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import { DEBEZIUM_UNAVAILABLE_VALUE } from '../../src/events/codec/debezium.js';
import { changeEvent, debeziumColumns } from '../fixtures/debezium/workspaces.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, useFreshGitLabDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { createTopic, foldedStates, produce, readModel, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const DNS_ZONE = 'unwrap.workspace.me';
const db = useFreshGitLabDatabase(DNS_ZONE);

type Change = ReturnType<typeof changeEvent>;
/** The SMT's output for a change, with `add.fields=op,table,lsn,source.ts_ms` and the rewrite delete mode. */
const flattened = (change: Change) => ({
  ...(change.op === 'd' ? change.before : change.after),
  __op: change.op,
  __table: 'workspaces',
  __lsn: change.source.lsn,
  __source_ts_ms: change.source.ts_ms,
  __deleted: String(change.op === 'd'),
});
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

it("folds the unwrap SMT's rows, rewritten deletes and null tombstones exactly like Debezium's change events", async () => {
  const unwrapped: OutgoingMessage[] = [];
  const envelopes: OutgoingMessage[] = [];
  const key = (id: number) => json({ id });
  const pair = (id: number, a: Buffer | null, b: Buffer | null) => (unwrapped.push({ key: key(id), value: a }), envelopes.push({ key: key(id), value: b }));
  const row = (n: number, overrides = {}) => workspaceRow(7500 + n, overrides);

  // 1: the SMT's defaults (no metadata): a row is all of after, versioned (like a change without LSN) by its offset.
  const one = row(1);
  const oneStopped = row(1, { desired_state: 'Stopped' });
  for (const r of [one, oneStopped]) {
    const withoutLsn = { ...changeEvent('u', null, debeziumColumns(r)), source: { table: 'workspaces', ts_ms: 1756904881000 } };
    pair(r.id, json(debeziumColumns(r)), json(withoutLsn));
  }
  // 2: with metadata, inside the JSON converter's {schema, payload} envelope: a create, then an update.
  const two = row(2);
  const twoChanges = [changeEvent('c', null, debeziumColumns(two)), changeEvent('u', debeziumColumns(two), debeziumColumns(row(2, { actual_state: 'Stopped' })))];
  for (const change of twoChanges) pair(two.id, json({ schema: { type: 'struct', name: 'gitlab.public.workspaces.Value' }, payload: flattened(change) }), json(change));
  // 3: an update whose unchanged devfile Debezium could not read (TOAST), without before.
  const three = row(3);
  const threeChanges = [changeEvent('r', null, debeziumColumns(three)), changeEvent('u', null, { ...debeziumColumns(row(3, { desired_state: 'Stopped' })), processed_devfile: DEBEZIUM_UNAVAILABLE_VALUE })];
  for (const change of threeChanges) pair(three.id, json(flattened(change)), json(change));
  // 4: a create, the rewritten delete, then the tombstone (rewrite-with-tombstone).
  const four = row(4);
  for (const change of [changeEvent('c', null, debeziumColumns(four)), changeEvent('d', debeziumColumns(four), null)]) pair(four.id, json(flattened(change)), json(change));
  pair(four.id, null, null);
  // 5: a create, then the tombstone mode's delete: the JSON text null (Debezium's own delete is a d, then a tombstone).
  const five = row(5);
  const fiveCreated = changeEvent('c', null, debeziumColumns(five));
  pair(five.id, json(flattened(fiveCreated)), json(fiveCreated));
  pair(five.id, Buffer.from('null'), null);

  const kafka = createTestKafka(brokers, 'debezium-unwrap');
  const suffix = randomBytes(4).toString('hex');
  const [unwrapTopic, envelopeTopic] = [`unwrap-${suffix}`, `envelope-${suffix}`];
  await createTopic(kafka, unwrapTopic, 1);
  await createTopic(kafka, envelopeTopic, 1);
  await produce(kafka, unwrapTopic, unwrapped);
  await produce(kafka, envelopeTopic, envelopes);
  const expected = [oneStopped, row(2, { actual_state: 'Stopped' }), row(3, { desired_state: 'Stopped' })];
  const envelopeDb = await createTestDatabase();
  try {
    await insertAgentConfig(envelopeDb.pool, { cluster_agent_id: 1, dns_zone: DNS_ZONE });
    for (const [pool, topic, url] of [[db.pool, unwrapTopic, db.url], [envelopeDb.pool, envelopeTopic, envelopeDb.url]] as const) {
      await upsertWorkspaceRows(pool, expected);
      const result = await runCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', url, '--from-beginning'], {}, 90_000);
      expect(result.code, result.stderr).toBe(0);
    }
    const agentConfig = agentConfigSchema.parse({ dns_zone: DNS_ZONE });
    const rows = new Map(expected.map((r) => [r.id, generateDesiredConfig({ workspace: r, agentConfig })]));
    expect(await readModel(db.pool)).toEqual(rows);
    expect(await readModel(envelopeDb.pool)).toEqual(rows);
    const states = await foldedStates(db.pool);
    expect(states.map((s) => [s.id, s.deleted])).toEqual([[7501, false], [7502, false], [7503, false], [7504, true], [7505, true]]);
    expect(states).toEqual(await foldedStates(envelopeDb.pool));
  } finally {
    await envelopeDb.drop();
  }
});

