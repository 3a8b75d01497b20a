/**
 * planBatch from scripted messages (Emmett style): given the stored folds, held and failed workspaces and a
 * checkpoint, when these messages arrive, then this plan. Expected values come from the README's event
 * contract ("Ordering", "Dead letters") and shared/spec/desired-config.md §1 (which columns generation reads).
 */
import { describe, expect, it } from 'vitest';
import { emptyFold, foldEvent, type WorkspaceFold } from '../../../projections/agentk-states/fold.js';
import { workspaceInputSchema } from '../../../projections/agentk-states/inputs.js';
import type { DecodeResult, WorkspaceMessage } from '../../../src/events/decode.js';
import type { WorkspaceChanges, WorkspaceEvent, WorkspaceRow } from '../../../projections/agentk-states/events.js';
import { GENERATED_FROM } from '../../../src/sink/postgres/workspace-states.js';
import { devfileWorkspaces, GENERATION_INPUT_COLUMNS, planBatch, takeTransaction, touchesInput, type BatchInput } from '../../../src/engine/plan-batch.js';

const at = new Date('2025-09-03T13:08:01Z');
function row(id: number, overrides: Partial<WorkspaceRow> = {}): WorkspaceRow {
  return {
    id, created_at: at, updated_at: at, user_id: 1, project_id: 2, cluster_agent_id: 3, desired_state_updated_at: at,
    responded_to_agent_at: null, name: `ws-${id}`, namespace: `ns-${id}`, desired_state: 'Running', actual_state: 'Running',
    devfile_path: null, devfile: null, processed_devfile: 'schemaVersion: 2.2.0', url: null, deployment_resource_version: null,
    personal_access_token_id: null, force_include_all_resources: true, url_prefix: null, url_query_string: null,
    workspaces_agent_config_version: 0, desired_config_generator_version: 3, project_ref: 'main', actual_state_updated_at: at,
    ...overrides,
  };
}
const header = (workspaceId: number) => ({ eventId: 'e', workspaceId, occurredAt: at });
const created = (id: number, version = 1): WorkspaceEvent => ({ type: 'workspace-created', ...header(id), version, workspace: row(id) });
const updated = (id: number, version: number, changes: WorkspaceChanges): WorkspaceEvent => ({ type: 'workspace-updated', ...header(id), version, changes });
const deleted = (id: number): WorkspaceEvent => ({ type: 'workspace-deleted', workspaceId: id, version: null });
/** An agent's reconciliation bump: columns the generator does not read. */
const bump = (id: number, version: number) => updated(id, version, { actual_state: 'Stopped', responded_to_agent_at: new Date(version) });

const TOPIC = 'workspace-events';
type Scripted = WorkspaceEvent | { bad: string; workspaceId?: number };
/** Messages of partition 0 at offsets from `first`, with their decode results. */
function script(first: number, ...items: Scripted[]): Pick<BatchInput, 'messages' | 'decoded'> {
  const messages: WorkspaceMessage[] = [];
  const decoded: DecodeResult[] = [];
  items.forEach((item, i) => {
    const offset = String(first + i);
    messages.push({ topic: TOPIC, partition: 0, offset, key: Buffer.from('k'), value: Buffer.from('v'), timestamp: '0' });
    decoded.push(
      'bad' in item
        ? { ok: false, error: { reason: 'not_json', message: item.bad, topic: TOPIC, partition: 0, offset, ...(item.workspaceId === undefined ? {} : { workspaceId: item.workspaceId }) } }
        : { ok: true, event: item, encoding: 'json' },
    );
  });
  return { messages, decoded };
}

/** The folds after `events`, read at offsets 0, 1, … of partition 0 (what an earlier batch stored). */
function stored(...events: WorkspaceEvent[]): Map<number, WorkspaceFold> {
  const folds = new Map<number, WorkspaceFold>();
  events.forEach((event, offset) => {
    const before = folds.get(event.workspaceId) ?? emptyFold();
    folds.set(event.workspaceId, { ...foldEvent(before, event, { topic: TOPIC, partition: 0, offset: String(offset) }).fold, newOrigins: [] });
  });
  return folds;
}

