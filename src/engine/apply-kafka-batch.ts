/**
 * Applies one fetched batch of one topic partition, in ONE PostgreSQL transaction: the folded states, the
 * read-model rows, the dead letters and the partition's checkpoint commit together or not at all. This is
 * what makes the effect exactly-once although Kafka delivers at least once: a message below the checkpoint
 * was already applied and is skipped; a crash before COMMIT leaves the checkpoint where it was.
 */
import type pg from 'pg';
import { foldEvent, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { DecodeResult, WorkspaceMessage } from '../events/decode.js';
import { lockCheckpoint, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { clearDeadLetters, excerpt, recordDeadLetters, type DeadLetter } from '../sink/postgres/dead-letters.js';
import { lockProjectionShared } from '../sink/postgres/projection-locks.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { loadFolds, saveFolds } from '../sink/postgres/workspace-states.js';
import { KAFKA_SOURCE, projectFolds } from './project-folds.js';
import { AGENTK_STATES_PROJECTION, writeProjectedBatch, type BatchCounts } from './workspace-batch.js';

export { KAFKA_SOURCE };

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
  /**
   * False while a rebuild folds the topic's history: rows are generated once per workspace at the end
   * (materialize-shadow.ts) instead of once per batch that touches it.
   */
  materialize: boolean;
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
  await saveFolds(client, deps.projection, touched, folds);

  const deletedIds = [...touched].filter(([, fold]) => fold.state?.deleted).map(([id]) => id);
  result.deleted = await deps.sink.delete(client, deletedIds);
  // A deleted workspace needs no row any more: its workspace-level letters (a failed generation, no row in
  // `workspaces`) are moot. Letters of bad messages are keyed by position and stay.
  await clearDeadLetters(client, AGENTK_STATES_PROJECTION, deletedIds);
  let counts: BatchCounts;
  if (deps.materialize) {
    // Every live workspace the batch touched is regenerated, even when its events were stale: a replay then
    // also refreshes rows after a generator change, and the upsert skips rows that did not change.
    const positions = new Map(
      [...lastMessage].map(([id, m]) => [id, { topic, partition, offset: m.offset, key: m.key?.toString('utf8') ?? null }]),
    );
    const projected = await projectFolds(client, touched, deps.agentConfigMode, positions);
    projected.deadLetters.unshift(...deadLetters);
    counts = await writeProjectedBatch(client, deps.sink, projected, KAFKA_SOURCE, positions);
  } else {
    await recordDeadLetters(client, AGENTK_STATES_PROJECTION, deadLetters);
    counts = { written: 0, unchanged: 0, failed: deadLetters.length };
  }

  const nextOffset = (BigInt(fresh[fresh.length - 1]!.offset) + 1n).toString();
  await saveCheckpoints(client, deps.projection, [{ topic, partition, nextOffset }]);
  return { ...result, ...counts, consumed: fresh.length, nextOffset };
}
