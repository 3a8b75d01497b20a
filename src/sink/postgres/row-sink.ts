/** Where projected rows go: the live read model, or a rebuild's shadow copy of it. */
import type { Session } from './database.js';
import type { AgentkStateRow } from '../../../projections/agentk-states/projection.js';
import { deleteAgentkStates, upsertAgentkStates, type UpsertResult } from './upsert-agentk-states.js';

export type { UpsertResult };

/**
 * Workspace ids in (after, upTo] (upTo undefined: no upper bound). A batch written with a range holds every
 * row of that range (a page of a rebuild), so the sink may replace what the range held before.
 */
export interface IdRange {
  after: number;
  upTo: number | undefined;
}

export interface RowSink {
  /** For messages: which table this is. */
  description: string;
  /**
   * Upserts; rows whose workspace is missing from `workspaces` are returned, not written. With `range`, the
   * rows are all of that range's (see IdRange).
   */
  upsert(client: Session, rows: readonly AgentkStateRow[], range?: IdRange): Promise<UpsertResult>;
  /** Deletes these workspaces' rows; returns how many existed. */
  delete(client: Session, workspaceIds: readonly number[]): Promise<number>;
}

export const liveAgentkStates: RowSink = {
  description: 'workspace_agentk_states',
  upsert: upsertAgentkStates,
  delete: deleteAgentkStates,
};
