/**
 * Folding a workspace's events into its current state (pure: no I/O).
 *
 * State machine per workspace, driven by the event's `version` (strictly increasing per workspace):
 *
 *   (none) --created v--------------------> live(v)      then parked updates > v are applied in version order
 *   (none) --updated v--------------------> parked       (its create has not arrived: other topic, no ordering)
 *   live(s) --created/updated v <= s------> unchanged    (re-delivery or older event: never regresses)
 *   live(s) --updated v > s---------------> live(v)      (changes merged over the row)
 *   live(s) --created v > s---------------> live(v)      (a newer full row replaces the state)
 *   any     --deleted---------------------> deleted(s')  (s' = the delete's version, else the last known one)
 *   deleted(s) --created v > s------------> live(v)      everything else at or below s is ignored
 */
import type {
  WorkspaceChanges,
  WorkspaceEvent,
  WorkspaceRow,
} from '../../src/events/workspace-event.js';
import type { AgentConfig } from './inputs.js';

export interface FoldedWorkspace {
  version: number;
  deleted: boolean;
  /** The `workspaces` row as the events describe it; null once deleted. */
  workspace: WorkspaceRow | null;
  /** The agent config the create carried; null: resolve the pinned one from GitLab's tables. */
  agentConfig: AgentConfig | null;
}

export interface ParkedUpdate {
  version: number;
  changes: WorkspaceChanges;
  /** Where the update was read, kept for diagnostics. */
  position: { topic: string; partition: number; offset: string };
}

export interface WorkspaceFold {
  state: FoldedWorkspace | undefined;
  parked: ParkedUpdate[];
}

export type FoldOutcome = 'applied' | 'stale' | 'parked' | 'deleted';

/** Applies one event to a workspace's fold. `position` is recorded on a parked update. */
export function foldEvent(
  fold: WorkspaceFold,
  event: WorkspaceEvent,
  position: ParkedUpdate['position'],
): { fold: WorkspaceFold; outcome: FoldOutcome } {
  const { state } = fold;
  switch (event.type) {
    case 'workspace-deleted': {
      const version = Math.max(event.version ?? 0, state?.version ?? 0);
      return { fold: { state: { version, deleted: true, workspace: null, agentConfig: null }, parked: [] }, outcome: 'deleted' };
    }
    case 'workspace-created': {
      if (state && event.version <= state.version) return { fold, outcome: 'stale' };
      let next: FoldedWorkspace = {
        version: event.version,
        deleted: false,
        workspace: event.workspace,
        agentConfig: event.agentConfig ?? null,
      };
      for (const update of [...fold.parked].sort((a, b) => a.version - b.version)) {
        if (update.version > next.version) next = applyChanges(next, update.version, update.changes);
      }
      return { fold: { state: next, parked: [] }, outcome: 'applied' };
    }
    case 'workspace-updated': {
      if (state === undefined) {
        if (fold.parked.some((update) => update.version === event.version)) return { fold, outcome: 'stale' };
        const parked = [...fold.parked, { version: event.version, changes: event.changes, position }];
        return { fold: { state, parked }, outcome: 'parked' };
      }
      if (state.deleted || event.version <= state.version) return { fold, outcome: 'stale' };
      return { fold: { state: applyChanges(state, event.version, event.changes), parked: fold.parked }, outcome: 'applied' };
    }
  }
}

function applyChanges(state: FoldedWorkspace, version: number, changes: WorkspaceChanges): FoldedWorkspace {
  if (state.workspace === null) return state;
  // Keys absent from `changes` did not change; a key present with null changed to null.
  const workspace = { ...state.workspace };
  for (const [column, value] of Object.entries(changes)) {
    if (value !== undefined) (workspace as Record<string, unknown>)[column] = value;
  }
  return { ...state, version, workspace };
}