function given(state: { folds?: Map<number, WorkspaceFold>; checkpoint?: string; held?: number[]; failed?: number[]; partial?: number[]; materialize?: boolean }) {
  return {
    when: (batch: Pick<BatchInput, 'messages' | 'decoded'>) => {
      const folds = new Map(state.folds ?? []);
      for (const outcome of batch.decoded) {
        const id = outcome.ok ? outcome.event.workspaceId : outcome.error.workspaceId;
        if (id !== undefined && !folds.has(id)) folds.set(id, emptyFold());
      }
      return planBatch({
        topic: TOPIC, partition: 0, ...batch, folds, checkpoint: state.checkpoint,
        held: new Set(state.held), failed: new Set(state.failed), partial: new Set(state.partial), materialize: state.materialize ?? true,
      });
    },
  };
}

describe('the columns generation reads', () => {
  it('are the spec §1.1 columns plus the project the row is written with', () => {
    // desired-config.md §1.1, and workspace_agentk_states.project_id (§1.3: the project path).
    expect([...GENERATION_INPUT_COLUMNS].sort()).toEqual(
      ['cluster_agent_id', 'desired_state', 'id', 'name', 'namespace', 'processed_devfile', 'project_id', 'workspaces_agent_config_version'].sort(),
    );
  });

  it('include every column of the generator input type', () => {
    for (const column of Object.keys(workspaceInputSchema.shape)) expect(GENERATION_INPUT_COLUMNS).toContain(column);
  });

  it('are those the store checks on the folded states it trusts (and the devfile, a column of its own)', () => {
    expect(new Set([...GENERATED_FROM.map(([column]) => column), 'processed_devfile'])).toEqual(GENERATION_INPUT_COLUMNS);
  });

  it('an update touches an input when one of them is among its changes, a create or full row always', () => {
    expect(touchesInput(bump(1, 2))).toBe(false);
    expect(touchesInput(updated(1, 2, { desired_state: 'Stopped' }))).toBe(true);
    expect(touchesInput(updated(1, 2, { processed_devfile: null }))).toBe(true);
    expect(touchesInput(updated(1, 2, { workspaces_agent_config_version: 1 }))).toBe(true);
    expect(touchesInput(updated(1, 2, { project_id: 5 }))).toBe(true);
    expect(touchesInput(created(1))).toBe(true);
    expect(touchesInput({ type: 'workspace-updated', ...header(1), version: 2, changes: { actual_state: 'Stopped' }, row: row(1) })).toBe(true);
    expect(touchesInput(deleted(1))).toBe(false);
  });
});

