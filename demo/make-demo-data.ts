/**
 * Writes the demo data (`npm run demo-data`), deterministically (a seeded PRNG, fixed times: the same bytes
 * on every run):
 *
 *   demo/events.ndjson.gz   the event log, one JSON event per line (the README's encoding): a create per
 *                           workspace, updates (stop, restart, a new devfile), deletes (Debezium `d`: a bare
 *                           line has no key, so no tombstone), updates written before their create, and one bad
 *                           input per kind of failure (BAD_INPUTS)
 *   demo/gitlab.json.gz     what GitLab's tables hold after those events: the agent configs and the `workspaces`
 *                           rows (the workspaces the log did not delete, as its valid events leave them), which
 *                           `--demo` loads into the embedded database before the run
 *
 * The devfiles are GitLab's own (test/fixtures/gitlab: the seed workspace's and its spec fixtures).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeJson } from '../src/events/encode.js';
import type { WorkspaceChanges, WorkspaceRow, WorkspaceValueEvent } from '../projections/agentk-states/events.js';
import { packageRoot } from '../src/package-paths.js';

const WORKSPACES = 3000;

/** mulberry32: small, seeded, good enough to vary demo data. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
const random = prng(20261202);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const uuid = (): string => {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
};

const fixture = (path: string) => readFileSync(join(packageRoot, 'test/fixtures/gitlab', path), 'utf8');
const DEVFILES = [
  fixture('seed-processed-devfile.yaml'),
  fixture('background_migration/processed_devfile.yaml'),
  fixture('main_integration/processed_devfile_with_poststart_event.yaml'),
  fixture('main_integration/processed_devfile_with_legacy_poststart_event.yaml'),
  fixture('main_integration/processed_devfile_without_poststart_event.yaml'),
];

/** Four cluster agents, each with its own workspaces agent config (agent 5 has none: agent_config_missing). */
const AGENT_CONFIGS = [
  { id: 1, cluster_agent_id: 1, project_id: 1, dns_zone: 'workspaces.example.com' },
  { id: 2, cluster_agent_id: 2, project_id: 1, dns_zone: 'eu.workspaces.example.com', network_policy_enabled: false },
  { id: 3, cluster_agent_id: 3, project_id: 2, dns_zone: 'gpu.workspaces.example.com', default_resources_per_workspace_container: { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '500m', memory: '1Gi' } }, max_resources_per_workspace: { limits: { cpu: '8', memory: '16Gi' }, requests: { cpu: '2', memory: '4Gi' } } },
  { id: 4, cluster_agent_id: 4, project_id: 2, dns_zone: 'shared.workspaces.example.com', shared_namespace: 'workspaces-shared', labels: { team: 'platform' }, annotations: { 'example.com/cost-center': '42' } },
].map((config) => ({ created_at: '2025-09-01T00:00:00Z', updated_at: '2025-09-01T00:00:00Z', enabled: true, ...config }));

const start = Date.parse('2025-09-03T08:00:00Z');
const at = (minutes: number) => new Date(start + minutes * 60_000);

function row(id: number): WorkspaceRow {
  const created = at(id);
  const running = random() < 0.7;
  return {
    id, created_at: created, updated_at: created, user_id: 1 + Math.floor(random() * 400), project_id: 1000 + Math.floor(random() * 120),
    cluster_agent_id: 1 + (id % AGENT_CONFIGS.length), desired_state_updated_at: created, responded_to_agent_at: null,
    name: `workspace-${id}-${uuid().slice(0, 6)}`, namespace: `gl-rd-ns-${id}`, desired_state: running ? 'Running' : 'Stopped',
    actual_state: running ? 'Running' : 'Stopped', devfile_path: pick(['.devfile.yaml', '.devfile/ruby.yaml', '.devfile/node.yaml']), devfile: null,
    processed_devfile: pick(DEVFILES), url: null, deployment_resource_version: null, personal_access_token_id: null,
    force_include_all_resources: random() < 0.5, url_prefix: null, url_query_string: null, workspaces_agent_config_version: 0,
    desired_config_generator_version: 3, project_ref: pick(['main', 'master', 'develop']), actual_state_updated_at: created,
  };
}

