/**
 * What one partition batch does, decided without I/O (Emmett's processors are tested the same way: scripted
 * messages in, a plan out). applyKafkaBatch locks and loads, asks `planBatch`, then writes the plan.
 *
 * Per message, in offset order:
 *   below the partition's checkpoint ----------------------------> skipped (an earlier delivery applied it)
 *   at or below what its workspace folded on this partition -----> already applied (a replay): folded as stale,
 *                                                                   never held or lettered again
 *   bad, workspace unknown -------------------------------------> dead letter
 *   bad, workspace known ---------------------------------------> dead letter, and the workspace is held from here
 *   good, workspace held ---------------------------------------> held (behind its bad message)
 *   good -------------------------------------------------------> folded (applied, parked, stale or deleted)
 *
 * Generation (with `materialize`): a workspace's row is generated when one of its folded events (stale ones
 * included, so that a replay regenerates what its events describe) is a create, a full row or an update
 * that touches an input of generation (GENERATION_INPUT_COLUMNS), or when its last generation failed (its
 * workspace letter: the failure may have been outside the events, e.g. a missing agent config or `workspaces`
 * row, and used to heal with the workspace's next event). An update that touches no input still advances the
 * fold's version and offsets and the checkpoint, in the same transaction, and its changes stay in the fold,
 * so a later generation sees them; it generates nothing and writes no row.
 */
