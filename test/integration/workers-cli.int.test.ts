/**
 * `--workers N` through the CLI: a rebuild generating in two worker threads writes exactly the rows (and
 * dead letters) of one generating on the main thread, and the process still exits as soon as it is done.
 */
import { describe, expect, it } from 'vitest';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { spawnCli, waitFor } from '../support/cli.js';
import { createTestDatabase, readFixture, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { fatalMessages } from '../support/log-lines.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { asAvro, createdEvent, createTopic, produce, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const DNS_ZONE = 'workers.example';
const ctx = useKafkaTestContext({ clientId: 'workers-tests', dnsZone: DNS_ZONE, topicPrefix: 'workspace-events-workers', groupPrefix: 'workers' });

const DEVFILES = [
  readFixture('gitlab/seed-processed-devfile.yaml'),
  readFixture('gitlab/background_migration/processed_devfile.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_with_poststart_event.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_with_legacy_poststart_event.yaml'),
  readFixture('gitlab/main_integration/processed_devfile_without_poststart_event.yaml'),
];
const N = 400;

/** Workspaces of five devfiles, both desired states, and every 50th with a devfile that is not YAML (a dead letter). */
function workspaces(n = N): WorkspaceRow[] {
  return Array.from({ length: n }, (_, i) =>
    workspaceRow(i + 1, {
      processed_devfile: (i + 1) % 50 === 0 ? 'schemaVersion: 2.2.0\ncomponents: [unclosed\n' : DEVFILES[i % DEVFILES.length]!,
      desired_state: i % 3 === 0 ? 'Stopped' : 'Running',
    }),
  );
}

/** The CLI's rebuild, timed from its summary line on stdout to its exit. */
async function rebuild(databaseUrl: string, ...args: string[]): Promise<{ code: number | null; stdout: string; exitAfterSummaryMs: number }> {
  const cli = spawnCli(['agentk-states', '--database-url', databaseUrl, '--batch-size', '60', '--log-level', 'warn', ...args]);
  let summaryAt: number | undefined;
  cli.child.stdout!.on('data', (chunk: Buffer) => {
    if (summaryAt === undefined && chunk.toString().includes('agentk-states rebuild #')) summaryAt = performance.now();
  });
  const { code, stdout, stderr } = await cli.exited;
  expect(stderr).toBe('');
  return { code, stdout, exitAfterSummaryMs: performance.now() - (summaryAt ?? Number.NaN) };
}

interface Outcome {
  rows: { workspace_id: string; project_id: string; desired_config: string }[];
  deadLetters: unknown[];
}

/** The live table (desired_config as jsonb's own text: equal texts are equal jsonb values) and the dead letters. */
async function outcome(db: Pick<TestDatabase, 'pool'>): Promise<Outcome> {
  const rows = await db.pool.query('SELECT workspace_id::text, project_id::text, desired_config::jsonb::text AS desired_config FROM workspace_agentk_states ORDER BY workspace_id');
  const letters = await db.pool.query('SELECT workspace_id::text, source, error_kind, error_path, message FROM rebuild_projection.dead_letters ORDER BY workspace_id');
  return { rows: rows.rows, deadLetters: letters.rows };
}

/** A second GitLab-shaped database like the context's, dropped after `work`. */
async function withSecondDatabase(work: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await createTestDatabase();
  try {
    await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: DNS_ZONE });
    await work(db);
  } finally {
    await db.drop();
  }
}

/** Every workspace has a row but every 50th, which is a dead letter; the summary said so. */
function expectComplete(result: { code: number | null; stdout: string }, one: Outcome): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toMatch(new RegExp(`: ${N} workspaces, ${N - N / 50} written, .* ${N / 50} failed \\(dead letters\\)`));
  expect(one.rows).toHaveLength(N - N / 50);
  expect(one.deadLetters).toHaveLength(N / 50);
}

