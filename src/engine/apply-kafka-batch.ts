/**
 * Applies one fetched batch of one topic partition, in ONE PostgreSQL transaction: the folded states, the
 * read-model rows, the dead letters and the partition's checkpoint commit together or not at all. This is
 * what makes the effect exactly-once although Kafka delivers at least once: a message below the checkpoint
 * was already applied and is skipped; a crash before COMMIT leaves the checkpoint where it was.
 */
import type pg from 'pg';
import { foldEvent, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import { projectAgentkState } from '../../projections/agentk-states/projection.js';
import { AgentConfigResolver, type AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { DecodeResult, WorkspaceMessage } from '../events/decode.js';
import { lockCheckpoint, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { excerpt, type DeadLetter } from '../sink/postgres/dead-letters.js';
import { lockProjectionShared } from '../sink/postgres/projection-locks.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { loadFolds, saveFolds } from '../sink/postgres/workspace-states.js';
import { loadProjectPaths } from '../gitlab/project-paths.js';
import { failureToDeadLetter, writeProjectedBatch, type BatchCounts, type ProjectedBatch } from './workspace-batch.js';

export const KAFKA_SOURCE = 'kafka';

export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: readonly WorkspaceMessage[];
}

export interface BatchDeps {
  /** Checkpoint and fold namespace (the projection name, or a shadow rebuild's). */
  projection: string;
  decode: (message: WorkspaceMessage) => DecodeResult;
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
}

export interface AppliedBatch extends BatchCounts {
  /** Messages at or past the checkpoint that this batch applied (including dead-lettered ones). */
  consumed: number;
  /** Messages below the checkpoint: already applied by an earlier delivery. */
  skipped: number;
  deleted: number;
  parked: number;
  /** The partition's checkpoint after the batch; undefined when nothing was applied. */
  nextOffset: string | undefined;
}

/** The raw message as text for a dead letter: UTF-8 when it is text, else base64. */
function rawExcerpt(value: Buffer | null): string | undefined {
  if (value === null) return undefined;
  const head = value.subarray(0, 4096);
  const text = head.toString('utf8');
  return excerpt(text.includes('\uFFFD') || /[\u0000-\u0008]/.test(text) ? `base64:${head.toString('base64')}` : text);
}

export async function applyKafkaBatch(client: pg.ClientBase, batch: PartitionBatch, deps: BatchDeps): Promise<AppliedBatch> {
  const { topic, partition } = batch;
  const result: AppliedBatch = { consumed: 0, skipped: 0, deleted: 0, parked: 0, written: 0, unchanged: 0, failed: 0, nextOffset: undefined };
  // Shared with other batches, exclusive against a rebuild's switch (projection-locks.ts).
  await lockProjectionShared(client, deps.projection);
  const checkpoint = await lockCheckpoint(client, deps.projection, topic, partition);
  const fresh = checkpoint === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) >= BigInt(checkpoint));
  result.skipped = batch.messages.length - fresh.length;
  if (fresh.length === 0) return result;

  const deadLetters: DeadLetter[] = [];
  const decoded: { message: WorkspaceMessage; event: Extract<DecodeResult, { ok: true }>['event'] }[] = [];
  for (const message of fresh) {
    const outcome = deps.decode(message);
    if (outcome.ok) {
      decoded.push({ message, event: outcome.event });
      continue;
    }
    const { error } = outcome;
    deadLetters.push({
      workspaceId: error.workspaceId,
      source: KAFKA_SOURCE,
      badMessage: true,
      kafka: { topic, partition, offset: message.offset, key: message.key?.toString('utf8') ?? null },
      errorKind: error.reason,
      errorPath: error.path,
      message: error.message,
      inputExcerpt: rawExcerpt(message.value),
    });
  }

  const folds = await loadFolds(client, deps.projection, decoded.map((d) => d.event.workspaceId));
  const touched = new Map<number, WorkspaceFold>();
  const lastMessage = new Map<number, WorkspaceMessage>();
  for (const { message, event } of decoded) {
    const before = touched.get(event.workspaceId) ?? folds.get(event.workspaceId)!;
    const { fold, outcome } = foldEvent(before, event, { topic, partition, offset: message.offset });
    if (outcome === 'parked') result.parked++;
    touched.set(event.workspaceId, fold);
    lastMessage.set(event.workspaceId, message);
  }
  await saveFolds(client, deps.projection, touched);

  const deletedIds = [...touched].filter(([, fold]) => fold.state?.deleted).map(([id]) => id);
  result.deleted = await deps.sink.delete(client, deletedIds);
  const projected = await projectFolds(client, touched, lastMessage, deps);
  projected.deadLetters.unshift(...deadLetters);
  const counts = await writeProjectedBatch(client, deps.sink, projected, KAFKA_SOURCE);

  const nextOffset = (BigInt(fresh[fresh.length - 1]!.offset) + 1n).toString();
  await saveCheckpoints(client, deps.projection, [{ topic, partition, nextOffset }]);
  return { ...result, ...counts, consumed: fresh.length, nextOffset };
}

/**
 * Regenerates the row of every live workspace the batch touched, even when its events were stale: a replay
 * then also refreshes rows after a generator change, and the upsert skips rows that did not change.
 */
async function projectFolds(
  client: pg.ClientBase,
  folds: ReadonlyMap<number, WorkspaceFold>,
  lastMessage: ReadonlyMap<number, WorkspaceMessage>,
  deps: BatchDeps,
): Promise<ProjectedBatch> {
  const live = [...folds].flatMap(([id, fold]) =>
    fold.state && !fold.state.deleted && fold.state.workspace ? [{ id, state: fold.state, workspace: fold.state.workspace }] : [],
  );
  const resolver = new AgentConfigResolver(client, deps.agentConfigMode);
  await resolver.preload(live.filter((w) => w.state.agentConfig === null).map((w) => w.workspace.cluster_agent_id));
  const projectPaths = await loadProjectPaths(client, live.map((w) => w.workspace.project_id));
  const batch: ProjectedBatch = { rows: [], deadLetters: [] };
  for (const { id, state, workspace } of live) {
    const message = lastMessage.get(id)!;
    const position = { topic: message.topic, partition: message.partition, offset: message.offset, key: message.key?.toString('utf8') ?? null };
    const agentConfig = state.agentConfig
      ? { ok: true as const, config: state.agentConfig }
      : resolver.resolve(workspace.cluster_agent_id, workspace.workspaces_agent_config_version);
    if (!agentConfig.ok) {
      const { kind, path, message: detail } = agentConfig.failure;
      batch.deadLetters.push({ ...failureToDeadLetter({ workspaceId: id, kind, path, message: `workspace ${id}: ${detail}` }, KAFKA_SOURCE, undefined), kafka: position });
      continue;
    }
    const projected = projectAgentkState(
      { workspace, agentConfig: agentConfig.config, projectPath: projectPaths.get(workspace.project_id) },
      workspace.project_id,
    );
    if (projected.ok) batch.rows.push(projected.row);
    else batch.deadLetters.push({ ...failureToDeadLetter(projected.failure, KAFKA_SOURCE, workspace.processed_devfile), kafka: position });
  }
  return batch;
}
