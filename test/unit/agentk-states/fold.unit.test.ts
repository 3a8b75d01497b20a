import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_DEVFILE_CHARACTERS } from '../../../projections/agentk-states/devfile.js';
import { emptyFold, foldEvent, offsetAtMost, snapshotFold, type EventPosition, type FoldOutcome, type WorkspaceFold } from '../../../projections/agentk-states/fold.js';
import { agentConfigSchema } from '../../../projections/agentk-states/inputs.js';
import type { WorkspaceEvent, WorkspaceRow } from '../../../projections/agentk-states/events.js';

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

/** An event read at `offset` of `topic` partition 0 (one workspace stays in one partition). */
interface Read {
  event: WorkspaceEvent;
  position: EventPosition;
}
const at = (offset: number, event: WorkspaceEvent, topic = 'workspace-events'): Read => ({ event, position: { topic, partition: 0, offset: String(offset) } });
/** Events of one partition in order, at offsets 0, 1, 2, … */
const stream = (...events: WorkspaceEvent[]): Read[] => events.map((event, offset) => at(offset, event));

/** given(events already folded).when(new events) → the fold and each new event's outcome. */
function given(...history: Read[]) {
  let fold: WorkspaceFold = emptyFold();
  for (const { event, position } of history) fold = foldEvent(fold, event, position).fold;
  return {
    when(...reads: Read[]): { fold: WorkspaceFold; outcomes: FoldOutcome[] } {
      const outcomes: FoldOutcome[] = [];
      for (const { event, position } of reads) {
        const next = foldEvent(fold, event, position);
        fold = next.fold;
        outcomes.push(next.outcome);
      }
      return { fold, outcomes };
    },
  };
}

/** Folds `reads` from zero, as a rebuild does. */
const rebuild = (reads: Read[]) => given().when(...reads).fold;

/** Folds `reads`, then replays them from `fromIndex` on (a --from-offset/--from-timestamp/--from-beginning replay). */
const replayed = (reads: Read[], fromIndex: number) => given(...reads).when(...reads.slice(fromIndex)).fold;

describe('folding workspace events', () => {
  it('a create sets the state at its version and records its offset', () => {
    const { fold, outcomes } = given().when(at(0, created(1)));
    expect(outcomes).toEqual(['applied']);
    expect(fold.state).toEqual({
      version: 1, deleted: false, workspace: row(), agentConfig: null,
      offsets: { 'workspace-events:0': '0' }, deletedOn: null, oversizedDevfile: null,
    });
  });

  it('an update merges only the changed columns, and a change to null is kept', () => {
    const { fold } = given(at(0, created(1, { url: 'https://x' }))).when(at(1, updated(2, { desired_state: 'Stopped', url: null })));
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Stopped', url: null }));
  });

  it('re-delivering an event changes nothing', () => {
    const history = stream(created(1), updated(2, { desired_state: 'Stopped' }));
    const { fold, outcomes } = given(...history).when(history[1]!, history[0]!);
    expect(outcomes).toEqual(['stale', 'stale']);
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace?.desired_state).toBe('Stopped');
  });

  it('an event older than the stored version, from another topic, never regresses the state', () => {
    const { fold, outcomes } = given(...stream(created(1), updated(3, { desired_state: 'Terminated' }))).when(
      at(0, updated(2, { desired_state: 'Running', name: 'old' }), 'workspace-updated'),
    );
    expect(outcomes).toEqual(['stale']);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Terminated' }));
  });

  it('updates before their create are parked, then applied in version order when the create arrives', () => {
    const { fold, outcomes } = given().when(
      at(5, updated(3, { desired_state: 'Terminated' }), 'workspace-updated'),
      at(4, updated(2, { desired_state: 'Stopped', name: 'renamed' }), 'workspace-updated'),
      at(0, created(1), 'workspace-created'),
    );
    expect(outcomes).toEqual(['parked', 'parked', 'applied']);
    expect(fold.parked).toEqual([]);
    expect(fold.state?.version).toBe(3);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Terminated', name: 'renamed' }));
    // The applied parked updates count as folded: replaying their topic changes nothing.
    expect(fold.state?.offsets).toEqual({ 'workspace-created:0': '0', 'workspace-updated:0': '5' });
  });

  it('a parked update at or below the create version is dropped when the create arrives', () => {
    const { fold } = given().when(at(0, updated(1, { name: 'ignored' }), 'workspace-updated'), at(0, created(1), 'workspace-created'));
    expect(fold.state?.workspace?.name).toBe('ws-7');
  });

  it('parking the same update twice keeps one copy', () => {
    const { fold, outcomes } = given().when(at(0, updated(2, { name: 'a' })), at(0, updated(2, { name: 'a' })));
    expect(outcomes).toEqual(['parked', 'stale']);
    expect(fold.parked).toHaveLength(1);
  });

  it('a tombstone deletes the workspace and a redelivered create does not bring it back', () => {
    const history = stream(created(1), updated(2, { name: 'x' }), deleted());
    const { fold, outcomes } = given(...history).when(history[0]!, history[1]!, history[2]!);
    expect(outcomes).toEqual(['stale', 'stale', 'stale']);
    expect(fold.state).toEqual({
      version: 2, deleted: true, workspace: null, agentConfig: null,
      offsets: { 'workspace-events:0': '2' }, deletedOn: 'workspace-events:0', oversizedDevfile: null,
    });
  });

  it('a versioned delete (Debezium) records its version', () => {
    const { fold } = given(at(0, created(100))).when(at(1, deleted(250)));
    expect(fold.state?.version).toBe(250);
    expect(fold.state?.deleted).toBe(true);
  });

  it('a create carrying an agent config keeps it in the state', () => {
    const agentConfig = agentConfigSchema.parse({ dns_zone: 'z' });
    const { fold } = given().when(at(0, { type: 'workspace-created', ...header, version: 1, workspace: row(), agentConfig }));
    expect(fold.state?.agentConfig).toBe(agentConfig);
  });
});

