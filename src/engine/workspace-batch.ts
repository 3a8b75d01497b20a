/**
 * One batch of workspaces through the projection and into PostgreSQL, in one transaction: rows upserted,
 * failures dead-lettered, earlier dead letters of now-healthy workspaces cleared. Shared by every source.
 */
import type { Session } from '../sink/postgres/database.js';
import { AGENTK_STATES_PROJECTION, type AgentkStateRow, type WorkspaceFailure } from '../../projections/agentk-states/projection.js';
import { clearDeadLetters, recordDeadLetters, type DeadLetter } from '../sink/postgres/dead-letters.js';
import type { IdRange, RowSink } from '../sink/postgres/row-sink.js';

export interface BatchCounts {
  written: number;
  unchanged: number;
  failed: number;
}

/** What a batch wrote, with the error kind of each dead letter it recorded (for metrics). */
export interface WrittenBatch extends BatchCounts {
  deadLetterKinds: string[];
}

export interface ProjectedBatch {
  rows: AgentkStateRow[];
  deadLetters: DeadLetter[];
  /**
   * The workspaces of these rows that may hold a workspace letter to clear, when the caller read them under
   * the workspaces' locks (readBatchFolds' `failed`); undefined: any may. A follow batch whose workspaces
   * have none skips the DELETE (one statement per batch).
   */
  lettered?: ReadonlySet<number> | undefined;
}

/** Of these workspaces, those that may hold a workspace letter to clear (`lettered` undefined: any may). */
export function mayHoldLetters(workspaceIds: readonly number[], lettered: ReadonlySet<number> | undefined): number[] {
  return lettered === undefined ? [...workspaceIds] : workspaceIds.filter((id) => lettered.has(id));
}

/** Turns a projection failure into a dead letter from `source`, with a bounded copy of the input. */
export function failureToDeadLetter(failure: WorkspaceFailure, source: string, input: string | null | undefined): DeadLetter {
  return {
    workspaceId: failure.workspaceId,
    source,
    errorKind: failure.kind,
    errorPath: failure.path,
    message: failure.message,
    inputExcerpt: input ?? undefined,
  };
}

/**
 * Writes a projected batch inside the caller's transaction. `positions`: where each workspace's latest
 * event was read (Kafka), recorded on the letters this writes. `range`: the batch is every workspace of these
 * ids (a page of a rebuild; see IdRange).
 */
export async function writeProjectedBatch(
  client: Session,
  sink: RowSink,
  batch: ProjectedBatch,
  source: string,
  positions: ReadonlyMap<number, NonNullable<DeadLetter['kafka']>> = new Map(),
  range?: IdRange,
): Promise<WrittenBatch> {
  const upsert = await sink.upsert(client, batch.rows, range);
  const missing = new Set(upsert.missingWorkspaceIds);
  const deadLetters = [
    ...batch.deadLetters,
    ...upsert.missingWorkspaceIds.map(
      (workspaceId): DeadLetter => ({
        workspaceId,
        source,
        errorKind: 'workspace_missing_in_target',
        errorPath: undefined,
        message: `workspace ${workspaceId}: no such row in the target database's workspaces table, so no workspace_agentk_states row can reference it`,
        inputExcerpt: undefined,
        kafka: positions.get(workspaceId),
      }),
    ),
  ];
  await recordDeadLetters(client, AGENTK_STATES_PROJECTION, deadLetters);
  const generated = batch.rows.filter((row) => !missing.has(row.workspaceId)).map((row) => row.workspaceId);
  await clearDeadLetters(client, AGENTK_STATES_PROJECTION, mayHoldLetters(generated, batch.lettered));
  return { written: upsert.written, unchanged: upsert.unchanged, failed: deadLetters.length, deadLetterKinds: deadLetters.map((l) => l.errorKind) };
}
