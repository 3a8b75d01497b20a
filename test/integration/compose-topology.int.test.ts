/**
 * docker-compose.yml's topology without Docker (none on this machine or in CI): the same SQL files on a fresh
 * empty database, the same demo job and the same rebuilder command and environment, read from the compose
 * file and the Dockerfile, against the jar-based broker. Only addresses and names are swapped for this test's
 * own (database, broker, topic, port; a group of its own on the shared broker), so a compose file that drifts
 * from what works fails here.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { afterEach, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { CLI_PATH, runCli, spawnCli, waitFor } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { freePort, probe, sample, scrape } from '../support/ops-endpoint.js';
import { readModel } from '../support/workspace-events.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const brokers = inject('kafkaBrokers');

const dependsOn = z.record(z.string(), z.object({ condition: z.string() }));
const composeSchema = z.object({
  services: z.object({
    kafka: z.object({ image: z.string(), environment: z.record(z.string(), z.unknown()), healthcheck: z.object({ test: z.array(z.string()) }) }),
    postgres: z.object({ image: z.string(), volumes: z.array(z.string()), healthcheck: z.object({ test: z.array(z.string()) }) }),
    'demo-events': z.object({ entrypoint: z.array(z.string()), environment: z.record(z.string(), z.string()), depends_on: dependsOn }),
    rebuilder: z.object({ command: z.array(z.string()), environment: z.record(z.string(), z.string()), ports: z.array(z.string()), depends_on: dependsOn }),
  }),
});

const compose = composeSchema.parse(yaml.load(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')));
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const { 'demo-events': job, rebuilder, postgres, kafka } = compose.services;

/** The value after `flag` in the rebuilder's command. */
function commandValue(flag: string): string {
  const at = rebuilder.command.indexOf(flag);
  expect(at, `rebuilder command has ${flag}`).toBeGreaterThanOrEqual(0);
  return rebuilder.command[at + 1]!;
}

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

it("compose's topology (SQL files, demo job, rebuilder command and environment) projects the demo workspaces and turns ready", async () => {
  // What compose runs on, checked against what this test runs on.
  const pinnedKafka = /<kafka\.version>([^<]+)</.exec(readFileSync(join(repoRoot, 'test/kafka/pom.xml'), 'utf8'))?.[1];
  expect(kafka.image).toBe(`apache/kafka:${pinnedKafka}`);
  expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
  expect(postgres.image).toBe('postgres:16');
  expect(job.depends_on).toEqual({ kafka: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } });
  expect(rebuilder.depends_on).toMatchObject({ 'demo-events': { condition: 'service_completed_successfully' } });
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[];
  expect(entrypoint).toEqual(['node', relative(repoRoot, CLI_PATH)]);
  expect(/^WORKDIR (.*)$/m.exec(dockerfile.split(/^FROM /m).at(-1)!)?.[1]).toBe('/app');
  const metricsPort = commandValue('--metrics-port');
  expect(rebuilder.ports).toContain(`127.0.0.1:${metricsPort}:${metricsPort}`);
  expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${metricsPort}$`, 'm'));

  // The names and addresses compose uses, and this test's own.
  const topic = commandValue('--topic');
  expect(job.environment.KAFKA_TOPIC).toBe(topic);
  expect(job.environment.DATABASE_URL).toBe(rebuilder.environment.DATABASE_URL);
  expect(job.environment.KAFKA_BROKERS).toBe(rebuilder.environment.KAFKA_BROKERS);
  db = await createTestDatabase({ empty: true });
  const ownTopic = `compose-${randomBytes(4).toString('hex')}`;
  const ownPort = String(await freePort());
  const swap = new Map([
    [rebuilder.environment.DATABASE_URL!, db.url],
    [rebuilder.environment.KAFKA_BROKERS!, brokers],
    [topic, ownTopic],
    [metricsPort, ownPort],
  ]);
  const swapped = (value: string) => swap.get(value) ?? value;
  const swappedEnv = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, swapped(v)]));

  // postgres: /docker-entrypoint-initdb.d runs its files in name order on an empty database.
  const initFiles = postgres.volumes
    .map((volume) => volume.split(':'))
    .filter(([, target]) => target!.startsWith('/docker-entrypoint-initdb.d/'))
    .sort((a, b) => a[1]!.localeCompare(b[1]!))
    .map(([source]) => join(repoRoot, source!));
  expect(initFiles).toHaveLength(3);
  for (const file of initFiles) await db.pool.query(readFileSync(file, 'utf8'));
  const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM workspaces');
  const workspaces = Number(rows[0]!.n);
  expect(workspaces).toBe(20);

  // demo-events: the image's files are the repository's built ones (WORKDIR /app).
  expect(job.entrypoint[0]).toBe('node');
  const produced = await promisify(execFile)(process.execPath, [join(repoRoot, job.entrypoint[1]!)], {
    env: { PATH: process.env.PATH ?? '', ...swappedEnv(job.environment) },
    timeout: 60_000,
  });
  expect(produced.stdout).toBe(`published 20 workspace-created events to ${ownTopic}\n`);

  // rebuilder: the image's entrypoint with compose's command; a group of its own, as the broker is shared.
  const cli = spawnCli([...rebuilder.command.map(swapped), '--group', ownTopic], swappedEnv(rebuilder.environment));
  try {
    await waitFor(async () => (await probe(Number(ownPort), '/readyz'))?.status === 200, 60_000);
    await waitFor(async () => (await readModel(db!.pool)).size === workspaces, 30_000);
    expect(sample(await scrape(Number(ownPort)), 'rebuild_projection_rows_total', { result: 'written' })).toBe(workspaces);
  } finally {
    cli.child.kill('SIGTERM');
    const exited = await cli.exited;
    expect(exited.code, exited.stderr).toBe(0);
  }
  // And the rows are what GitLab's generator makes of the demo workspaces.
  const verified = await runCli(['agentk-states', '--verify', '--database-url', db.url]);
  expect(verified.code, verified.stdout + verified.stderr).toBe(0);
});
