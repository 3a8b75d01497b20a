/**
 * The operations endpoint of the real CLI (--metrics-port), scraped while it consumes events produced to a
 * real broker and writes a real PostgreSQL: counters move by what was produced, the lag drains to 0,
 * /readyz turns from 503 to 200, a bad message counts under its reason; a rebuild shows its phase.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { expect, inject, it } from 'vitest';
import { runCli, spawnCli, waitFor, type SpawnedCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logLines } from '../support/log-lines.js';
import { freePort, probe, sample, samples, scrape } from '../support/ops-endpoint.js';
import { asJson, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';
import { encodeKey } from '../../src/events/encode.js';

const brokers = inject('kafkaBrokers');
const db = useFreshGitLabDatabase('test.workspace.me');

async function stop(cli: SpawnedCli) {
  cli.child.kill('SIGTERM');
  return cli.exited;
}

it('--follow --metrics-port: counters move by the events produced, the lag drains, /readyz turns 200, a bad message counts under its reason', async () => {
  const kafka = createTestKafka(brokers, 'metrics-tests');
  const topic = `metrics-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 2);
  const rows = Array.from({ length: 30 }, (_, i) => workspaceRow(i + 1));
  await upsertWorkspaceRows(db.pool, rows);
  // Produced before the consumer starts: it has a backlog to drain, and with --ready-max-lag 0 it is ready only once drained.
  await produce(kafka, topic, rows.map((row) => asJson(createdEvent(row))));

  const port = await freePort();
  const cli = spawnCli(['agentk-states', '--follow', '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--ready-max-lag', '0',
    '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  try {
    let first: { status: number; body: string } | undefined;
    await waitFor(async () => (first = await probe(port, '/readyz')) !== undefined, 30_000);
    expect(first?.status, first?.body).toBe(503);
    expect((await probe(port, '/healthz'))?.status).toBe(200);

    await waitFor(async () => (await probe(port, '/readyz'))?.status === 200, 30_000);
    let text = await scrape(port);
    expect(sample(text, 'rebuild_projection_events_total', { outcome: 'applied' })).toBe(30);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'written' })).toBe(30);
    expect(sample(text, 'rebuild_projection_assigned_partitions')).toBe(2);
    expect(samples(text, 'rebuild_projection_consumer_lag').map((s) => [s.labels.partition, s.value]).sort()).toEqual([['0', 0], ['1', 0]]);
    expect(sample(text, 'rebuild_projection_ready')).toBe(1);
    expect(sample(text, 'rebuild_projection_batch_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect((await readModel(db.pool)).size).toBe(30);

    // Five rows change, one message does not parse (its workspace has no other event, so it holds nothing).
    await produce(kafka, topic, [
      ...rows.slice(0, 5).map((row) => asJson(updatedEvent(row.id, 2, { desired_state: 'Stopped' }))),
      { key: encodeKey(999), value: Buffer.from('{"type": "workspace-created",') },
    ]);
    await waitFor(async () => sample(await scrape(port), 'rebuild_projection_events_total', { outcome: 'dead_lettered' }) === 1, 30_000);
    await waitFor(async () => sample(await scrape(port), 'rebuild_projection_events_total', { outcome: 'applied' }) === 35, 30_000);
    text = await scrape(port);
    expect(sample(text, 'rebuild_projection_dead_letters_total', { reason: 'not_json' })).toBe(1);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'written' })).toBe(35);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'unchanged' })).toBe(0);
    expect(sample(text, 'rebuild_projection_events_total', { outcome: 'skipped' })).toBe(0);
    expect(samples(text, 'rebuild_projection_consumer_lag').every((s) => s.value === 0)).toBe(true);
    expect((await probe(port, '/readyz'))?.status).toBe(200);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  } finally {
    const exited = await stop(cli);
    // Exit 2: the bad message's dead letter is left.
    expect(exited.code, exited.stderr).toBe(2);
  }
  // The endpoint went with the process.
  expect(await probe(port, '/healthz')).toBeUndefined();
});

it('a rebuild (--source snapshot --follow) shows its phase while it runs, is not ready until its follower is, and ends switched', async () => {
  const kafka = createTestKafka(brokers, 'metrics-tests');
  const topic = `metrics-rebuild-${randomBytes(4).toString('hex')}`;
  await createTopic(kafka, topic, 1);
  const rows = Array.from({ length: 250 }, (_, i) => workspaceRow(i + 1));
  await upsertWorkspaceRows(db.pool, rows);

  const port = await freePort();
  const cli = spawnCli(['agentk-states', '--source', 'snapshot', '--follow', '--batch-size', '25', '--metrics-port', String(port),
    '--brokers', brokers, '--topic', topic, '--group', topic, '--database-url', db.url]);
  try {
    const phases = new Set<string>();
    const reasons = new Set<string>();
    await waitFor(async () => {
      const text = await probe(port, '/metrics');
      if (text === undefined) return false;
      for (const s of samples(text.body, 'rebuild_projection_rebuild_phase')) if (s.value === 1) phases.add(s.labels.phase!);
      const ready = await probe(port, '/readyz');
      if (ready?.status === 503) reasons.add(ready.body.trim());
      return ready?.status === 200;
    }, 60_000);
    expect([...phases]).toContain('building');
    expect(reasons).toContain('rebuilding (building)');
    const text = await scrape(port);
    expect(samples(text, 'rebuild_projection_rebuild_phase')).toEqual([{ labels: { phase: 'switched' }, value: 1 }]);
    expect((await readModel(db.pool)).size).toBe(250);
    // The rebuild wrote those rows; the counters are the follower's, which has had nothing to do.
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'written' })).toBe(0);
    expect(sample(text, 'rebuild_projection_events_total', { outcome: 'applied' })).toBe(0);
  } finally {
    const exited = await stop(cli);
    expect(exited.code, exited.stderr).toBe(0);
  }
});

it('a --metrics-port already in use: exit 1 with one line, before touching the database', async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as AddressInfo;
  try {
    const result = await runCli(['agentk-states', '--follow', '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--database-url', db.url, '--brokers', brokers]);
    expect(result.code).toBe(1);
    expect(logLines(result.stderr)).toEqual([`fatal: could not serve metrics on 127.0.0.1:${port} (--metrics-port, --metrics-host): EADDRINUSE`]);
    const { rows } = await db.pool.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'rebuild_projection'`);
    expect(rows).toEqual([]);
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }
});
