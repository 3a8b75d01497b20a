/**
 * The snapshot backfill: every workspace of one consistent snapshot of GitLab's `workspaces` table through
 * the projection into `workspace_agentk_states`.
 *
 * Batches in id order through the page pipeline (page-pipeline.ts): the next batches are read and generated
 * while one is written (one transaction on the target); the pipeline's bounds are what bound memory.
 */
import type { Database, Session } from '../sink/postgres/database.js';
import { WorkspaceSnapshot, type SnapshotOptions, type SnapshotRecord } from '../sources/snapshot/snapshot-source.js';
import type { IdRange, RowSink } from '../sink/postgres/row-sink.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { inThreadGenerator, type GenerationJob, type Generator } from './generation/generator.js';
import { runPagePipeline } from './generation/page-pipeline.js';
import {
  failureToDeadLetter,
  writeProjectedBatch,
  type BatchCounts,
  type ProjectedBatch,
} from './workspace-batch.js';

export const SNAPSHOT_SOURCE = 'snapshot';

export interface SnapshotBackfillOptions extends SnapshotOptions {
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  /** Called once the snapshot transaction is open. */
  onSnapshotOpened?: (snapshot: { takenAt: Date; total: number }) => Promise<void>;
  /** Extra writes that must commit with each batch (a rebuild's progress, folded states, shadow pruning). */
  withinBatch?: (client: Session, records: readonly SnapshotRecord[], projected: ProjectedBatch) => Promise<void>;
  /** Called after each committed batch. */
  onProgress?: (progress: { done: number; total: number; counts: BatchCounts }) => void;
  /** Stops after the batch being written has committed (batches read ahead are dropped). */
  signal?: AbortSignal | undefined;
  /** Where rows are generated (default: this thread). */
  generator?: Generator | undefined;
}

export interface BackfillSummary extends BatchCounts {
  total: number;
  elapsedMs: number;
}

export async function projectSnapshotBatch(records: readonly SnapshotRecord[], generator: Generator = inThreadGenerator): Promise<ProjectedBatch> {
  const batch: ProjectedBatch = { rows: [], deadLetters: [] };
  const jobs: GenerationJob[] = [];
  const generated: SnapshotRecord[] = [];
  for (const record of records) {
    const { workspaceId } = record;
    if (!record.workspace.ok) {
      const { path, message } = record.workspace;
      batch.deadLetters.push(
        failureToDeadLetter(
          { workspaceId, kind: 'workspace_row_invalid', path, message: `workspace ${workspaceId}: ${path}: ${message}` },
          SNAPSHOT_SOURCE,
          record.processedDevfile,
        ),
      );
      continue;
    }
    if (!record.agentConfig.ok) {
      const { kind, path, message } = record.agentConfig.failure;
      batch.deadLetters.push(
        failureToDeadLetter({ workspaceId, kind, path, message: `workspace ${workspaceId}: ${message}` }, SNAPSHOT_SOURCE, undefined),
      );
      continue;
    }
    jobs.push({
      input: { workspace: record.workspace.value, agentConfig: record.agentConfig.config, projectPath: record.projectPath },
      projectId: record.projectId,
    });
    generated.push(record);
  }
  const results = await generator.project(jobs);
  results.forEach((result, index) => {
    if (result.ok) batch.rows.push(result.row);
    else batch.deadLetters.push(failureToDeadLetter(result.failure, SNAPSHOT_SOURCE, generated[index]!.processedDevfile));
  });
  return batch;
}

export async function runSnapshotBackfill(
  source: Database,
  target: Database,
  options: SnapshotBackfillOptions,
): Promise<BackfillSummary> {
  const started = performance.now();
  const counts: BatchCounts = { written: 0, unchanged: 0, failed: 0 };
  let done = 0;
  const client = await source.connect();
  // A checked-out client whose connection drops emits 'error'; unheard, that crashes the process. The
  // query in flight (or the next one) rejects with the same error, which is what reports it.
  const onConnectionError = (): void => undefined;
  client.on('error', onConnectionError);
  try {
    const snapshot = await WorkspaceSnapshot.open(client, options);
    await options.onSnapshotOpened?.({ takenAt: snapshot.takenAt, total: snapshot.total });
    try {
      await runPagePipeline(
        snapshotPages(snapshot.batches()),
        {
          generate: (page) => projectSnapshotBatch(page.records, options.generator),
          write: async ({ records, range }, projected) => {
            const batchCounts = await withTransaction(target, async (tx) => {
              const written = await writeProjectedBatch(tx, options.sink, projected, SNAPSHOT_SOURCE, new Map(), range);
              await options.withinBatch?.(tx, records, projected);
              return written;
            });
            counts.written += batchCounts.written;
            counts.unchanged += batchCounts.unchanged;
            counts.failed += batchCounts.failed;
            done += records.length;
            options.onProgress?.({ done, total: snapshot.total, counts: { ...counts } });
          },
        },
        options.signal,
      );
    } finally {
      await snapshot.close().catch(() => undefined);
    }
    return { ...counts, total: snapshot.total, elapsedMs: performance.now() - started };
  } finally {
    client.off('error', onConnectionError);
    client.release();
  }
}

/** The snapshot's batches with their id ranges (it is read in id order, so each batch is every workspace of its range). */
async function* snapshotPages(batches: AsyncIterable<SnapshotRecord[]>): AsyncGenerator<{ records: SnapshotRecord[]; range: IdRange }> {
  let after = 0;
  for await (const records of batches) {
    const range = { after, upTo: Math.max(after, ...records.map((r) => r.workspaceId)) };
    after = range.upTo;
    yield { records, range };
  }
}
