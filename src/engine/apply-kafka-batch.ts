/**
 * Applies one fetched batch of one topic partition, in ONE PostgreSQL transaction: the folded states, the
 * read-model rows, the dead letters and the partition's checkpoint commit together or not at all. This is
 * what makes the effect exactly-once although Kafka delivers at least once: a message below the checkpoint
 * was already applied and is skipped; a crash before COMMIT leaves the checkpoint where it was.
 *
 * Sequenced dead letters (README, "Dead letters"). A bad message whose workspace is known loses an event of
 * that workspace, so the workspace's later messages are HELD (held-events.ts, with their bytes) instead of
 * folded out of order; the partition's checkpoint moves on, so every other workspace keeps flowing.
 * --retry-dead-letters (dead-letter-retry.ts) decodes the bad message again and releases them, through
 * foldEvents/projectTouched below. A message at or below the offset its workspace has folded on its
 * partition was applied already (a replay after a release or a purge): it is neither held nor lettered again.
 */
import type { Session } from '../sink/postgres/database.js';
import type { WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { DecodeResult, WorkspaceMessage } from '../events/decode.js';
import type { Checkpoint } from '../sink/postgres/checkpoints.js';
import { clearDeadLetters, recordDeadLetters, type DeadLetter } from '../sink/postgres/dead-letters.js';
import { holdEvents, type HeldEvent } from '../sink/postgres/held-events.js';
import { lockFolds } from '../sink/postgres/projection-locks.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { readBatchFolds, saveFolds } from '../sink/postgres/workspace-states.js';
import { devfileWorkspaces, foldAll, planBatch, workspaceOf, type FoldedEvents, type PositionedEvent } from './plan-batch.js';
import { KAFKA_SOURCE, projectFolds } from './project-folds.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import { mayHoldLetters, writeProjectedBatch, type WrittenBatch } from './workspace-batch.js';
import type { Generator } from './generation/generator.js';
import { partitionKey } from '../sources/kafka/kafka-client.js';

export { KAFKA_SOURCE };

export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: readonly WorkspaceMessage[];
  /** The messages' decode results, in order, when the caller decoded them already (batch-loop.ts). */
  decoded?: readonly DecodeResult[] | undefined;
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
  /** Where the batch's rows are generated (default: this thread). */
  generator?: Generator | undefined;
}

export interface AppliedBatch extends WrittenBatch {
  /** Messages at or past the checkpoint that this batch applied (including dead-lettered ones). */
  consumed: number;
  /** Messages below the checkpoint: already applied by an earlier delivery. */
  skipped: number;
  deleted: number;
  parked: number;
  /** Messages held behind their workspace's bad message (sequenced dead letters). */
  held: number;
  /** Bad messages this batch dead-lettered (`failed` also counts workspaces whose generation failed). */
  badMessages: number;
  /** The partition's checkpoint after the batch; undefined when nothing was applied. */
  nextOffset: string | undefined;
}

/**
 * Locks and loads (the locks, then the checkpoint with the folds: two statements), plans (plan-batch.ts, pure), then writes the
 * plan: held events, folds with the checkpoint, deleted rows, generated rows and letters.
 */
export async function applyKafkaBatch(client: Session, batch: PartitionBatch, deps: BatchDeps): Promise<AppliedBatch> {
  return (await applyKafkaBatches(client, [batch], deps))[0]!;
}

/**
 * Several partitions' batches in one transaction (batch-loop.ts groups those fetched together): one lock
 * statement for all their workspaces, one read of their folds and every partition's checkpoint, each batch
 * planned as alone, then one write of all the folds with every checkpoint, one generation and one write of
 * the rows and letters. Their workspaces must be disjoint (a workspace's events are one partition's) and
 * their partitions distinct, so each plan is what it would be alone. The rows' counts (written, unchanged,
 * failed, and deleted) are the first applied batch's.
 */
