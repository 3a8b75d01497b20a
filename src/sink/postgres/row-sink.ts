/** Where projected rows go: the live read model, or a rebuild's shadow copy of it. */
import type { Session } from './database.js';
import type { AgentkStateRow } from '../../../projections/agentk-states/projection.js';
import { deleteAgentkStates, upsertAgentkStates, type UpsertResult } from './upsert-agentk-states.js';

export type { UpsertResult };

export interface RowSink {
  /** For messages: which table this is. */
  description: string;
  /** Upserts in one round trip; rows whose workspace is missing from `workspaces` are returned, not written. */
  upsert(client: Session, rows: readonly AgentkStateRow[]): Promise<UpsertResult>;
  /** Deletes these workspaces' rows; returns how many existed. */
  delete(client: Session, workspaceIds: readonly number[]): Promise<number>;
}

export const liveAgentkStates: RowSink = {
  description: 'workspace_agentk_states',
  upsert: upsertAgentkStates,
  delete: deleteAgentkStates,
};
