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
import { foldEvent, partitionOf, type EventPosition, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { DecodeResult, WorkspaceMessage } from '../events/decode.js';
import type { WorkspaceEvent } from '../events/workspace-event.js';
import { lockCheckpoint, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { clearDeadLetters, excerpt, messageLetterKey, recordDeadLetters, type DeadLetter } from '../sink/postgres/dead-letters.js';
import { heldWorkspaces, holdEvents, type HeldEvent } from '../sink/postgres/held-events.js';
import { lockProjectionShared } from '../sink/postgres/projection-locks.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { loadFolds, saveFolds } from '../sink/postgres/workspace-states.js';
import { KAFKA_SOURCE, projectFolds } from './project-folds.js';
import { AGENTK_STATES_PROJECTION, writeProjectedBatch, type WrittenBatch } from './workspace-batch.js';

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

/** The raw message as text for a dead letter: UTF-8 when it is text, else base64. */
export function rawExcerpt(value: Buffer | null): string | undefined {
  if (value === null) return undefined;
  const head = value.subarray(0, 4096);
  const text = head.toString('utf8');
  return excerpt(text.includes('\uFFFD') || /[\u0000-\u0008]/.test(text) ? `base64:${head.toString('base64')}` : text);
}

export async function applyKafkaBatch(client: Session, batch: PartitionBatch, deps: BatchDeps): Promise<AppliedBatch> {
  const { topic, partition } = batch;
  const result: AppliedBatch = {
    consumed: 0, skipped: 0, deleted: 0, parked: 0, held: 0, badMessages: 0, written: 0, unchanged: 0, failed: 0, deadLetterKinds: [], nextOffset: undefined,
  };
  // Shared with other batches, exclusive against a rebuild's switch (projection-locks.ts).
  await lockProjectionShared(client, deps.projection);
  const checkpoint = await lockCheckpoint(client, deps.projection, topic, partition);
  const fresh = checkpoint === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) >= BigInt(checkpoint));
  result.skipped = batch.messages.length - fresh.length;
  if (fresh.length === 0) return result;

  const outcomes = fresh.map((message) => ({ message, outcome: deps.decode(message) }));
  const workspaceOf = (outcome: DecodeResult) => (outcome.ok ? outcome.event.workspaceId : outcome.error.workspaceId);
  const ids = outcomes.flatMap(({ outcome }) => (workspaceOf(outcome) === undefined ? [] : [workspaceOf(outcome)!]));
  // The fold lock first (loadFolds): a retry releasing these workspaces' held events takes it too.
  const folds = await loadFolds(client, deps.projection, ids);
  const held = await heldWorkspaces(client, deps.projection, ids);
  const deadLetters: DeadLetter[] = [];
  const holds: HeldEvent[] = [];
  const decoded: PositionedEvent[] = [];
  for (const { message, outcome } of outcomes) {
    const workspaceId = workspaceOf(outcome);
    const position = { topic, partition, offset: message.offset };
    const folded = workspaceId !== undefined && foldedPast(folds.get(workspaceId)!, position);
    const raw = { key: message.key, value: message.value, timestamp: message.timestamp };
    if (outcome.ok) {
      if (!folded && held.has(outcome.event.workspaceId)) holds.push({ workspaceId: outcome.event.workspaceId, ...position, deadLetterKey: null, raw });
      else decoded.push({ message, event: outcome.event });
      continue;
    }
    if (folded) continue;
    const { error } = outcome;
    deadLetters.push({
      workspaceId: error.workspaceId,
      source: KAFKA_SOURCE,
      badMessage: true,
      kafka: { ...position, key: message.key?.toString('utf8') ?? null },
      errorKind: error.reason,
      errorPath: error.path,
      message: error.message,
      inputExcerpt: rawExcerpt(message.value),
      raw,
    });
    if (error.workspaceId !== undefined) {
      held.add(error.workspaceId);
      holds.push({ workspaceId: error.workspaceId, ...position, deadLetterKey: messageLetterKey(position), raw: undefined });
    }
  }
  await holdEvents(client, deps.projection, holds);
  result.held = holds.filter((h) => h.deadLetterKey === null).length;
  result.badMessages = deadLetters.length;

  const folding = await foldEvents(client, deps.projection, decoded, folds, deps.sink);
  let counts: WrittenBatch;
  if (deps.materialize) {
    counts = await projectTouched(client, folding.touched, folding.lastMessage, deps, deadLetters);
  } else {
    await recordDeadLetters(client, AGENTK_STATES_PROJECTION, deadLetters);
    counts = { written: 0, unchanged: 0, failed: deadLetters.length, deadLetterKinds: deadLetters.map((l) => l.errorKind) };
  }

  const nextOffset = (BigInt(fresh[fresh.length - 1]!.offset) + 1n).toString();
  await saveCheckpoints(client, deps.projection, [{ topic, partition, nextOffset }]);
  return { ...result, ...counts, deleted: folding.deleted, parked: folding.parked, consumed: fresh.length, nextOffset };
}