describe('planning a batch', () => {
  it('skips the messages below the checkpoint and moves it past the last message', () => {
    const plan = given({ folds: stored(created(1)), checkpoint: '3' }).when(script(2, bump(1, 2), bump(1, 3)));
    expect({ skipped: plan.skipped, consumed: plan.consumed, nextOffset: plan.nextOffset }).toEqual({ skipped: 1, consumed: 1, nextOffset: '4' });
    expect(plan.folding.touched.get(1)!.state!.version).toBe(3);
  });

  it('an update that touches no input advances the fold and generates nothing', () => {
    const plan = given({ folds: stored(created(1)) }).when(script(1, bump(1, 2)));
    const state = plan.folding.touched.get(1)!.state!;
    expect({ version: state.version, actual: state.workspace!.actual_state, offsets: state.offsets }).toEqual({ version: 2, actual: 'Stopped', offsets: { [`${TOPIC}:0`]: '1' } });
    expect([...plan.generate.keys()]).toEqual([]);
    expect(plan.nextOffset).toBe('2');
  });

  it('a state loaded without its devfiles and agent config may be folded, and is refused loudly for generation', () => {
    const folds = stored(created(1));
    const bumped = given({ folds, partial: [1] }).when(script(1, bump(1, 2)));
    expect(bumped.folding.touched.get(1)!.state!.version).toBe(2);
    expect(() => given({ folds, partial: [1] }).when(script(1, updated(1, 2, { desired_state: 'Stopped' })))).toThrow(
      'workspace 1: to be generated from a state loaded without its devfiles and agent config (a planning bug)',
    );
  });

  it('an update that touches an input generates the row, from a fold holding every earlier change', () => {
    const plan = given({ folds: stored(created(1)) }).when(script(1, bump(1, 2), updated(1, 3, { desired_state: 'Stopped' })));
    const workspace = plan.generate.get(1)!.state!.workspace!;
    expect({ desired: workspace.desired_state, actual: workspace.actual_state }).toEqual({ desired: 'Stopped', actual: 'Stopped' });
  });

  it('a create generates, with the updates parked before it applied', () => {
    const plan = given({}).when(script(0, updated(1, 2, { desired_state: 'Stopped' }), bump(1, 3), created(1)));
    expect(plan.folding.parked).toBe(2);
    const state = plan.generate.get(1)!.state!;
    expect({ version: state.version, desired: state.workspace!.desired_state }).toEqual({ version: 3, desired: 'Stopped' });
  });

  it('a parked update generates nothing: there is no state to generate from', () => {
    const plan = given({}).when(script(0, updated(1, 2, { desired_state: 'Stopped' })));
    expect(plan.folding.parked).toBe(1);
    expect(plan.generate.size).toBe(0);
  });

  it('a workspace whose last generation failed is generated again on any event', () => {
    const plan = given({ folds: stored(created(1), created(2)), failed: [1] }).when(script(2, bump(1, 2), bump(2, 2)));
    expect([...plan.generate.keys()]).toEqual([1]);
  });

  it('a replay regenerates the workspaces whose replayed events carry inputs, not those of bumps alone', () => {
    const folds = stored(created(1), bump(1, 2), created(2), bump(2, 2));
    const plan = given({ folds }).when(script(1, bump(1, 2), created(2), bump(2, 2)));
    expect(plan.folding.stale).toBe(3);
    expect([...plan.generate.keys()]).toEqual([2]);
  });

  it('a deleted workspace is not generated, even after an input update in the same batch', () => {
    const plan = given({ folds: stored(created(1)) }).when(script(1, updated(1, 2, { desired_state: 'Stopped' }), deleted(1), bump(1, 3)));
    expect(plan.folding.deleted).toEqual([1]);
    expect(plan.generate.size).toBe(0);
  });

  it('a re-create on the delete partition generates again', () => {
    const plan = given({ folds: stored(created(1), deleted(1)) }).when(script(2, created(1)));
    expect(plan.generate.get(1)!.state!.deleted).toBe(false);
  });

  it('a bad message of a known workspace is dead-lettered and holds that workspace’s later messages only', () => {
    const plan = given({ folds: stored(created(1), created(2)) }).when(script(2, { bad: 'broken', workspaceId: 1 }, bump(1, 2), updated(2, 2, { desired_state: 'Stopped' })));
    expect(plan.deadLetters.map((l) => ({ workspaceId: l.workspaceId, offset: l.kafka?.offset, kind: l.errorKind }))).toEqual([{ workspaceId: 1, offset: '2', kind: 'not_json' }]);
    expect(plan.holds.map((h) => ({ workspaceId: h.workspaceId, offset: h.offset, bad: h.deadLetterKey !== null }))).toEqual([
      { workspaceId: 1, offset: '2', bad: true },
      { workspaceId: 1, offset: '3', bad: false },
    ]);
    expect([...plan.folding.touched.keys()]).toEqual([2]);
    expect([...plan.generate.keys()]).toEqual([2]);
  });

  it('a workspace already held keeps holding its new messages; a bad message of no workspace holds nothing', () => {
    const plan = given({ folds: stored(created(1), created(2)), held: [1] }).when(script(2, { bad: 'no key' }, bump(1, 2), bump(2, 2)));
    expect(plan.deadLetters.map((l) => l.workspaceId)).toEqual([undefined]);
    expect(plan.holds.map((h) => h.offset)).toEqual(['3']);
    expect([...plan.folding.touched.keys()]).toEqual([2]);
  });

  it('a message at or below what its workspace folded is neither held nor lettered again', () => {
    const folds = stored(created(1), bump(1, 2));
    const plan = given({ folds, held: [1] }).when(script(0, { bad: 'replayed', workspaceId: 1 }, bump(1, 2)));
    expect({ letters: plan.deadLetters.length, holds: plan.holds.length, stale: plan.folding.stale }).toEqual({ letters: 0, holds: 0, stale: 1 });
  });

  it('folds only, generating nothing, while a rebuild builds', () => {
    const plan = given({ materialize: false, failed: [1] }).when(script(0, created(1), updated(1, 2, { desired_state: 'Stopped' })));
    expect(plan.folding.touched.get(1)!.state!.version).toBe(2);
    expect(plan.generate.size).toBe(0);
  });
});