import { emptyFold, foldEvent, offsetAtMost, partitionOf, type EventPosition, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import { workspaceInputSchema } from '../../projections/agentk-states/inputs.js';
import type { DecodeResult, WorkspaceMessage } from '../events/decode.js';
import type { WorkspaceColumn, WorkspaceEvent } from '../../projections/agentk-states/events.js';
import { excerpt, messageLetterKey, type DeadLetter } from '../sink/postgres/dead-letters.js';
import type { HeldEvent } from '../sink/postgres/held-events.js';
import { KAFKA_SOURCE } from './project-folds.js';

/**
 * The `workspaces` columns generation reads: the generator's own input type (so that a column it gains is
 * here at once), plus those the engine reads to build its inputs (project-folds.ts: the agent config's
 * resolution and the row's project and project path).
 */
const ENGINE_INPUT_COLUMNS: readonly WorkspaceColumn[] = ['cluster_agent_id', 'workspaces_agent_config_version', 'project_id'];
export const GENERATION_INPUT_COLUMNS: ReadonlySet<string> = new Set([...Object.keys(workspaceInputSchema.shape), ...ENGINE_INPUT_COLUMNS]);

/** Whether folding `event` may change the workspace's generated row (a delete removes it instead). */
export function touchesInput(event: WorkspaceEvent): boolean {
  if (event.type === 'workspace-created') return true;
  if (event.type === 'workspace-deleted') return false;
  if (event.row !== undefined) return true;
  for (const column in event.changes) {
    if (event.changes[column as WorkspaceColumn] !== undefined && GENERATION_INPUT_COLUMNS.has(column)) return true;
  }
  return false;
}

/** Whether folding `event` may change the stored processed_devfile or devfile (loading them can be skipped otherwise). */
export function mayChangeDevfile(event: WorkspaceEvent): boolean {
  return (
    event.type === 'workspace-created' ||
    (event.type === 'workspace-updated' && (event.row !== undefined || event.changes.processed_devfile !== undefined || event.changes.devfile !== undefined))
  );
}

/** The workspace a decoded or bad message names, if any. */
export function workspaceOf(outcome: DecodeResult): number | undefined {
  return outcome.ok ? outcome.event.workspaceId : outcome.error.workspaceId;
}

/**
 * The workspaces whose stored processed_devfile the batch needs: those it may generate, and those whose
 * devfile its events may change (so that the store can tell an unchanged devfile, kept in place, from a
 * changed one). The others are loaded without it: it is large and TOASTed, and they neither read nor change it.
 */
export function devfileWorkspaces(decoded: readonly DecodeResult[], materialize: boolean): Set<number> {
  const ids = new Set<number>();
  for (const outcome of decoded) {
    if (outcome.ok && loadsDevfile(outcome.event, materialize)) ids.add(outcome.event.workspaceId);
  }
  return ids;
}

/** Whether a batch loads the devfile of `event`'s workspace for it (devfileWorkspaces). */
const loadsDevfile = (event: WorkspaceEvent, materialize: boolean): boolean => (materialize && touchesInput(event)) || mayChangeDevfile(event);

/**
 * What one transaction of a fetched batch may hold (batch-loop.ts). Its memory grows with the workspaces it
 * loads, most with those whose devfile it loads to generate or change (the devfile, and a generated row of
 * about 13 KB: about 50 KB each), not with the messages: several updates of one workspace fold into one fold
 * and one write.
 */
export interface TransactionLimits {
  /** Distinct workspaces whose devfile the transaction loads (devfileWorkspaces). */
  devfiles: number;
  /** Distinct workspaces (a fold each, about 3 KB without its devfile). */
  workspaces: number;
  /** Messages (their decoded events are held until the transaction commits). */
  messages: number;
}

/**
 * Decodes `messages` from `start` for as long as one transaction stays within `limits` (it takes one message
 * at least): returns where it ends (exclusive) and the decode results of messages[start, end). A workspace
 * whose last generation failed is regenerated by any event (planBatch) and is not known before its fold is
 * read: it counts as a workspace, not as a devfile.
 */
export function takeTransaction(
  messages: readonly WorkspaceMessage[],
  start: number,
  decode: (message: WorkspaceMessage) => DecodeResult,
  materialize: boolean,
  limits: TransactionLimits,
): { end: number; decoded: DecodeResult[] } {
  const workspaces = new Set<number>();
  const devfiles = new Set<number>();
  const decoded: DecodeResult[] = [];
  while (start + decoded.length < messages.length && (decoded.length === 0 || decoded.length < limits.messages)) {
    const outcome = decode(messages[start + decoded.length]!);
    const id = workspaceOf(outcome);
    if (id !== undefined) {
      const devfile = outcome.ok && loadsDevfile(outcome.event, materialize);
      const full = (!workspaces.has(id) && workspaces.size >= limits.workspaces) || (devfile && !devfiles.has(id) && devfiles.size >= limits.devfiles);
      // The message that does not fit is decoded again as the next transaction's first.
      if (full && decoded.length > 0) break;
      workspaces.add(id);
      if (devfile) devfiles.add(id);
    }
    decoded.push(outcome);
  }
  return { end: start + decoded.length, decoded };
}

/** A decoded message. */
export interface PositionedEvent {
  message: WorkspaceMessage;
  event: WorkspaceEvent;
}

export interface FoldedEvents {
  /** The folds the events reached (also those they left unchanged: stale or parked). */
  touched: Map<number, WorkspaceFold>;
  /** Each touched workspace's last message, for the position on its letters. */
  lastMessage: Map<number, WorkspaceMessage>;
  /** Touched workspaces with an event that touches an input (touchesInput), stale or not. */
  inputTouched: Set<number>;
  /** Workspaces the events deleted. */
  deleted: number[];
  parked: number;
  /** Events that changed nothing (at or below what was folded). */
  stale: number;
}

/** Folds `events` in order over `folds` (pure; an entry per workspace is expected, emptyFold otherwise). */
export function foldAll(events: readonly PositionedEvent[], folds: ReadonlyMap<number, WorkspaceFold>): FoldedEvents {
  const touched = new Map<number, WorkspaceFold>();
  const lastMessage = new Map<number, WorkspaceMessage>();
  const inputTouched = new Set<number>();
  let parked = 0;
  let stale = 0;
  for (const { message, event } of events) {
    const before = touched.get(event.workspaceId) ?? folds.get(event.workspaceId) ?? emptyFold();
    const { fold, outcome } = foldEvent(before, event, { topic: message.topic, partition: message.partition, offset: message.offset });
    if (outcome === 'parked') parked++;
    if (outcome === 'stale') stale++;
    if (touchesInput(event)) inputTouched.add(event.workspaceId);
    touched.set(event.workspaceId, fold);
    lastMessage.set(event.workspaceId, message);
  }
  const deleted = [...touched].filter(([, fold]) => fold.state?.deleted).map(([id]) => id);
  return { touched, lastMessage, inputTouched, deleted, parked, stale };
}

export interface BatchInput {
  topic: string;
  partition: number;
  messages: readonly WorkspaceMessage[];
  /** The decode result of each message, in the same order. */
  decoded: readonly DecodeResult[];
  /** The partition's checkpoint (next offset to apply); undefined: never consumed. */
  checkpoint: string | undefined;
  /** The stored folds of the workspaces the messages name. */
  folds: ReadonlyMap<number, WorkspaceFold>;
  /** Workspaces with held events (behind a bad message). */
  held: ReadonlySet<number>;
  /** Workspaces whose last generation failed (a workspace letter). */
  failed: ReadonlySet<number>;
  /** Workspaces whose state was loaded without what generation reads beside it (readBatchFolds' `partial`). */
  partial: ReadonlySet<number>;
  materialize: boolean;
}

export interface BatchPlan {
  /** Messages below the checkpoint. */
  skipped: number;
  /** Messages at or past it (dead-lettered and held ones included). */
  consumed: number;
  /** Bad messages to dead-letter (in offset order). */
  deadLetters: DeadLetter[];
  /** Events to hold: good ones behind their workspace's bad message, and the bad messages themselves. */
  holds: HeldEvent[];
  /** The good messages' events, folded. */
  folding: FoldedEvents;
  /** The live workspaces whose rows to generate (empty without `materialize`). */
  generate: Map<number, WorkspaceFold>;
  /** The partition's checkpoint after the batch; undefined when nothing was consumed. */
  nextOffset: string | undefined;
}

export function planBatch(input: BatchInput): BatchPlan {
  const { topic, partition, checkpoint } = input;
  const deadLetters: DeadLetter[] = [];
  const holds: HeldEvent[] = [];
  const events: PositionedEvent[] = [];
  const held = new Set(input.held);
  let skipped = 0;
  let last: string | undefined;
  input.messages.forEach((message, index) => {
    if (checkpoint !== undefined && !offsetAtMost(checkpoint, message.offset)) {
      skipped++;
      return;
    }
    last = message.offset;
    const outcome = input.decoded[index]!;
    const workspaceId = workspaceOf(outcome);
    const position = { topic, partition, offset: message.offset };
    const fold = workspaceId === undefined ? undefined : input.folds.get(workspaceId);
    const folded = fold !== undefined && foldedPast(fold, position);
    if (outcome.ok) {
      if (!folded && held.has(outcome.event.workspaceId)) holds.push({ workspaceId: outcome.event.workspaceId, ...position, deadLetterKey: null, raw: rawOf(message) });
      else events.push({ message, event: outcome.event });
      return;
    }
    if (folded) return;
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
      raw: rawOf(message),
    });
    if (error.workspaceId !== undefined) {
      held.add(error.workspaceId);
      holds.push({ workspaceId: error.workspaceId, ...position, deadLetterKey: messageLetterKey(position), raw: undefined });
    }
  });
  const folding = foldAll(events, input.folds);
  const generate = new Map<number, WorkspaceFold>();
  if (input.materialize) {
    for (const [id, fold] of folding.touched) {
      if (!(folding.inputTouched.has(id) || input.failed.has(id)) || !isLive(fold)) continue;
      // devfileWorkspaces loads them for every workspace this can select: generating without them would be wrong, silently.
      if (input.partial.has(id)) throw new Error(`workspace ${id}: to be generated from a state loaded without its devfiles and agent config (a planning bug)`);
      generate.set(id, fold);
    }
  }
  return {
    skipped,
    consumed: input.messages.length - skipped,
    deadLetters,
    holds,
    folding,
    generate,
    nextOffset: last === undefined ? undefined : (BigInt(last) + 1n).toString(),
  };
}

const rawOf = (message: WorkspaceMessage) => ({ key: message.key, value: message.value, timestamp: message.timestamp });

const isLive = (fold: WorkspaceFold): boolean => fold.state !== undefined && !fold.state.deleted && fold.state.workspace !== null;

/** Whether `fold` has folded an event at or past `position` on its partition (the fold's offset guard). */
function foldedPast(fold: WorkspaceFold, position: EventPosition): boolean {
  const folded = fold.state?.offsets[partitionOf(position)];
  return folded !== undefined && offsetAtMost(position.offset, folded);
}

/** The raw message as text for a dead letter: UTF-8 when it is text, else base64. */
export function rawExcerpt(value: Buffer | null): string | undefined {
  if (value === null) return undefined;
  const head = value.subarray(0, 4096);
  const text = head.toString('utf8');
  return excerpt(text.includes('\uFFFD') || /[\u0000-\u0008]/.test(text) ? `base64:${head.toString('base64')}` : text);
}