describe('--workers N', () => {
  it('a snapshot rebuild with --workers 2 writes exactly the rows and dead letters of --workers 1, and exits promptly; --verify --workers 2 finds it clean', async () => {
    const rows = workspaces();
    await upsertWorkspaceRows(ctx.db.pool, rows);
    await withSecondDatabase(async (other) => {
      await upsertWorkspaceRows(other.pool, rows);
      const single = await rebuild(ctx.db.url, '--source', 'snapshot', '--workers', '1');
      const pooled = await rebuild(other.url, '--source', 'snapshot', '--workers', '2');
      const one = await outcome(ctx.db);
      expectComplete(single, one);
      expectComplete(pooled, one);
      expect(await outcome(other)).toEqual(one);
      // A process kept alive by a worker would wait for main.ts's 2 s exit timer.
      expect(pooled.exitAfterSummaryMs).toBeLessThan(1_500);
      const verify = spawnCli(['agentk-states', '--verify', '--workers', '2', '--database-url', other.url]);
      const verified = await verify.exited;
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain(`${N - N / 50} equal`);
    });
  });

  it('a Kafka rebuild with --workers 2 writes exactly the rows and dead letters of --workers 1, and exits promptly', async () => {
    const rows = workspaces();
    await createTopic(ctx.kafka, ctx.topic, 3);
    // Each workspace: its create, then an update that flips its desired state (the final rows are what `workspaces` holds).
    const messages = rows.flatMap((row) => {
      const flipped = row.desired_state === 'Running' ? 'Stopped' : 'Running';
      return [asAvro(createdEvent({ ...row, desired_state: flipped })), asAvro(updatedEvent(row.id, 2, { desired_state: row.desired_state }))];
    });
    await produce(ctx.kafka, ctx.topic, messages);
    await upsertWorkspaceRows(ctx.db.pool, rows);
    await withSecondDatabase(async (other) => {
      await upsertWorkspaceRows(other.pool, rows);
      const kafka = ['--brokers', ctx.brokers, '--topic', ctx.topic, '--group', ctx.group];
      const single = await rebuild(ctx.db.url, ...kafka, '--workers', '1');
      const pooled = await rebuild(other.url, ...kafka, '--workers', '2');
      const one = await outcome(ctx.db);
      expectComplete(single, one);
      expectComplete(pooled, one);
      expect(await outcome(other)).toEqual(one);
      expect(pooled.exitAfterSummaryMs).toBeLessThan(1_500);
    });
  });

  it('SIGTERM during a rebuild with --workers 2: it stops after the batch in flight, long before --shutdown-timeout, and the next run resumes it', async () => {
    const n = 1_200;
    await upsertWorkspaceRows(ctx.db.pool, workspaces(n));
    const args = ['agentk-states', '--source', 'snapshot', '--workers', '2', '--batch-size', '10', '--database-url', ctx.db.url];
    const cli = spawnCli(args);
    // Rows written (into the shadow, or straight into an empty live table): the build is under way.
    await waitFor(async () => {
      const { rows } = await ctx.db.pool.query(
        `SELECT (SELECT count(*) FROM rebuild_projection.shadow_agentk_states) + (SELECT count(*) FROM workspace_agentk_states) AS n`,
      );
      return Number(rows[0].n) > 0;
    });
    const signalled = performance.now();
    cli.child.kill('SIGTERM');
    const stopped = await cli.exited;
    expect(performance.now() - signalled).toBeLessThan(10_000);
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(fatalMessages(stopped.stderr)).toEqual(['rebuild #1 interrupted before its switch; run the same command again to resume it']);
    const resumed = await rebuild(ctx.db.url, '--source', 'snapshot', '--workers', '2');
    expect(resumed.code).toBe(2);
    expect(resumed.stdout).toMatch(new RegExp(`rebuild #1 from snapshot \\(resumed\\): ${n} workspaces`));
    expect((await outcome(ctx.db)).rows).toHaveLength(n - n / 50);
  });
});
