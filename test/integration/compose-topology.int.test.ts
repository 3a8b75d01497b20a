/**
 * docker-compose.yml's topology without Docker (none on this machine or in CI): the same SQL files on a fresh
 * empty database, the same jobs (topic creation with Kafka's own kafka-topics.sh, from the Kafka jars the
 * broker runs on; the export of GitLab's workspaces) and the same rebuilder command and environment, read from
 * the compose file and the Dockerfile, against the jar-based broker. Only addresses and names are swapped for
 * this test's own (database, broker, topic, port; a group of its own on the shared broker), so a compose file
 * that drifts from what works fails here. The jobs then run a second time, as a second `docker compose up`
 * runs them, and must change nothing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { afterEach, beforeAll, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { nodeFlagsOf } from '../../src/cli/bin-flags.js';
import { CLI_PATH, runCli, spawnCli, waitFor } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { freePort, probe, sample, samples, scrape } from '../support/ops-endpoint.js';
import { readModel } from '../support/workspace-events.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const brokers = inject('kafkaBrokers');
const run = promisify(execFile);

const dependsOn = z.record(z.string(), z.object({ condition: z.string() }));
const composeSchema = z.object({
  services: z.object({
    kafka: z.object({ image: z.string(), environment: z.record(z.string(), z.unknown()), healthcheck: z.object({ test: z.array(z.string()) }) }),
    postgres: z.object({ image: z.string(), volumes: z.array(z.string()), healthcheck: z.object({ test: z.array(z.string()) }) }),
    'create-topic': z.object({ image: z.string(), entrypoint: z.array(z.string()), depends_on: dependsOn }),
    'export-events': z.object({ command: z.array(z.string()), environment: z.record(z.string(), z.string()), depends_on: dependsOn }),
    rebuilder: z.object({ command: z.array(z.string()), environment: z.record(z.string(), z.string()), ports: z.array(z.string()), depends_on: dependsOn }),
  }),
});

const compose = composeSchema.parse(yaml.load(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')));
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const { 'create-topic': createTopic, 'export-events': exportJob, rebuilder, postgres, kafka } = compose.services;

/**
 * The Kafka distribution's scripts this test can run from the jars: each is `exec kafka-run-class.sh <class> "$@"`,
 * i.e. `java -cp <the distribution's libs> <class>` with the same arguments.
 */
const kafkaToolClasses: Record<string, string> = { '/opt/kafka/bin/kafka-topics.sh': 'org.apache.kafka.tools.TopicCommand' };
const kafkaLib = join(repoRoot, '.cache/kafka/lib');

/** The value after `flag` in `args`. */
function argValue(args: string[], flag: string): string {
  const at = args.indexOf(flag);
  expect(at, `${args.join(' ')} has ${flag}`).toBeGreaterThanOrEqual(0);
  return args[at + 1]!;
}

let db: TestDatabase | undefined;
let ownTopic: string | undefined;
beforeAll(async () => {
  // The jars the broker runs on (scripts/kafka-broker.sh fetches them once into .cache/kafka/lib).
  await run('bash', [join(repoRoot, 'scripts/kafka-broker.sh'), 'fetch'], { timeout: 600_000 });
});
afterEach(async () => {
  await db?.drop();
  db = undefined;
  if (ownTopic !== undefined) {
    const admin = createTestKafka(brokers, 'compose-topology-cleanup').admin();
    await admin.connect();
    try {
      // Only if it got as far as the topic tool, so that an earlier failure stays the one reported.
      if ((await admin.listTopics()).includes(ownTopic)) await admin.deleteTopics({ topics: [ownTopic] });
    } finally {
      await admin.disconnect();
    }
    ownTopic = undefined;
  }
});

