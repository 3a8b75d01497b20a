import { describe, expect, it } from 'vitest';
import { foldEvent, type FoldOutcome, type WorkspaceFold } from '../../../projections/agentk-states/fold.js';
import { agentConfigSchema } from '../../../projections/agentk-states/inputs.js';
import type { WorkspaceEvent, WorkspaceRow } from '../../../src/events/workspace-event.js';

const position = { topic: 'workspace-events', partition: 0, offset: '0' };

function row(overrides: Partial<WorkspaceRow> = {}): WorkspaceRow {
  const at = new Date('2025-09-03T13:08:01Z');
  return {
    id: 7, created_at: at, updated_at: at, user_id: 1, project_id: 2, cluster_agent_id: 3, desired_state_updated_at: at,
    responded_to_agent_at: null, name: 'ws-7', namespace: 'ns-7', desired_state: 'Running', actual_state: 'Running',
    devfile_path: null, devfile: null, processed_devfile: 'schemaVersion: 2.2.0', url: null, deployment_resource_version: null,
    personal_access_token_id: null, force_include_all_resources: true, url_prefix: null, url_query_string: null,
    workspaces_agent_config_version: 0, desired_config_generator_version: 3, project_ref: 'main', actual_state_updated_at: at,
    ...overrides,
  };
}

const header = { eventId: 'e', workspaceId: 7, occurredAt: new Date(0) };
const created = (version: number, overrides: Partial<WorkspaceRow> = {}): WorkspaceEvent => ({ type: 'workspace-created', ...header, version, workspace: row(overrides) });
const updated = (version: number, changes: Partial<WorkspaceRow>): WorkspaceEvent => ({ type: 'workspace-updated', ...header, version, changes });
const deleted = (version: number | null = null): WorkspaceEvent => ({ type: 'workspace-deleted', workspaceId: 7, version });

/** given(events already folded).when(new events) → the fold and each new event's outcome. */
function given(...history: WorkspaceEvent[]) {
  let fold: WorkspaceFold = { state: undefined, parked: [] };
  for (const event of history) fold = foldEvent(fold, event, position).fold;
  return {
    when(...events: WorkspaceEvent[]): { fold: WorkspaceFold; outcomes: FoldOutcome[] } {
      const outcomes: FoldOutcome[] = [];
      for (const event of events) {
        const next = foldEvent(fold, event, position);
        fold = next.fold;
        outcomes.push(next.outcome);
      }
      return { fold, outcomes };
    },
  };
}

describe('folding workspace events', () => {
  it('a create sets the state at its version', () => {
    const { fold, outcomes } = given().when(created(1));
    expect(outcomes).toEqual(['applied']);
    expect(fold.state).toEqual({ version: 1, deleted: false, workspace: row(), agentConfig: null });
  });

  it('an update merges only the changed columns, and a change to null is kept', () => {
    const { fold } = given(created(1, { url: 'https://x' })).when(updated(2, { desired_state: 'Stopped', url: null }));
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Stopped', url: null }));
  });

  it('re-delivering an event changes nothing', () => {
    const { fold, outcomes } = given(created(1), updated(2, { desired_state: 'Stopped' })).when(updated(2, { desired_state: 'Stopped' }), created(1));
    expect(outcomes).toEqual(['stale', 'stale']);
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace?.desired_state).toBe('Stopped');
  });

  it('an event older than the stored version never regresses the state', () => {
    const { fold, outcomes } = given(created(1), updated(3, { desired_state: 'Terminated' })).when(updated(2, { desired_state: 'Running', name: 'old' }));
    expect(outcomes).toEqual(['stale']);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Terminated' }));
  });

  it('updates before their create are parked, then applied in version order when the create arrives', () => {
    const { fold, outcomes } = given().when(
      updated(3, { desired_state: 'Terminated' }),
      updated(2, { desired_state: 'Stopped', name: 'renamed' }),
      created(1),
    );
    expect(outcomes).toEqual(['parked', 'parked', 'applied']);
    expect(fold.parked).toEqual([]);
    expect(fold.state?.version).toBe(3);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Terminated', name: 'renamed' }));
  });

  it('a parked update at or below the create version is dropped when the create arrives', () => {
    const { fold } = given().when(updated(1, { name: 'ignored' }), created(1));
    expect(fold.state?.workspace?.name).toBe('ws-7');
  });

  it('parking the same update twice keeps one copy', () => {
    const { fold, outcomes } = given().when(updated(2, { name: 'a' }), updated(2, { name: 'a' }));
    expect(outcomes).toEqual(['parked', 'stale']);
    expect(fold.parked).toHaveLength(1);
  });

  it('a tombstone deletes the workspace and a redelivered create does not bring it back', () => {
    const { fold, outcomes } = given(created(1), updated(2, { name: 'x' })).when(deleted(), created(1), updated(2, { name: 'y' }));
    expect(outcomes).toEqual(['deleted', 'stale', 'stale']);
    expect(fold.state).toEqual({ version: 2, deleted: true, workspace: null, agentConfig: null });
  });

  it('a versioned delete (Debezium) records its version', () => {
    const { fold } = given(created(100)).when(deleted(250));
    expect(fold.state?.version).toBe(250);
    expect(fold.state?.deleted).toBe(true);
  });

  it("a create carrying an agent config keeps it in the state", () => {
    const agentConfig = agentConfigSchema.parse({ dns_zone: 'z' });
    const { fold } = given().when({ type: 'workspace-created', ...header, version: 1, workspace: row(), agentConfig });
    expect(fold.state?.agentConfig).toBe(agentConfig);
  });
});
