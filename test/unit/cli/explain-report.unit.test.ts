import { describe, expect, it } from 'vitest';
import type { ExplainReport } from '../../../src/engine/explain.js';
import { explainJson, explainText } from '../../../src/cli/explain-report.js';

const updatedAt = new Date('2026-12-01T21:00:00.000Z');
const seen = new Date('2026-12-01T20:00:00.000Z');

/** A workspace with drift, a dead letter, a parked update and more origins than are kept. */
const report: ExplainReport = {
  workspaceId: 42,
  agentConfigMode: 'pinned',
  folded: { version: 7, deleted: false, offsets: { 'c:0': '10', 'u:1': '33' }, oversizedDevfile: null },
  origins: {
    origins: [
      { version: 0, kind: 'snapshot', takenAt: '2026-12-01T19:00:00.000Z' },
      { version: 7, kind: 'full-row', topic: 'u', partition: 1, offset: '33' },
    ],
    dropped: 3,
  },
  parked: [{ version: 9, position: { topic: 'u', partition: 1, offset: '40' } }],
  deadLetters: {
    letters: [
      { errorKind: 'devfile_invalid', errorPath: 'components[0]', message: 'workspace 42: bad', source: 'kafka', kafka: { topic: 'u', partition: 1, offset: '33' }, attempts: 2, firstSeenAt: seen, lastSeenAt: seen },
    ],
    total: 2,
  },
  agentConfig: { clusterAgentId: 5, pinnedVersion: 1, from: 'gitlab', source: { kind: 'version', configId: '8', versionId: '81', position: 1 } },
  liveRow: { projectId: 3, updatedAt },
  inGitlab: true,
  fromFolded: { ok: true, liveRow: 'differing', diff: { paths: ['desired_config[1].spec.replicas'], total: 4 } },
  fromGitlab: { ok: false, kind: 'agent_config_missing', path: undefined, message: 'cluster agent 5 has no workspaces_agent_configs row' },
  foldedVsGitlab: { paths: ['desired_state'], total: 1 },
};

describe('--explain output', () => {
  it('text: a summary line naming the problems, then each section, bounded', () => {
    expect(explainText(report)).toEqual([
      "agentk-states explain workspace 42: folded version 7, 1 parked updates, 2 dead letters, live row present, in GitLab's workspaces; " +
        "problems: 2 dead letters; the live row differs from what the folded state generates (4 paths); GitLab's workspaces row does not generate a row (agent_config_missing); " +
        "the folded state and GitLab's workspaces row disagree (1 columns)",
      'folded state: version 7, live, highest offsets c:0@10, u:1@33',
      'origins, oldest first (2 kept, 3 older dropped):',
      '  v0 snapshot taken 2026-12-01T19:00:00.000Z',
      '  v7 full-row u[1]@33',
      'parked updates: 1',
      '  v9 from u[1]@40',
      'dead letters: 2',
      '  devfile_invalid at components[0] (kafka, u[1]@33, 2 attempts): workspace 42: bad',
      '  … 1 more',
      'agent config: cluster agent 5, workspaces_agent_config_version 1 → workspaces_agent_config_versions row 81 (version #1 of agent config 8)',
      'live row: project_id 3, updated_at 2026-12-01T21:00:00.000Z',
      'generated from the folded state: differs from the live row at desired_config[1].spec.replicas … 3 more',
      "generated from GitLab's workspaces row: does not generate (agent_config_missing): cluster agent 5 has no workspaces_agent_configs row",
      "folded state vs GitLab's workspaces row: disagree on desired_state",
    ]);
  });

  it('text: why the live config row was used instead of a pinned version', () => {
    const live = (reason: 'live_mode' | 'no_such_version' | 'version_without_object') =>
      explainText({ ...report, agentConfig: { clusterAgentId: 5, pinnedVersion: 4, from: 'gitlab', source: { kind: 'live', configId: '8', reason, versions: 2 } } }).find((l) =>
        l.startsWith('agent config:'),
      );
    expect(live('no_such_version')).toBe(
      'agent config: cluster agent 5, workspaces_agent_config_version 4 → workspaces_agent_configs row 8 (live row: no version #4: the config has 2 versions)',
    );
    expect(live('version_without_object')).toContain('(live row: that version row has no object)');
    expect(live('live_mode')).toContain('(live row: --agent-config live)');
    expect(explainText({ ...report, agentConfig: { clusterAgentId: 5, pinnedVersion: 4, from: 'event' } })).toContain(
      'agent config: cluster agent 5, workspaces_agent_config_version 4 → the config its create event carried',
    );
  });

  it('JSON: one object with the same facts, snake_case', () => {
    expect(JSON.parse(explainJson(report))).toEqual({
      workspace_id: 42,
      agent_config_mode: 'pinned',
      problems: [
        '2 dead letters',
        'the live row differs from what the folded state generates (4 paths)',
        "GitLab's workspaces row does not generate a row (agent_config_missing)",
        "the folded state and GitLab's workspaces row disagree (1 columns)",
      ],
      folded_state: { version: 7, deleted: false, offsets: { 'c:0': '10', 'u:1': '33' }, oversized_devfile: null },
      origins: [
        { version: 0, kind: 'snapshot', taken_at: '2026-12-01T19:00:00.000Z' },
        { version: 7, kind: 'full-row', topic: 'u', partition: 1, offset: '33' },
      ],
      origins_dropped: 3,
      parked_updates: [{ version: 9, topic: 'u', partition: 1, offset: '40' }],
      dead_letters: [
        {
          kind: 'devfile_invalid', path: 'components[0]', message: 'workspace 42: bad', source: 'kafka',
          position: { topic: 'u', partition: 1, offset: '33' }, attempts: 2, first_seen_at: seen.toISOString(), last_seen_at: seen.toISOString(),
        },
      ],
      dead_letters_total: 2,
      agent_config: { cluster_agent_id: 5, pinned_version: 1, from: 'version', config_id: '8', version_id: '81', position: 1 },
      live_row: { project_id: 3, updated_at: updatedAt.toISOString() },
      in_gitlab: true,
      from_folded_state: { ok: true, live_row: 'differing', paths: ['desired_config[1].spec.replicas'], paths_total: 4 },
      from_gitlab_row: { ok: false, kind: 'agent_config_missing', path: null, message: 'cluster agent 5 has no workspaces_agent_configs row' },
      folded_vs_gitlab: { columns: ['desired_state'], columns_total: 1 },
    });
  });

  it('a deleted workspace with parked updates and a live row left: each is a problem', () => {
    const deleted: ExplainReport = {
      ...report,
      folded: { version: 7, deleted: true, offsets: {}, oversizedDevfile: null },
      deadLetters: { letters: [], total: 0 },
      fromFolded: null,
      fromGitlab: null,
      inGitlab: false,
      foldedVsGitlab: null,
    };
    const lines = explainText(deleted);
    expect(lines[0]).toBe(
      "agentk-states explain workspace 42: folded version 7 (deleted), 1 parked updates, 0 dead letters, live row present, not in GitLab's workspaces; " +
        "problems: 1 parked updates wait for the workspace's create; the folded state is deleted, but a live row exists",
    );
    expect(lines).toContain('generated from the folded state: nothing (deleted)');
    expect(lines).toContain("generated from GitLab's workspaces row: nothing (not in GitLab's workspaces)");
  });
});