describe('re-creation after a delete, and replays', () => {
  // What a rebuild from zero gives is the truth (spec: the read model is the fold of the whole history);
  // a replay from any offset must end in the same state.
  const renamed = row({ name: 'second-life', desired_state: 'Stopped' });

  it('a create after a tombstone on the same partition re-creates the workspace, whatever its version', () => {
    const { fold, outcomes } = given().when(...stream(created(1), deleted(), created(1, { name: 'second-life' }), updated(2, { desired_state: 'Stopped' })));
    expect(outcomes).toEqual(['applied', 'deleted', 'applied', 'applied']);
    expect(fold.state?.deleted).toBe(false);
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace).toEqual(renamed);
  });

  it('with updates between: create, updates, tombstone, re-create, update → the second life only', () => {
    const reads = stream(
      created(1), updated(2, { name: 'first-life' }), updated(3, { desired_state: 'Terminated' }), deleted(),
      created(1, { name: 'second-life' }), updated(2, { desired_state: 'Stopped' }),
    );
    expect(rebuild(reads).state?.workspace).toEqual(renamed);
  });

  it('a replay from every offset converges on the rebuild-from-zero state (our format, tombstones)', () => {
    const reads = stream(
      created(1), updated(2, { name: 'first-life' }), deleted(), created(1, { name: 'second-life' }),
      updated(2, { desired_state: 'Stopped' }), deleted(), created(1, { name: 'third-life' }),
    );
    const truth = rebuild(reads);
    expect(truth.state?.workspace?.name).toBe('third-life');
    for (let from = 0; from < reads.length; from++) expect(replayed(reads, from)).toEqual(truth);
  });

  it('a replay ending in a tombstone leaves the workspace deleted', () => {
    const reads = stream(created(1), deleted(), created(1), updated(2, { name: 'x' }), deleted());
    for (let from = 0; from < reads.length; from++) expect(replayed(reads, from).state?.deleted).toBe(true);
  });

  it('Debezium c/u/d/c with LSNs: rebuild and every replay give the re-created row', () => {
    const reads = stream(created(1000), updated(1100, { name: 'first-life' }), deleted(1200), deleted(), created(1300, { name: 'second-life' }), updated(1400, { desired_state: 'Stopped' }));
    const truth = rebuild(reads);
    expect(truth.state?.workspace).toEqual(renamed);
    expect(truth.state?.version).toBe(1400);
    for (let from = 0; from < reads.length; from++) expect(replayed(reads, from)).toEqual(truth);
  });

  it('an update from another topic for a deleted workspace, at or below its version, is stale (not parked)', () => {
    // Across topics versions decide: an update for a deleted workspace at or below its version is stale.
    const { outcomes } = given(...stream(created(1), updated(2, { name: 'x' }), deleted())).when(at(0, updated(2, { name: 'late' }), 'workspace-updated'));
    expect(outcomes).toEqual(['stale']);
  });

  it('a create on another topic with a version above the delete re-creates (versions decide across topics)', () => {
    const { fold, outcomes } = given(...stream(created(1), updated(2, { name: 'x' }), deleted())).when(at(0, created(3, { name: 'second-life' }), 'workspace-created'));
    expect(outcomes).toEqual(['applied']);
    expect(fold.state?.workspace?.name).toBe('second-life');
  });

  it('a create on another topic at or below the delete version stays deleted', () => {
    const { outcomes } = given(...stream(created(1), updated(2, { name: 'x' }), deleted())).when(at(0, created(2), 'workspace-created'));
    expect(outcomes).toEqual(['stale']);
  });
});

describe('full rows and compaction', () => {
  const fullUpdate = (version: number, overrides: Partial<WorkspaceRow>): WorkspaceEvent => ({
    type: 'workspace-updated', ...header, version, changes: { desired_state: overrides.desired_state ?? 'Running' }, row: row(overrides),
  });

  it('a full-row update (Debezium u with the whole after) stands in for a create that compaction removed', () => {
    const { fold, outcomes } = given().when(at(7, fullUpdate(1500, { desired_state: 'Stopped' })));
    expect(outcomes).toEqual(['applied']);
    expect(fold.state?.workspace).toEqual(row({ desired_state: 'Stopped' }));
  });

  it('a partial update without its create stays parked', () => {
    const { fold, outcomes } = given().when(at(7, updated(1500, { desired_state: 'Stopped' })));
    expect(outcomes).toEqual(['parked']);
    expect(fold.state).toBeUndefined();
  });
});

