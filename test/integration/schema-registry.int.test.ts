/**
 * The CLI against a real schema registry (Apicurio Registry, its Confluent-compatible API), a real topic and
 * PostgreSQL. One set of workspace changes is produced twice: once as the registry-framed Avro forms (our
 * events under the registry's ids, Debezium's Avro converter envelopes with Avro keys, the unwrap SMT's rows
 * in JSON and in Avro, its JSON-text null tombstone and its rewritten delete), once as JSON (our JSON events
 * and Debezium's JSON converter envelopes). Both runs must fold into the same states and write the same rows.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import path from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import { frameConfluent } from '../../src/events/codec/confluent-avro.js';
import { encodeAvro, encodeJson } from '../../src/events/encode.js';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import {
  DEBEZIUM_ENVELOPE_SCHEMA,
  DEBEZIUM_KEY_SCHEMA,
  DEBEZIUM_UNWRAPPED_SCHEMA,
  changeEvent,
  debeziumColumns,
  unwrappedRow,
} from '../fixtures/debezium/workspaces.js';
import { runCli, spawnCli } from '../support/cli.js';
import { createTestDatabase, useFreshGitLabDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { freePort, startSchemaRegistry, type TestSchemaRegistry } from '../support/schema-registry.js';
import { createTopic, foldedStates, createdEvent, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const brokers = inject('kafkaBrokers');
const DNS_ZONE = 'registry.workspace.me';
const db = useFreshGitLabDatabase(DNS_ZONE);
const ourSchema = (version: 'v1' | 'v2') => readFileSync(new URL(`../../schemas/workspace-event.${version}.avsc`, import.meta.url), 'utf8');

let registry: TestSchemaRegistry;
let client: SchemaRegistry;
const ids = { key: 0, envelope: 0, unwrapped: 0, v1: 0, v2: 0 };

beforeAll(async () => {
  registry = await startSchemaRegistry({ tls: true });
  client = new SchemaRegistry({ host: registry.url });
  const register = async (schema: string, subject: string) => (await client.register({ type: SchemaType.AVRO, schema }, { subject })).id;
  // Debezium's schemas first, so that the registry's ids of our own schemas differ from the catalog's 1 and 2.
  ids.key = await register(JSON.stringify(DEBEZIUM_KEY_SCHEMA), 'gitlab.public.workspaces-key');
  ids.envelope = await register(JSON.stringify(DEBEZIUM_ENVELOPE_SCHEMA), 'gitlab.public.workspaces-value');
  ids.unwrapped = await register(JSON.stringify(DEBEZIUM_UNWRAPPED_SCHEMA), 'gitlab.unwrapped.workspaces-value');
  ids.v1 = await register(ourSchema('v1'), 'workspace-events-value');
  ids.v2 = await register(ourSchema('v2'), 'workspace-events-value');
}, 600_000);

afterAll(async () => {
  await registry?.stop();
});

/** Our event's Avro body, framed with the registry's id instead of the catalog's. */
const registryFramed = (catalogId: 1 | 2, registryId: number, event: Parameters<typeof encodeAvro>[0]) => frameConfluent(registryId, encodeAvro(event, catalogId).subarray(5));
const jsonKey = (id: number) => Buffer.from(JSON.stringify({ id }));
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

interface Streams {
  /** Registry-framed Avro and the unwrap forms. */
  registryForm: OutgoingMessage[];
  /** The same changes as our JSON events and Debezium's JSON converter envelopes. */
  jsonForm: OutgoingMessage[];
  rows: WorkspaceRow[];
  /** The rows the read model must hold at the end. */
  expected: WorkspaceRow[];
}