it("compose's topology (SQL files, topic and export jobs, rebuilder command and environment) projects the demo workspaces, turns ready, and survives its jobs running again", async () => {
  // What compose runs on, checked against what this test runs on.
  const pinnedKafka = /<kafka\.version>([^<]+)</.exec(readFileSync(join(repoRoot, 'test/kafka/pom.xml'), 'utf8'))?.[1];
  expect(kafka.image).toBe(`apache/kafka:${pinnedKafka}`);
  expect(createTopic.image).toBe(kafka.image);
  expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
  expect(postgres.image).toBe('postgres:16');
  expect(createTopic.depends_on).toEqual({ kafka: { condition: 'service_healthy' } });
  expect(exportJob.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, 'create-topic': { condition: 'service_completed_successfully' } });
  expect(rebuilder.depends_on).toMatchObject({ 'export-events': { condition: 'service_completed_successfully' } });
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[];
  expect(entrypoint).toEqual(['node', ...nodeFlagsOf(CLI_PATH), relative(repoRoot, CLI_PATH)]);
  expect(/^WORKDIR (.*)$/m.exec(dockerfile.split(/^FROM /m).at(-1)!)?.[1]).toBe('/app');
  const metricsPort = argValue(rebuilder.command, '--metrics-port');
  expect(rebuilder.ports).toContain(`127.0.0.1:${metricsPort}:${metricsPort}`);
  expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${metricsPort}$`, 'm'));

  // The names and addresses compose uses, and this test's own.
  const [tool, ...toolArgs] = createTopic.entrypoint;
  const toolClass = kafkaToolClasses[tool!];
  expect(toolClass, `a Kafka tool this test can run: ${tool}`).toBeDefined();
  const topic = argValue(rebuilder.command, '--topic');
  expect(argValue(toolArgs, '--topic')).toBe(topic);
  expect(argValue(exportJob.command, '--topic')).toBe(topic);
  expect(argValue(toolArgs, '--bootstrap-server')).toBe(rebuilder.environment.KAFKA_BROKERS);
  expect(exportJob.environment).toEqual(rebuilder.environment);
  db = await createTestDatabase({ empty: true });
  ownTopic = `compose-${randomBytes(4).toString('hex')}`;
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

  const admin = createTestKafka(brokers, 'compose-topology').admin();
  await admin.connect();
  let changedId: string | undefined;
  const messagesInTopic = async () => (await admin.fetchTopicOffsets(ownTopic!)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  /** The two one-shot jobs, in compose's order: each must exit 0, or the rebuilder would not start. */
  const runJobs = async () => {
    await run('java', ['-Xmx256m', '-XX:TieredStopAtLevel=1', `-Dlog4j2.configurationFile=file:${join(repoRoot, 'test/kafka/log4j2.properties')}`, '-cp', `${kafkaLib}/*`, toolClass!, ...toolArgs.map(swapped)], { timeout: 60_000 });
    const exported = await runCli(exportJob.command.map(swapped), swappedEnv(exportJob.environment));
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(new RegExp(`^agentk-states export-events: ${workspaces} workspaces from a snapshot at \\S+ to topic ${ownTopic} \\(json\\): ${workspaces} events in `, 'm'));
  };
  try {
    await runJobs();
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [ownTopic] })).topics;
    expect(metadata!.partitions).toHaveLength(Number(argValue(toolArgs, '--partitions')));
    expect(await messagesInTopic()).toBe(workspaces);

    // rebuilder: the image's entrypoint with compose's command; a group of its own, as the broker is shared.
    const cli = spawnCli([...rebuilder.command.map(swapped), '--group', ownTopic], swappedEnv(rebuilder.environment));
    try {
      await waitFor(async () => (await probe(Number(ownPort), '/readyz'))?.status === 200, 60_000);
      await waitFor(async () => (await readModel(db!.pool)).size === workspaces, 30_000);
      expect(sample(await scrape(Number(ownPort)), 'rebuild_projection_rows_total', { result: 'written' })).toBe(workspaces);
      const projected = await readModel(db.pool);

      // A second `docker compose up`: the topic exists (--if-not-exists), the export appends a second create
      // per workspace, at version 1 like the first, which the consumer folds without writing a row, even for
      // a workspace changed in GitLab's table since (the re-export is no way to follow GitLab).
      const changed = await db.pool.query<{ id: string }>(
        "UPDATE workspaces SET desired_state = 'Stopped' WHERE id = (SELECT min(id) FROM workspaces WHERE desired_state = 'Running') RETURNING id",
      );
      expect(changed.rows).toHaveLength(1);
      changedId = changed.rows[0]!.id;
      await runJobs();
      expect(await messagesInTopic()).toBe(2 * workspaces);
      await waitFor(async () => sample(await scrape(Number(ownPort)), 'rebuild_projection_events_total', { outcome: 'applied' }) === 2 * workspaces, 30_000);
      const metrics = await scrape(Number(ownPort));
      expect(sample(metrics, 'rebuild_projection_rows_total', { result: 'written' })).toBe(workspaces);
      expect(samples(metrics, 'rebuild_projection_dead_letters_total')).toEqual([]);
      expect(await readModel(db.pool)).toEqual(projected);
      expect((await probe(Number(ownPort), '/readyz'))?.status).toBe(200);
    } finally {
      cli.child.kill('SIGTERM');
      const exited = await cli.exited;
      expect(exited.code, exited.stderr).toBe(0);
    }
  } finally {
    await admin.disconnect();
  }
  // The change is real (the projection now differs from GitLab's table) until it is undone; and the rows are
  // what GitLab's generator makes of the demo workspaces.
  const drifted = await runCli(['agentk-states', '--verify', '--database-url', db.url]);
  expect(drifted.code, drifted.stdout + drifted.stderr).toBe(2);
  expect(drifted.stdout).toContain(`${workspaces} workspaces, ${workspaces - 1} equal, 1 differing, 0 missing, 0 extra, 0 failed`);
  expect(drifted.stdout).toMatch(new RegExp(`^  workspace ${changedId} differing`, 'm'));
  await db.pool.query("UPDATE workspaces SET desired_state = 'Running' WHERE id = $1", [changedId]);
  const verified = await runCli(['agentk-states', '--verify', '--database-url', db.url]);
  expect(verified.code, verified.stdout + verified.stderr).toBe(0);
});