describe('oversized devfiles', () => {
  const huge = `schemaVersion: 2.2.0\n# ${'x'.repeat(MAX_DEVFILE_CHARACTERS)}\n`;
  const marker = { characters: huge.length, sha256: createHash('sha256').update(huge).digest('hex') };

  it('keeps a marker (characters, sha256) instead of a devfile over the limit, and versions still advance', () => {
    const { fold } = given().when(...stream(created(1, { processed_devfile: huge }), updated(2, { desired_state: 'Stopped' })));
    expect(fold.state?.version).toBe(2);
    expect(fold.state?.workspace).toEqual(row({ processed_devfile: null, desired_state: 'Stopped' }));
    expect(fold.state?.oversizedDevfile).toEqual(marker);
  });

  it('an update with an oversized devfile sets the marker; a later valid devfile clears it', () => {
    const reads = stream(created(1), updated(2, { processed_devfile: huge }));
    expect(rebuild(reads).state?.oversizedDevfile).toEqual(marker);
    const { fold } = given(...reads).when(at(2, updated(3, { processed_devfile: 'schemaVersion: 2.2.1' })));
    expect(fold.state?.oversizedDevfile).toBeNull();
    expect(fold.state?.workspace?.processed_devfile).toBe('schemaVersion: 2.2.1');
  });

  it('a devfile of exactly the limit is kept as it is', () => {
    const fits = 'x'.repeat(MAX_DEVFILE_CHARACTERS);
    const { fold } = given().when(at(0, created(1, { processed_devfile: fits })));
    expect(fold.state?.oversizedDevfile).toBeNull();
    expect(fold.state?.workspace?.processed_devfile).toBe(fits);
  });
});

describe('version origins', () => {
  const pos = (topic: string, offset: number, partition = 0) => ({ topic, partition, offset: String(offset) });

  it('each applied event appends its version, kind and position; parked updates get theirs when their create applies them', () => {
    const { fold } = given(
      at(0, updated(3, { name: 'third' }), 'updates'),
      at(1, updated(2, { desired_state: 'Stopped' }), 'updates'),
    ).when(at(0, created(1), 'creates'), at(2, updated(4, { url: 'https://x' }), 'updates'));
    expect(fold.newOrigins).toEqual([
      { version: 1, kind: 'created', ...pos('creates', 0) },
      { version: 2, kind: 'updated', ...pos('updates', 1) },
      { version: 3, kind: 'updated', ...pos('updates', 0) },
      { version: 4, kind: 'updated', ...pos('updates', 2) },
    ]);
  });

  it('stale and parked events append nothing; a delete and a re-create append theirs', () => {
    const history = stream(created(1), updated(2, { desired_state: 'Stopped' }));
    const { fold } = given(...history).when(history[1]!, at(2, deleted()), at(3, created(1, { name: 'again' })), at(0, updated(9, {}), 'other'));
    expect(fold.newOrigins).toEqual([
      { version: 1, kind: 'created', ...pos('workspace-events', 0) },
      { version: 2, kind: 'updated', ...pos('workspace-events', 1) },
      { version: 2, kind: 'deleted', ...pos('workspace-events', 2) },
      { version: 1, kind: 'created', ...pos('workspace-events', 3) },
      { version: 9, kind: 'updated', ...pos('other', 0) },
    ]);
    expect(given().when(at(5, updated(2, {}), 'updates')).fold.newOrigins).toEqual([]);
  });

  it('a full row standing in for a create is recorded as full-row', () => {
    const full: WorkspaceEvent = { type: 'workspace-updated', ...header, version: 1500, changes: { desired_state: 'Stopped' }, row: row({ desired_state: 'Stopped' }) };
    expect(given().when(at(4, full)).fold.newOrigins).toEqual([{ version: 1500, kind: 'full-row', ...pos('workspace-events', 4) }]);
  });

  it('a snapshot row starts at version 0 with the snapshot time as its origin', () => {
    const fold = snapshotFold(row(), '2026-12-01T22:00:00.000Z');
    expect(fold.state?.version).toBe(0);
    expect(fold.newOrigins).toEqual([{ version: 0, kind: 'snapshot', takenAt: '2026-12-01T22:00:00.000Z' }]);
  });
});

describe('comparing Kafka offsets (int64 as decimal strings)', () => {
  it('compares by value, also past 2^53 and across lengths', () => {
    const cases: [string, string, boolean][] = [
      ['9', '10', true], ['10', '9', false], ['5', '5', true], ['0', '0', true],
      ['999999999999999', '1000000000000000', true], ['9007199254740993', '9007199254740992', false],
      ['9223372036854775806', '9223372036854775807', true], ['9223372036854775807', '12', false],
    ];
    for (const [a, b, atMost] of cases) expect({ a, b, atMost: offsetAtMost(a, b) }).toEqual({ a, b, atMost });
  });
});