async function buildStreams(base: number): Promise<Streams> {
  const row = (n: number, overrides: Partial<WorkspaceRow> = {}) => workspaceRow(base + n, overrides);
  const registryForm: OutgoingMessage[] = [];
  const jsonForm: OutgoingMessage[] = [];
  const both = (a: OutgoingMessage, b: OutgoingMessage) => (registryForm.push(a), jsonForm.push(b));
  const avroKey = async (id: number) => client.encode(ids.key, { id });

  // 1: our events, written with the registry's ids of v2 (the create) and v1 (the update: resolved into v2).
  const one = row(1);
  const oneCreated = createdEvent(one);
  const oneUpdated = updatedEvent(one.id, 2, { desired_state: 'Stopped' });
  both({ key: Buffer.from(String(one.id)), value: registryFramed(2, ids.v2, oneCreated) }, { key: Buffer.from(String(one.id)), value: encodeJson(oneCreated) });
  both({ key: Buffer.from(String(one.id)), value: registryFramed(1, ids.v1, oneUpdated) }, { key: Buffer.from(String(one.id)), value: encodeJson(oneUpdated) });

  // 2: Debezium envelopes: snapshot read, an update, an update whose unchanged devfile is TOASTed away.
  const two = row(2);
  const twoStopped = row(2, { desired_state: 'Stopped', updated_at: new Date('2025-09-03T14:00:00Z') });
  const twoRunning = row(2, { desired_state: 'Running', actual_state: 'Stopped', updated_at: new Date('2025-09-03T15:00:00Z') });
  const toasted = { ...debeziumColumns(twoRunning), processed_devfile: '__debezium_unavailable_value' };
  for (const change of [
    changeEvent('r', null, debeziumColumns(two)),
    changeEvent('u', debeziumColumns(two), debeziumColumns(twoStopped)),
    changeEvent('u', null, toasted),
  ]) {
    both({ key: await avroKey(two.id), value: await client.encode(ids.envelope, change) }, { key: jsonKey(two.id), value: json({ schema: { type: 'struct' }, payload: change }) });
  }

  // 3: a Debezium create, then its delete (then Kafka's tombstone, as Debezium sends by default).
  const three = row(3);
  for (const change of [changeEvent('c', null, debeziumColumns(three)), changeEvent('d', debeziumColumns(three), null)]) {
    both({ key: await avroKey(three.id), value: await client.encode(ids.envelope, change) }, { key: jsonKey(three.id), value: json(change) });
  }
  both({ key: await avroKey(three.id), value: null }, { key: jsonKey(three.id), value: null });

  // 4: unwrap rows in JSON: a create, then an update.
  const four = row(4);
  const fourUpdated = row(4, { desired_state: 'Stopped' });
  const fourChanges = [changeEvent('c', null, debeziumColumns(four)), changeEvent('u', debeziumColumns(four), debeziumColumns(fourUpdated))];
  for (const change of fourChanges) {
    const flattened = { ...change.after, __op: change.op, __table: 'workspaces', __lsn: change.source.lsn, __source_ts_ms: change.source.ts_ms, __deleted: 'false' };
    both({ key: jsonKey(four.id), value: json(flattened) }, { key: jsonKey(four.id), value: json(change) });
  }

  // 5: an unwrap create, then the unwrap SMT's tombstone: the JSON text null.
  const five = row(5);
  const fiveCreate = changeEvent('c', null, debeziumColumns(five));
  both({ key: jsonKey(five.id), value: json({ ...fiveCreate.after, __op: 'c', __lsn: fiveCreate.source.lsn }) }, { key: jsonKey(five.id), value: json(fiveCreate) });
  both({ key: jsonKey(five.id), value: Buffer.from('null') }, { key: jsonKey(five.id), value: null });

  // 6: unwrap rows in Avro with the registry: a create, then the rewritten delete of another one (7).
  const six = row(6);
  const sixRow = unwrappedRow('c', debeziumColumns(six));
  both({ key: await avroKey(six.id), value: await client.encode(ids.unwrapped, sixRow) }, { key: jsonKey(six.id), value: json({ ...changeEvent('c', null, debeziumColumns(six)), source: { table: 'workspaces', lsn: sixRow.__lsn, ts_ms: 1756904881000 } }) });
  const seven = row(7);
  const sevenCreate = unwrappedRow('r', debeziumColumns(seven));
  const sevenDelete = unwrappedRow('d', debeziumColumns(seven));
  both({ key: await avroKey(seven.id), value: await client.encode(ids.unwrapped, sevenCreate) }, { key: jsonKey(seven.id), value: json({ ...changeEvent('r', null, debeziumColumns(seven)), source: { table: 'workspaces', lsn: sevenCreate.__lsn, ts_ms: 1756904881000 } }) });
  both({ key: await avroKey(seven.id), value: await client.encode(ids.unwrapped, sevenDelete) }, { key: jsonKey(seven.id), value: json({ ...changeEvent('d', debeziumColumns(seven), null), source: { table: 'workspaces', lsn: sevenDelete.__lsn, ts_ms: 1756904881000 } }) });

  return {
    registryForm,
    jsonForm,
    rows: [one, two, three, four, five, six, seven],
    expected: [{ ...one, desired_state: 'Stopped' }, twoRunning, fourUpdated, six],
  };
}

