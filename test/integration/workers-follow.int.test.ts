/**
 * `--workers N` with --follow and a replay: the follower's batches generate in worker threads and write
 * exactly GitLab's rows (the expected rows are GitLab's backfill golden, `background_migration/desired_config.json`,
 * not this code's output), as on the main thread; a worker that dies stops the follower with the batch's
 * BatchFailedError naming it, and the batch it held is not committed (no silent stall, nothing half-applied).
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WorkspaceRow } from '../../projections/agentk-states/events.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import { createGenerator } from '../../src/engine/generation/worker-pool.js';
import { runKafkaReplay } from '../../src/engine/kafka-replayer.js';
import type { Logger } from '../../src/ops/logger.js';
import type { Database } from '../../src/sink/postgres/database.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { runCli, spawnCli, waitFor } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { asAvro, asJson, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';
import { backfillGolden, readGitlabFixture, SEED_WORKSPACE } from '../unit/agentk-states/fixtures.js';

// GitLab's backfill spec: agent 1 with only dns_zone set, the seed devfile.
const ctx = useKafkaTestContext({ clientId: 'workers-follow-tests', dnsZone: SEED_WORKSPACE.dnsZone, topicPrefix: 'workspace-events-wfollow', groupPrefix: 'wfollow' });
const SEED_DEVFILE = readGitlabFixture('seed-processed-devfile.yaml');
const N = 150;

/** GitLab's seed workspace under other ids (the golden's placeholders), Running or Stopped at the end. */
function finalRows(): WorkspaceRow[] {
  return Array.from({ length: N }, (_, i) =>
    workspaceRow(i + 1, {
      name: `workspace-${i + 1}`,
      namespace: `workspace_${i + 1}_namespace`,
      cluster_agent_id: SEED_WORKSPACE.clusterAgentId,
      processed_devfile: SEED_DEVFILE,
      desired_state: i % 3 === 0 ? 'Stopped' : 'Running',
    }),
  );
}

/** Each workspace's create in the other desired state, then the update to its final one: both change its row. */
function stream(rows: WorkspaceRow[]): OutgoingMessage[] {
  return rows.flatMap((row) => {
    const other = row.desired_state === 'Running' ? 'Stopped' : 'Running';
    return [asAvro(createdEvent({ ...row, desired_state: other })), asAvro(updatedEvent(row.id, 2, { desired_state: row.desired_state }))];
  });
}

/** The stream in a new topic of `partitions` partitions, and its final rows in GitLab's table. */
async function produceStream(partitions: number): Promise<{ rows: WorkspaceRow[]; messages: OutgoingMessage[] }> {
  const rows = finalRows();
  const messages = stream(rows);
  await createTopic(ctx.kafka, ctx.topic, partitions);
  await produce(ctx.kafka, ctx.topic, messages);
  await upsertWorkspaceRows(ctx.db.pool, rows);
  return { rows, messages };
}

/** What GitLab's backfill golden says each workspace's row holds. */
function goldenModel(rows: WorkspaceRow[]): Map<number, unknown> {
  return new Map(
    rows.map((row) => [row.id, backfillGolden({ workspaceId: row.id, workspaceName: row.name, workspaceNamespace: row.namespace, replicas: row.desired_state === 'Running' ? 1 : 0 })]),
  );
}

async function appliedOffsets(db: Pick<TestDatabase, 'pool'>, topic: string): Promise<number> {
  const { rows: exists } = await db.pool.query(`SELECT to_regclass('rebuild_projection.checkpoints') AS t`);
  if (!exists[0].t) return 0;
  const { rows } = await db.pool.query('SELECT coalesce(sum(next_offset), 0)::int AS n FROM rebuild_projection.checkpoints WHERE topic = $1', [topic]);
  return rows[0].n as number;
}

/** A second GitLab-shaped database like the context's, dropped after `work`. */
async function withSecondDatabase(work: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await createTestDatabase();
  try {
    await insertAgentConfig(db.pool, { cluster_agent_id: SEED_WORKSPACE.clusterAgentId, dns_zone: SEED_WORKSPACE.dnsZone });
    await work(db);
  } finally {
    await db.drop();
  }
}

