/**
 * Folding a workspace's events into its current state (pure: no I/O, no clock, no randomness).
 *
 * Two orders decide. Within one topic partition the **offset** orders a workspace's events (the key keeps a
 * workspace in one partition); the state records, per topic partition, the highest offset folded into it.
 * Across topics nothing orders events, so the **version** (strictly increasing per workspace incarnation)
 * decides. A "full row" is a create, or a Debezium `u` whose `after` holds every column.
 *
 *   any     --event at or below the state's offset on its partition--> unchanged (already folded: a replay or a
 *                                                                      redelivery, tombstones included)
 *   (none)  --created/full row v----------> live(v)      then parked updates > v are applied in version order
 *   (none)  --updated v-------------------> parked       (its create has not arrived: other topic, no ordering)
 *   live(s) --created/updated v <= s------> unchanged    (an older event from another topic: never regresses)
 *   live(s) --updated v > s---------------> live(v)      (changes merged over the row)
 *   live(s) --created v > s---------------> live(v)      (a newer full row replaces the state)
 *   any     --deleted v <= s (versioned)--> unchanged    (an older Debezium delete from another topic)
 *   any     --deleted---------------------> deleted(s')  (s' = the delete's version, else the last known one)
 *   deleted(s) --created/full row on the delete's partition--> live(v)   re-created (any v: the offset says later)
 *   deleted(s) --created v > s on another topic-------------> live(v)
 *   deleted(s) --anything else------------> unchanged
 *
 * A processed devfile over MAX_DEVFILE_CHARACTERS can never generate a row (spec §9), so the state keeps only
 * a marker of it (characters, sha256) instead of megabytes per workspace; generation keeps failing with
 * devfile_too_large until an update brings a devfile that fits.
 *
 * Each transition that changes the state appends the origin of the version it reaches to `newOrigins`
 * (`--explain`): the event's kind and position, and for parked updates a create applies, their own positions.
 * Stale and parked events append nothing: they did not change the state. The store keeps the last
 * ORIGINS_KEPT origins per workspace in the state's own row, so that an applied event writes one row version.
 */
import { createHash } from 'node:crypto';
import type {
  WorkspaceChanges,
  WorkspaceEvent,
  WorkspaceRow,
} from './events.js';
import { MAX_DEVFILE_CHARACTERS, characterCount } from './devfile.js';
import type { AgentConfig } from './inputs.js';

/** Where an event was read. */
export interface EventPosition {
  topic: string;
  partition: number;
  /** A Kafka offset (int64, as a decimal string). */
  offset: string;
}

/** A processed devfile too large to generate from, kept as a marker instead of its text. */
export interface OversizedDevfile {
  characters: number;
  sha256: string;
}

export interface FoldedWorkspace {
  version: number;
  deleted: boolean;
  /** The `workspaces` row as the events describe it; null once deleted. */
  workspace: WorkspaceRow | null;
  /** The agent config the create carried; null: resolve the pinned one from GitLab's tables. */
  agentConfig: AgentConfig | null;
  /** Per topic partition (partitionOf), the highest offset folded into this state. */
  offsets: Record<string, string>;
  /** The partition of the delete, while deleted: a full row later on it re-creates the workspace. */
  deletedOn: string | null;
  /** Set when the row's processed_devfile (then null in `workspace`) is over the limit. */
  oversizedDevfile: OversizedDevfile | null;
}

/** How many origins the store keeps per workspace (the newest); older ones are only counted. */
export const ORIGINS_KEPT = 50;

/** Where one folded version came from: an event read at its Kafka position, or a snapshot of `workspaces`. */
export type VersionOrigin =
  | ({ version: number; kind: 'created' | 'updated' | 'deleted' | 'full-row' } & EventPosition)
  | { version: number; kind: 'snapshot'; takenAt: string };

export interface ParkedUpdate {
  version: number;
  changes: WorkspaceChanges;
  /** Where the update was read: diagnostics, and the offset recorded when it is applied. */
  position: EventPosition;
}

export interface WorkspaceFold {
  state: FoldedWorkspace | undefined;
  parked: ParkedUpdate[];
  /** The origins of the versions folded since the fold was loaded, in order: the store appends them. */
  newOrigins: VersionOrigin[];
}

/** The fold of a workspace the store knows nothing of. */
export const emptyFold = (): WorkspaceFold => ({ state: undefined, parked: [], newOrigins: [] });

export type FoldOutcome = 'applied' | 'stale' | 'parked' | 'deleted';

/**
 * Whether Kafka offset `a` (an int64 as a decimal string) is at most `b`. Numbers of up to 15 digits are exact
 * as doubles, and comparing them costs no BigInt per event (the follow hot path compares several per event).
 */
export function offsetAtMost(a: string, b: string): boolean {
  return a.length <= 15 && b.length <= 15 ? Number(a) <= Number(b) : BigInt(a) <= BigInt(b);
}

/** The key of `offsets`. */
export function partitionOf(position: Pick<EventPosition, 'topic' | 'partition'>): string {
  return `${position.topic}:${position.partition}`;
}