describe('whose stored devfile a batch loads', () => {
  const batch = script(0, bump(1, 2), updated(2, 2, { desired_state: 'Stopped' }), created(3), updated(4, 2, { processed_devfile: null }), deleted(5));
  it('those it may generate and those whose devfile its events may change', () => {
    expect([...devfileWorkspaces(batch.decoded, true)].sort()).toEqual([2, 3, 4]);
  });
  it('while a rebuild builds, only those whose devfile its events may change', () => {
    expect([...devfileWorkspaces(batch.decoded, false)].sort()).toEqual([3, 4]);
  });
});

describe('takeTransaction (where the batch loop cuts a fetched batch into transactions)', () => {
  const limits = { devfiles: 2, workspaces: 3, messages: 8 };
  /** The ends of the transactions that cover `items`, cut one after the other. */
  function cuts(materialize: boolean, ...items: Scripted[]): number[] {
    const { messages, decoded } = script(0, ...items);
    const decode = (m: WorkspaceMessage) => decoded[Number(m.offset)]!;
    const ends: number[] = [];
    for (let start = 0; start < messages.length; ) {
      const taken = takeTransaction(messages, start, decode, materialize, limits);
      expect(taken.decoded).toEqual(decoded.slice(start, taken.end));
      ends.push((start = taken.end));
    }
    return ends;
  }

  it('holds repeated updates of the same workspaces in one transaction, up to the message limit', () => {
    const bumps = Array.from({ length: 10 }, (_, i) => bump(1 + (i % 3), 2 + Math.floor(i / 3)));
    expect(cuts(true, ...bumps)).toEqual([8, 10]);
  });

  it('closes a transaction before a workspace past the workspace limit', () => {
    expect(cuts(true, bump(1, 2), bump(2, 2), bump(3, 2), bump(1, 3), bump(4, 2), bump(4, 3))).toEqual([4, 6]);
  });

  it('closes it before a workspace past the devfile limit: events that generate, or change a devfile', () => {
    const items = [created(1), updated(2, 2, { desired_state: 'Stopped' }), bump(1, 3), created(4)];
    expect(cuts(true, ...items)).toEqual([3, 4]);
    // Without generation (a rebuild folds), a desired_state change loads no devfile.
    expect(cuts(false, ...items)).toEqual([4]);
  });

  it('counts a bad message by its workspace, and one without a workspace by nothing but the message limit', () => {
    expect(cuts(true, { bad: 'x', workspaceId: 1 }, { bad: 'y' }, { bad: 'z' }, bump(2, 2), bump(3, 2), { bad: 'w', workspaceId: 4 })).toEqual([5, 6]);
  });

  it('takes one message at least', () => {
    const { messages, decoded } = script(0, created(1), created(2));
    expect(takeTransaction(messages, 0, (m) => decoded[Number(m.offset)]!, true, { devfiles: 0, workspaces: 0, messages: 0 }).end).toBe(1);
  });
});