const topicName = (what: string) => `registry-${what}-${randomBytes(4).toString('hex')}`;

async function consume(topic: string, database: string, extra: string[] = [], env: Record<string, string> = {}) {
  return runCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', database, '--from-beginning', ...extra], env, 90_000);
}

/** For failure messages: the dead letters, one per line. */
async function deadLetters(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query('SELECT message FROM rebuild_projection.dead_letters ORDER BY kafka_offset');
  return rows.map((r) => `\n${r.message}`).join('');
}


describe('with a schema registry', () => {
  it("decodes the registry's ids, Debezium's Avro converter output and the unwrap forms exactly like their JSON forms", async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const streams = await buildStreams(7100);
    const avroTopic = topicName('avro');
    const jsonTopic = topicName('json');
    await createTopic(kafka, avroTopic, 1);
    await createTopic(kafka, jsonTopic, 1);
    await produce(kafka, avroTopic, streams.registryForm);
    await produce(kafka, jsonTopic, streams.jsonForm);
    const jsonDb: TestDatabase = await createTestDatabase();
    try {
      await insertAgentConfig(jsonDb.pool, { cluster_agent_id: 1, dns_zone: DNS_ZONE });
      await upsertWorkspaceRows(db.pool, streams.expected);
      await upsertWorkspaceRows(jsonDb.pool, streams.expected);

      const viaRegistry = await consume(avroTopic, db.url, ['--schema-registry', registry.url]);
      expect(viaRegistry.code, viaRegistry.stderr + (await deadLetters(db.pool))).toBe(0);
      const viaJson = await consume(jsonTopic, jsonDb.url);
      expect(viaJson.code, viaJson.stderr + (await deadLetters(jsonDb.pool))).toBe(0);

      const agentConfig = agentConfigSchema.parse({ dns_zone: DNS_ZONE });
      const expected = new Map(streams.expected.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })]));
      expect(await readModel(db.pool)).toEqual(expected);
      expect(await readModel(jsonDb.pool)).toEqual(expected);
      const folded = await foldedStates(db.pool);
      expect(folded.map((s) => [s.id, s.deleted])).toEqual(streams.rows.map((r) => [r.id, ![7101, 7102, 7104, 7106].includes(r.id)]));
      expect(folded).toEqual(await foldedStates(jsonDb.pool));
    } finally {
      await jsonDb.drop();
    }
  });

  it('dead-letters an id the registry does not know as unknown_schema_id naming the id, and the static catalog does not stand in', async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const topic = topicName('unknown');
    await createTopic(kafka, topic, 1);
    const row = workspaceRow(7201);
    await upsertWorkspaceRows(db.pool, [row]);
    // Id 2 is the catalog's v2, but in the registry it is Debezium's envelope: its bytes are not an envelope.
    await produce(kafka, topic, [
      { key: Buffer.from('7201'), value: encodeAvro(createdEvent(row), 2) },
      { key: Buffer.from('7202'), value: frameConfluent(999_999, Buffer.from([2, 4])) },
    ]);
    const result = await consume(topic, db.url, ['--schema-registry', registry.url]);
    expect(result.code, result.stderr).toBe(2);
    const { rows } = await db.pool.query('SELECT workspace_id::int AS id, error_kind, message FROM rebuild_projection.dead_letters ORDER BY kafka_offset');
    expect(rows.map((r) => r.id)).toEqual([7201, 7202]);
    expect(ids.envelope).toBe(2);
    expect(rows[0].message).toMatch(/schema id 2 /);
    expect(['avro_decode_failed', 'schema_invalid']).toContain(rows[0].error_kind);
    expect(rows[1]).toMatchObject({ error_kind: 'unknown_schema_id' });
    expect(rows[1].message).toContain(`schema id 999999 is not in the schema registry at ${registry.url}`);
    expect((await readModel(db.pool)).size).toBe(0);
  });

  it("stops with one line (exit 1), dead-lettering nothing, when --schema-registry is not the API's base URL", async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const topic = topicName('base');
    await createTopic(kafka, topic, 1);
    const row = workspaceRow(7211);
    await upsertWorkspaceRows(db.pool, [row]);
    await produce(kafka, topic, [{ key: Buffer.from('7211'), value: registryFramed(2, ids.v2, createdEvent(row)) }]);
    // The registry's root, without Apicurio's /apis/ccompat/v7: every path there answers 404, as an unknown id does.
    const root = new URL(registry.url).origin;
    const result = await consume(topic, db.url, ['--schema-registry', root]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`answered 404 to GET ${root}/subjects too: ${root} is not the base URL of a Confluent-compatible API`));
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM rebuild_projection.dead_letters')).rows[0].n).toBe(0);
    expect((await readModel(db.pool)).size).toBe(0);
  });

  it('retries a dead-lettered unknown id with --retry-dead-letters once the registry has it', async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const topic = topicName('later');
    await createTopic(kafka, topic, 1);
    const row = workspaceRow(7251);
    await upsertWorkspaceRows(db.pool, [row]);
    // Apicurio numbers new content 1, 2, …: the id the next new schema will get, produced before it exists.
    const nextId = Math.max(...Object.values(ids)) + 1;
    await produce(kafka, topic, [{ key: Buffer.from('7251'), value: registryFramed(2, nextId, createdEvent(row)) }]);
    expect((await consume(topic, db.url, ['--schema-registry', registry.url])).code).toBe(2);
    const v2WithDoc = JSON.stringify({ ...JSON.parse(ourSchema('v2')), doc: 'v2, registered again with another doc: new content, a new id' });
    expect((await client.register({ type: SchemaType.AVRO, schema: v2WithDoc }, { subject: 'workspace-events-later-value' })).id).toBe(nextId);

    const retried = await runCli(['agentk-states', '--retry-dead-letters', '--database-url', db.url, '--schema-registry', registry.url], {}, 60_000);
    expect(retried.code, retried.stderr).toBe(0);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM rebuild_projection.dead_letters')).rows[0].n).toBe(0);
    expect([...(await readModel(db.pool)).keys()]).toEqual([7251]);
  });

  it('retries while the registry is down (logged, nothing dead-lettered) and goes on once it is up', async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const topic = topicName('down');
    await createTopic(kafka, topic, 1);
    const row = workspaceRow(7261);
    await upsertWorkspaceRows(db.pool, [row]);
    await produce(kafka, topic, [{ key: Buffer.from('7261'), value: registryFramed(2, ids.v2, createdEvent(row)) }]);
    const port = await freePort();
    const cli = spawnCli(['agentk-states', '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url, '--from-beginning', '--schema-registry', `http://127.0.0.1:${port}/apis/ccompat/v7`]);
    let stderr = '';
    cli.child.stderr!.on('data', (chunk) => (stderr += chunk));
    try {
      await expect.poll(() => stderr, { timeout: 30_000, interval: 200 }).toMatch(/transient failure \(attempt 2\).*schema registry did not answer GET .*ECONNREFUSED/);
      expect((await db.pool.query('SELECT count(*)::int AS n FROM rebuild_projection.dead_letters')).rows[0].n).toBe(0);
      // The registry comes back: that port now leads to it.
      const forwarder = createNetServer((socket) => socket.pipe(connect(Number(new URL(registry.url).port), '127.0.0.1')).pipe(socket));
      await new Promise<void>((resolve) => forwarder.listen(port, '127.0.0.1', resolve));
      try {
        const { code } = await cli.exited;
        expect(code, stderr + (await deadLetters(db.pool))).toBe(0);
        expect([...(await readModel(db.pool)).keys()]).toEqual([7261]);
      } finally {
        forwarder.close();
      }
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('reads the registry over HTTPS with --registry-ca, and stops with one line (exit 1) without it', async () => {
    const kafka = createTestKafka(brokers, 'schema-registry');
    const topic = topicName('tls');
    await createTopic(kafka, topic, 1);
    const row = workspaceRow(7301);
    await upsertWorkspaceRows(db.pool, [row]);
    await produce(kafka, topic, [{ key: Buffer.from('7301'), value: registryFramed(2, ids.v2, createdEvent(row)) }]);

    const untrusted = await consume(topic, db.url, ['--schema-registry', registry.tlsUrl!]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/schema registry did not answer GET https:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7\/schemas\/ids\/\d+: .*certificate/);
    expect(untrusted.stderr).not.toMatch(/^\s+at /m);

    const trusted = await consume(topic, db.url, ['--schema-registry', registry.tlsUrl!, '--registry-ca', registry.caFile!]);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect([...(await readModel(db.pool)).keys()]).toEqual([7301]);
  });

  it('sends basic auth credentials (password from a file or the environment) and stops with one line on a 401', async () => {
    // Apicurio 2.6 checks basic auth only through Keycloak; a proxy in front of it plays the registry's gate.
    const proxyPort = await freePort();
    const upstream = new URL(registry.url);
    const expectedAuth = `Basic ${Buffer.from('reader:s3cret').toString('base64')}`;
    const proxy: Server = createServer((req, res) => {
      if (req.headers.authorization !== expectedAuth) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 40101, message: 'Unauthorized' }));
        return;
      }
      const forwarded = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
    try {
      const kafka = createTestKafka(brokers, 'schema-registry');
      const topic = topicName('auth');
      await createTopic(kafka, topic, 1);
      const row = workspaceRow(7401);
      await upsertWorkspaceRows(db.pool, [row]);
      await produce(kafka, topic, [{ key: Buffer.from('7401'), value: registryFramed(2, ids.v2, createdEvent(row)) }]);
      const url = `http://127.0.0.1:${proxyPort}${upstream.pathname}`;

      const refused = await consume(topic, db.url, ['--schema-registry', url, '--registry-user', 'reader'], { REBUILD_PROJECTION_REGISTRY_PASSWORD: 'wrong' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('schema registry answered 401');
      expect(refused.stderr).toContain('check the registry credentials');
      expect(refused.stderr).not.toContain('wrong');

      const passwordFile = path.join(registry.dir, 'password');
      writeFileSync(passwordFile, 's3cret\n');
      const fromFile = await consume(topic, db.url, ['--schema-registry', url, '--registry-user', 'reader', '--registry-password-file', passwordFile]);
      expect(fromFile.code, fromFile.stderr).toBe(0);
      expect([...(await readModel(db.pool)).keys()]).toEqual([7401]);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