export async function applyKafkaBatches(client: Session, batches: readonly PartitionBatch[], deps: BatchDeps): Promise<AppliedBatch[]> {
  // Each is planned against the checkpoint read before any is saved, and saved in one upsert.
  if (new Set(batches.map(({ topic, partition }) => partitionKey(topic, partition))).size < batches.length) {
    throw new Error(`batches of one partition in one transaction: ${batches.map(({ topic, partition }) => `${topic}[${partition}]`).join(', ')} (a caller bug)`);
  }
  // Decoded before the checkpoints are known: the workspaces' locks come first, with the projection's (shared
  // with other batches, exclusive against a rebuild's switch). A redelivery decodes a few messages for nothing.
  const decodedAll = batches.map((batch) => batch.decoded ?? batch.messages.map((message) => deps.decode(message)));
  const ids = new Set<number>();
  const devfile = new Set<number>();
  for (const decoded of decodedAll) {
    for (const outcome of decoded) {
      const id = workspaceOf(outcome);
      if (id !== undefined) ids.add(id);
    }
    for (const id of devfileWorkspaces(decoded, deps.materialize)) devfile.add(id);
  }
  await lockFolds(client, deps.projection, ids, { projectionShared: true });
  const loaded = await readBatchFolds(client, deps.projection, ids, {
    devfile,
    letters: deps.materialize ? AGENTK_STATES_PROJECTION : undefined,
    checkpoints: batches.map(({ topic, partition }) => ({ topic, partition })),
  });
  const results: AppliedBatch[] = [];
  const folding: Pick<FoldedEvents, 'touched' | 'deleted'> = { touched: new Map(), deleted: [] };
  const lastMessage = new Map<number, WorkspaceMessage>();
  const generate = new Map<number, WorkspaceFold>();
  const holds: HeldEvent[] = [];
  const checkpoints: Checkpoint[] = [];
  const deadLetters: DeadLetter[] = [];
  for (const [index, batch] of batches.entries()) {
    const { topic, partition } = batch;
    const checkpoint = loaded.checkpoints.find((c) => c.topic === topic && c.partition === partition)?.nextOffset;
    const plan = planBatch({ topic, partition, messages: batch.messages, decoded: decodedAll[index]!, ...loaded, checkpoint, materialize: deps.materialize });
    results.push({
      consumed: plan.consumed, skipped: plan.skipped, deleted: 0, parked: plan.folding.parked, held: plan.holds.filter((h) => h.deadLetterKey === null).length,
      badMessages: plan.deadLetters.length, written: 0, unchanged: 0, failed: 0, deadLetterKinds: [], nextOffset: plan.nextOffset,
    });
    if (plan.nextOffset === undefined) continue;
    checkpoints.push({ topic, partition, nextOffset: plan.nextOffset });
    holds.push(...plan.holds);
    for (const [id, fold] of plan.folding.touched) folding.touched.set(id, fold);
    folding.deleted.push(...plan.folding.deleted);
    for (const [id, message] of plan.folding.lastMessage) lastMessage.set(id, message);
    for (const [id, fold] of plan.generate) generate.set(id, fold);
    deadLetters.push(...plan.deadLetters);
  }
  const first = results.find((result) => result.nextOffset !== undefined);
  if (first === undefined) return results;
  await holdEvents(client, deps.projection, holds);
  // The workspace letters were read with the folds when the batches generate (readBatchFolds' `letters`).
  const lettered = deps.materialize ? loaded.failed : undefined;
  first.deleted = await writeFolds(client, deps.projection, folding, loaded.folds, deps.sink, checkpoints, lettered);
  const counts =
    generate.size > 0 ? await projectTouched(client, generate, lastMessage, deps, deadLetters, lettered) : await recordOnly(client, deadLetters);
  Object.assign(first, { written: counts.written, unchanged: counts.unchanged, failed: counts.failed, deadLetterKinds: counts.deadLetterKinds });
  return results;
}

async function recordOnly(client: Session, deadLetters: readonly DeadLetter[]): Promise<WrittenBatch> {
  await recordDeadLetters(client, AGENTK_STATES_PROJECTION, deadLetters);
  return { written: 0, unchanged: 0, failed: deadLetters.length, deadLetterKinds: deadLetters.map((l) => l.errorKind) };
}

/**
 * Folds `events` in order over `folds` (loaded, and so locked, by the caller), saves the folds, deletes the
 * rows of deleted workspaces and their workspace letters. The release of held events (dead-letter-retry.ts).
 */
export async function foldEvents(
  client: Session,
  projection: string,
  events: readonly PositionedEvent[],
  folds: ReadonlyMap<number, WorkspaceFold>,
  sink: RowSink,
): Promise<FoldedEvents> {
  const folding = foldAll(events, folds);
  await writeFolds(client, projection, folding, folds, sink);
  return folding;
}

/**
 * Saves folded events (with the checkpoints, when given) and deletes the deleted workspaces' rows; returns how
 * many existed. `lettered`: the workspaces that may hold a workspace letter (ProjectedBatch.lettered).
 */
async function writeFolds(
  client: Session,
  projection: string,
  folding: Pick<FoldedEvents, 'touched' | 'deleted'>,
  loaded: ReadonlyMap<number, WorkspaceFold>,
  sink: RowSink,
  checkpoints: readonly Checkpoint[] = [],
  lettered?: ReadonlySet<number>,
): Promise<number> {
  await saveFolds(client, projection, folding.touched, loaded, checkpoints);
  if (folding.deleted.length === 0) return 0;
  const deleted = await sink.delete(client, folding.deleted);
  // A deleted workspace needs no row any more: its workspace-level letters (a failed generation, no row in
  // `workspaces`) are moot. Letters of bad messages are keyed by position and stay.
  await clearDeadLetters(client, AGENTK_STATES_PROJECTION, mayHoldLetters(folding.deleted, lettered));
  return deleted;
}

/**
 * Generates the rows of these folds once and writes them with `deadLetters`; the upsert skips rows that did
 * not change. A batch passes only the workspaces its plan generates (plan-batch.ts); a retry its workspace.
 * `lettered`: see ProjectedBatch.lettered.
 */
export async function projectTouched(
  client: Session,
  folds: ReadonlyMap<number, WorkspaceFold>,
  lastMessage: ReadonlyMap<number, WorkspaceMessage>,
  deps: Pick<BatchDeps, 'agentConfigMode' | 'sink' | 'generator'>,
  deadLetters: readonly DeadLetter[],
  lettered?: ReadonlySet<number>,
): Promise<WrittenBatch> {
  const positions = new Map(
    [...lastMessage].map(([id, m]) => [id, { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key?.toString('utf8') ?? null }]),
  );
  const projected = await projectFolds(client, folds, deps.agentConfigMode, positions, deps.generator);
  projected.deadLetters.unshift(...deadLetters);
  projected.lettered = lettered;
  return writeProjectedBatch(client, deps.sink, projected, KAFKA_SOURCE, positions);
}