const created = (workspace: WorkspaceRow): WorkspaceValueEvent => ({
  type: 'workspace-created', eventId: uuid(), workspaceId: workspace.id, version: 1, occurredAt: workspace.created_at, workspace,
});
const updated = (workspaceId: number, version: number, changes: WorkspaceChanges, occurredAt: Date): WorkspaceValueEvent => ({
  type: 'workspace-updated', eventId: uuid(), workspaceId, version, occurredAt, changes,
});
const line = (event: WorkspaceValueEvent): Buffer => encodeJson(event);
const deleted = (workspaceId: number, version: number, when: Date): Buffer =>
  Buffer.from(JSON.stringify({ before: { id: workspaceId }, after: null, op: 'd', source: { table: 'workspaces', lsn: version, ts_ms: when.getTime() }, ts_ms: when.getTime() }));

/**
 * The log and GitLab's tables. Its bad inputs, one per kind of failure (the reason each is dead-lettered with):
 * not_json, invalid_utf8, not_an_object, schema_invalid (a create whose version is a word: its workspace has
 * a `workspaces` row and no projected one), unsupported_operation, devfile_yaml, agent_config_missing.
 */
function makeDemoData(): { events: Buffer[]; gitlab: { workspaces_agent_configs: unknown[]; workspaces: WorkspaceRow[] } } {
  const events: Buffer[] = [];
  const tables = new Map<number, WorkspaceRow>();
  for (let id = 1; id <= WORKSPACES; id++) {
    let state = row(id);
    const lines: Buffer[] = [line(created(state))];
    let version = 1;
    const change = (changes: Partial<WorkspaceRow>) => {
      const when = at(id + version * 600);
      version++;
      const full = { ...changes, updated_at: when };
      state = { ...state, ...full };
      lines.push(line(updated(id, version, full, when)));
    };
    if (random() < 0.5) change({ desired_state: state.desired_state === 'Running' ? 'Stopped' : 'Running', desired_state_updated_at: at(id + 300) });
    if (random() < 0.2) change({ processed_devfile: pick(DEVFILES) });
    if (random() < 0.1) change({ actual_state: state.desired_state });
    // A few updates arrive before their create (another topic upstream, say): parked, then applied.
    if (id % 500 === 7 && lines.length > 1) lines.unshift(lines.splice(1, 1)[0]!);
    if (random() < 0.04) {
      lines.push(deleted(id, version + 1, at(id + 5000)));
    } else {
      tables.set(id, state);
    }
    events.push(...lines);
  }

  // The bad inputs, each for a workspace of its own past the valid ones, interleaved in the log.
  let next = WORKSPACES;
  const badAt = (position: number, bytes: Buffer) => events.splice(position, 0, bytes);
  const good = (overrides: Partial<WorkspaceRow>): WorkspaceRow => {
    const workspace = { ...row(++next), ...overrides };
    tables.set(workspace.id, workspace);
    return workspace;
  };
  badAt(1000, Buffer.from('{"type":"workspace-created","event_id":'));
  badAt(2000, Buffer.concat([Buffer.from('{"type":"workspace-created","name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]));
  badAt(3000, Buffer.from('["workspace-created", 42]'));
  const mistyped = JSON.parse(line(created(good({}))).toString('utf8')) as Record<string, unknown>;
  badAt(4000, Buffer.from(JSON.stringify({ ...mistyped, version: 'one' })));
  badAt(5000, Buffer.from(JSON.stringify({ before: null, after: null, op: 't', source: { table: 'workspaces', lsn: 1 }, ts_ms: start })));
  badAt(6000, line(created(good({ processed_devfile: 'components:\n  - name: [unclosed\n' }))));
  badAt(7000, line(created(good({ cluster_agent_id: AGENT_CONFIGS.length + 1 }))));

  const workspaces = [...tables.values()].sort((a, b) => a.id - b.id);
  return { events, gitlab: { workspaces_agent_configs: AGENT_CONFIGS, workspaces } };
}

/** Writes into the package's demo/, or the directory given as the first argument (the test compares the two). */
function main(): void {
  const { events, gitlab } = makeDemoData();
  const out = process.argv[2] ?? join(packageRoot, 'demo');
  const ndjson = Buffer.concat(events.flatMap((e) => [e, Buffer.from('\n')]));
  writeFileSync(join(out, 'events.ndjson.gz'), gzipSync(ndjson, { level: 9 }));
  writeFileSync(join(out, 'gitlab.json.gz'), gzipSync(Buffer.from(JSON.stringify(gitlab)), { level: 9 }));
  console.log(`${out}/events.ndjson.gz: ${events.length} lines; ${out}/gitlab.json.gz: ${gitlab.workspaces.length} workspaces`);
}

main();