describe('--workers N with --follow and a replay (Kafka or a file)', () => {
  it("--follow --workers 2 writes GitLab's golden rows, exactly as --follow on the main thread", async () => {
    const { rows, messages } = await produceStream(3);
    const expected = goldenModel(rows);
    await withSecondDatabase(async (other) => {
      await upsertWorkspaceRows(other.pool, rows);
      const threads: number[] = [];
      for (const [db, workers] of [[ctx.db, ['--workers', '2']], [other, []]] as const) {
        const follower = spawnCli(['agentk-states', '--follow', ...workers, '--brokers', ctx.brokers, '--topic', ctx.topic, '--group', `${ctx.group}-${workers.length}`, '--database-url', db.url, '--log-level', 'warn']);
        await waitFor(async () => (await appliedOffsets(db, ctx.topic)) === messages.length);
        // Linux: the process's threads. A worker thread is one more; the default generates on the main thread.
        threads.push(readdirSync(`/proc/${follower.child.pid}/task`).length);
        follower.child.kill('SIGTERM');
        const stopped = await follower.exited;
        expect(stopped.stderr).toBe('');
        expect(stopped.code).toBe(0);
        expect(stopped.stdout).toContain(`agentk-states kafka follow: ${messages.length} events, `);
        expect(await readModel(db.pool)).toEqual(expected);
      }
      expect(threads[0]).toBeGreaterThanOrEqual(threads[1]! + 2);
    });
  });

  it("a replay --from-offset 0 --workers 2 writes GitLab's golden rows", async () => {
    const { rows, messages } = await produceStream(2);
    const replay = await runCli(['agentk-states', '--from-offset', '0', '--workers', '2', '--brokers', ctx.brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', ctx.db.url, '--log-level', 'warn']);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(`agentk-states kafka replay: ${messages.length} events, `);
    expect(await readModel(ctx.db.pool)).toEqual(goldenModel(rows));
  });

  it("a file replay --from-checkpoint --workers 2 writes GitLab's golden rows", async () => {
    const rows = finalRows();
    const messages = rows.flatMap((row) => {
      const other = row.desired_state === 'Running' ? 'Stopped' : 'Running';
      return [asJson(createdEvent({ ...row, desired_state: other })), asJson(updatedEvent(row.id, 2, { desired_state: row.desired_state }))];
    });
    const dir = mkdtempSync(join(tmpdir(), 'workers-follow-'));
    try {
      const path = join(dir, 'events.ndjson');
      writeFileSync(path, messages.map((m) => `${m.value!.toString('utf8')}\n`).join(''));
      await upsertWorkspaceRows(ctx.db.pool, rows);
      const replay = await runCli(['agentk-states', '--source', `file:${path}`, '--from-checkpoint', '--workers', '2', '--database-url', ctx.db.url, '--log-level', 'warn']);
      expect(replay.stderr).toBe('');
      expect(replay.code).toBe(0);
      expect(replay.stdout).toContain(`agentk-states file replay: ${messages.length} events, `);
      expect(await readModel(ctx.db.pool)).toEqual(goldenModel(rows));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a generation worker that dies stops the follower with one error naming it and the batch; its batch is not committed', async () => {
    const rows = finalRows().slice(0, 20);
    await createTopic(ctx.kafka, ctx.topic, 1);
    await produce(ctx.kafka, ctx.topic, stream(rows));
    await upsertWorkspaceRows(ctx.db.pool, rows);
    await migrate(ctx.db.pool);
    const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child: () => log };
    // A worker that exits on its first chunk (as process.exit in a dependency would).
    const generator = createGenerator({ workers: 2, script: new URL('../fixtures/generation-workers/exits.mjs', import.meta.url) });
    const controller = new AbortController();
    try {
      const follow = runKafkaReplay({
        kafka: ctx.kafka,
        db: ctx.db.pool as unknown as Database,
        projection: AGENTK_STATES_PROJECTION,
        topics: [ctx.topic],
        groupId: ctx.group,
        follow: true,
        start: { kind: 'checkpoints' },
        agentConfigMode: 'pinned',
        sink: liveAgentkStates,
        log,
        signal: controller.signal,
        generator,
      });
      // A follower runs until stopped: it must end by itself, well before this, and not hang on the dead worker.
      const timeout = setTimeout(() => controller.abort(), 30_000);
      const error = await follow.then(
        () => undefined,
        (e: unknown) => e,
      );
      clearTimeout(timeout);
      expect(controller.signal.aborted).toBe(false);
      // The batch's BatchFailedError, as kafkajs rethrows it (its message; the CLI prints it as the one fatal line).
      expect(error).toMatchObject({ retriable: false });
      expect((error as Error).message).toMatch(
        new RegExp(`^${ctx.topic}\\[0\\] offsets 0\\.\\.\\d+: GenerationWorkerError: generation worker [12] of 2 exited \\(code 3\\) while generating workspaces \\d+, .*: a bug in generation, not retried$`),
      );
      expect(await appliedOffsets(ctx.db, ctx.topic)).toBe(0);
      expect((await readModel(ctx.db.pool)).size).toBe(0);
    } finally {
      controller.abort();
      await generator.close();
    }
  });
});