/** Applies one event, read at `position`, to a workspace's fold. */
export function foldEvent(
  fold: WorkspaceFold,
  event: WorkspaceEvent,
  position: EventPosition,
): { fold: WorkspaceFold; outcome: FoldOutcome } {
  const { state } = fold;
  const stale = { fold, outcome: 'stale' as const };
  const partition = partitionOf(position);
  const folded = state?.offsets[partition];
  if (folded !== undefined && offsetAtMost(position.offset, folded)) return stale;

  if (event.type === 'workspace-deleted') {
    if (state && event.version !== null && event.version <= state.version) return stale;
    const version = Math.max(event.version ?? 0, state?.version ?? 0);
    const deleted: FoldedWorkspace = {
      version, deleted: true, workspace: null, agentConfig: null,
      offsets: advance(state?.offsets ?? {}, position), deletedOn: partition, oversizedDevfile: null,
    };
    return { fold: { state: deleted, parked: [], newOrigins: [...fold.newOrigins, origin(version, 'deleted', position)] }, outcome: 'deleted' };
  }

  const row = event.type === 'workspace-created' ? event.workspace : event.row;
  const recreates = state?.deleted === true && state.deletedOn === partition;
  if (row !== undefined && (state === undefined || recreates || (state.deleted && event.version > state.version))) {
    // A create, or a full row standing in for one (its create compacted away).
    let next = bounded({
      version: event.version,
      deleted: false,
      workspace: row,
      agentConfig: event.type === 'workspace-created' ? (event.agentConfig ?? null) : null,
      offsets: advance(state?.offsets ?? {}, position),
      deletedOn: null,
      oversizedDevfile: null,
    });
    const newOrigins = [...fold.newOrigins, origin(event.version, event.type === 'workspace-created' ? 'created' : 'full-row', position)];
    for (const update of [...fold.parked].sort((a, b) => a.version - b.version)) {
      if (update.version <= next.version) continue;
      next = applyChanges(next, update.version, update.changes, update.position);
      newOrigins.push(origin(update.version, 'updated', update.position));
    }
    return { fold: { state: next, parked: [], newOrigins }, outcome: 'applied' };
  }
  if (state === undefined && event.type === 'workspace-updated') {
    if (fold.parked.some((update) => update.version === event.version)) return stale;
    return { fold: { ...fold, parked: [...fold.parked, { version: event.version, changes: event.changes, position }] }, outcome: 'parked' };
  }
  if (state === undefined || state.deleted || event.version <= state.version) return stale;
  const next =
    event.type === 'workspace-created'
      ? bounded({ ...state, version: event.version, workspace: event.workspace, agentConfig: event.agentConfig ?? null, offsets: advance(state.offsets, position), oversizedDevfile: null })
      : applyChanges(state, event.version, event.changes, position);
  const kind = event.type === 'workspace-created' ? 'created' : 'updated';
  return { fold: { state: next, parked: fold.parked, newOrigins: [...fold.newOrigins, origin(event.version, kind, position)] }, outcome: 'applied' };
}

/**
 * The fold of a row read from a snapshot of `workspaces` taken at `takenAt` (ISO-8601): version 0, so every
 * event from the handoff applies over it.
 */
export function snapshotFold(workspace: WorkspaceRow, takenAt: string): WorkspaceFold {
  return {
    state: bounded({ version: 0, deleted: false, workspace, agentConfig: null, offsets: {}, deletedOn: null, oversizedDevfile: null }),
    parked: [],
    newOrigins: [{ version: 0, kind: 'snapshot', takenAt }],
  };
}

function origin(version: number, kind: 'created' | 'updated' | 'deleted' | 'full-row', position: EventPosition): VersionOrigin {
  return { version, kind, topic: position.topic, partition: position.partition, offset: position.offset };
}

function advance(offsets: Record<string, string>, position: EventPosition): Record<string, string> {
  const partition = partitionOf(position);
  const current = offsets[partition];
  if (current !== undefined && offsetAtMost(position.offset, current)) return offsets;
  return { ...offsets, [partition]: position.offset };
}

function applyChanges(state: FoldedWorkspace, version: number, changes: WorkspaceChanges, position: EventPosition): FoldedWorkspace {
  if (state.workspace === null) return state;
  // Keys absent from `changes` did not change; a key present with null changed to null.
  const workspace = { ...state.workspace };
  for (const [column, value] of Object.entries(changes)) {
    if (value !== undefined) (workspace as Record<string, unknown>)[column] = value;
  }
  const devfileChanged = changes.processed_devfile !== undefined;
  return bounded({
    ...state,
    version,
    workspace,
    offsets: advance(state.offsets, position),
    oversizedDevfile: devfileChanged ? null : state.oversizedDevfile,
  });
}

/** Replaces a processed devfile over the generator's limit by its marker. */
function bounded(state: FoldedWorkspace): FoldedWorkspace {
  const devfile = state.workspace?.processed_devfile;
  if (state.workspace === null || devfile === null || devfile === undefined) return state;
  // UTF-16 length bounds the character count from above: most devfiles need no count.
  if (devfile.length <= MAX_DEVFILE_CHARACTERS) return state;
  const characters = characterCount(devfile, MAX_DEVFILE_CHARACTERS);
  if (characters <= MAX_DEVFILE_CHARACTERS) return state;
  return {
    ...state,
    workspace: { ...state.workspace, processed_devfile: null },
    oversizedDevfile: { characters, sha256: createHash('sha256').update(devfile).digest('hex') },
  };
}