/** A decoded message. */
export interface PositionedEvent {
  message: WorkspaceMessage;
  event: WorkspaceEvent;
}

/** Whether `fold` has folded an event at or past `position` on its partition (the fold's offset guard). */
function foldedPast(fold: WorkspaceFold, position: EventPosition): boolean {
  const folded = fold.state?.offsets[partitionOf(position)];
  return folded !== undefined && BigInt(position.offset) <= BigInt(folded);
}

export interface FoldedEvents {
  /** The folds the events changed (or touched without a change: a replay regenerates their rows). */
  touched: Map<number, WorkspaceFold>;
  /** Each touched workspace's last message, for the position on its letters. */
  lastMessage: Map<number, WorkspaceMessage>;
  deleted: number;
  parked: number;
  /** Events that changed nothing (at or below what was folded). */
  stale: number;
}

/**
 * Folds `events` in order over `folds` (loaded, and so locked, by the caller), saves the folds, deletes the
 * rows of deleted workspaces and their workspace letters. Shared by a batch and a retry's release.
 */
export async function foldEvents(
  client: Session,
  projection: string,
  events: readonly PositionedEvent[],
  folds: ReadonlyMap<number, WorkspaceFold>,
  sink: RowSink,
): Promise<FoldedEvents> {
  const touched = new Map<number, WorkspaceFold>();
  const lastMessage = new Map<number, WorkspaceMessage>();
  let parked = 0;
  let stale = 0;
  for (const { message, event } of events) {
    const before = touched.get(event.workspaceId) ?? folds.get(event.workspaceId)!;
    const { fold, outcome } = foldEvent(before, event, { topic: message.topic, partition: message.partition, offset: message.offset });
    if (outcome === 'parked') parked++;
    if (outcome === 'stale') stale++;
    touched.set(event.workspaceId, fold);
    lastMessage.set(event.workspaceId, message);
  }
  await saveFolds(client, projection, touched, folds);

  const deletedIds = [...touched].filter(([, fold]) => fold.state?.deleted).map(([id]) => id);
  const deleted = await sink.delete(client, deletedIds);
  // A deleted workspace needs no row any more: its workspace-level letters (a failed generation, no row in
  // `workspaces`) are moot. Letters of bad messages are keyed by position and stay.
  await clearDeadLetters(client, AGENTK_STATES_PROJECTION, deletedIds);
  return { touched, lastMessage, deleted, parked, stale };
}

/**
 * Generates the rows of these folds once and writes them with `deadLetters`. Every live workspace is
 * regenerated, even when its events were stale: a replay then also refreshes rows after a generator change,
 * and the upsert skips rows that did not change.
 */
export async function projectTouched(
  client: Session,
  folds: ReadonlyMap<number, WorkspaceFold>,
  lastMessage: ReadonlyMap<number, WorkspaceMessage>,
  deps: Pick<BatchDeps, 'agentConfigMode' | 'sink'>,
  deadLetters: readonly DeadLetter[],
): Promise<WrittenBatch> {
  const positions = new Map(
    [...lastMessage].map(([id, m]) => [id, { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key?.toString('utf8') ?? null }]),
  );
  const projected = await projectFolds(client, folds, deps.agentConfigMode, positions);
  projected.deadLetters.unshift(...deadLetters);
  return writeProjectedBatch(client, deps.sink, projected, KAFKA_SOURCE, positions);
}
