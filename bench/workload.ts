/**
 * The benchmark's workload: N workspaces, each with one create and K updates, generated deterministically
 * from a seed. Nothing here is stored: every workspace is a pure function of (seed, id), so the producer,
 * the PostgreSQL loader and the in-process generator each regenerate what they need, chunk by chunk, and
 * memory stays flat whatever N is.
 *
 * Variety (what a GitLab instance with many teams looks like):
 * - devfiles like the seed's (`test/fixtures/gitlab/seed-processed-devfile.yaml`): the editor-injected
 *   tooling container, the tools injector and project cloner init components, the data volume; plus 0–3
 *   sidecars (databases, caches, servers) → 1–4 containers, 2–6 endpoints, 1–4 volumes (some ephemeral),
 *   resources on some containers, postStart commands in legacy mode, normal mode (`gl-internal-blocking`
 *   with `workingDir`) or absent;
 * - six agents, each with a `workspaces_agent_configs` row: defaults; labels + annotations + quotas +
 *   default resources + pull secrets; no network policy + runtime class + user namespaces; shared namespace;
 *   several egress rules + privilege escalation + SSH-only proxy; proxy switches off;
 * - half of the creates carry their agent config (schema v2), the others leave it to the database.
 *
 * Updates are what GitLab's workspaces really see: desired_state flips (Running ⇄ Stopped, restarts),
 * which change the generated row, and agent reports (actual_state, responded_to_agent_at, resource version),
 * which do not.
 *
 * Stream order (see {@link eventStream}): the create of workspace i comes at step i, its j-th update at step
 * i + j·L with L = ⌈N / (K + 1)⌉, so creates and updates interleave and a workspace's updates land in later
 * fetch batches than its create, as they would when updates follow the create by hours.
 */
import { dump } from 'js-yaml';
import { agentConfigSchema, type AgentConfig } from '../projections/agentk-states/inputs.js';
import type { WorkspaceChanges, WorkspaceRow, WorkspaceValueEvent } from '../projections/agentk-states/events.js';

// ---------------------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------------------

/** 32-bit finalizer (murmur3 fmix32): spreads (seed, id, stream) into an independent PRNG seed. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for test data; never Math.random. */
export class Rng {
  private state: number;

  constructor(...keys: number[]) {
    let h = 0x9e3779b9;
    for (const key of keys) h = mix(h ^ mix(key >>> 0) ^ Math.floor(key / 2 ** 32));
    this.state = h;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `count` distinct items, in the order of `items`. */
  sample<T>(items: readonly T[], count: number): T[] {
    const chosen = new Set<number>();
    while (chosen.size < Math.min(count, items.length)) chosen.add(Math.floor(this.next() * items.length));
    return [...chosen].sort((a, b) => a - b).map((i) => items[i]!);
  }

  hex(length: number): string {
    let out = '';
    while (out.length < length) out += Math.floor(this.next() * 2 ** 32).toString(16).padStart(8, '0');
    return out.slice(0, length);
  }

  /** A version-4-shaped UUID. */
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(0, 3)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The spec of one workload
// ---------------------------------------------------------------------------------------------------------

export interface WorkloadSpec {
  /** Workspaces, ids 1..n. */
  n: number;
  /** Updates per workspace (versions 2..k+1). */
  k: number;
  seed: number;
}

/** The stream's update lag in steps (see the module comment). */
export function updateLag(spec: WorkloadSpec): number {
  return Math.max(1, Math.ceil(spec.n / (spec.k + 1)));
}

/** Events in the stream: n creates and n·k updates. */
export function eventCount(spec: WorkloadSpec): number {
  return spec.n * (spec.k + 1);
}

const BASE_TIME = Date.parse('2025-09-01T00:00:00Z');
const HOUR = 3_600_000;
/** Distinct projects the workspaces belong to (each has a `projects` row with its path). */
export const PROJECT_COUNT = 997;

// ---------------------------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------------------------

export interface BenchAgent {
  clusterAgentId: number;
  /** `workspaces_agent_configs.id`. */
  configId: number;
  /** Columns of its `workspaces_agent_configs` row (jsonb columns as values). */
  row: Record<string, string | number | boolean | object>;
  /** The same row as the generator sees it. */
  config: AgentConfig;
  /** Share of the workspaces on this agent. */
  weight: number;
}

const EGRESS_DEFAULT = [{ allow: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] }];

function agentRows(): { weight: number; columns: Record<string, string | number | boolean | object> }[] {
  return [
    // 1: a fresh install, every default.
    { weight: 30, columns: { dns_zone: 'workspaces.example.com' } },
    // 2: a platform team's agent: labels, annotations, quotas, default resources, a pull secret.
    {
      weight: 25,
      columns: {
        dns_zone: 'ws.platform.example.com',
        labels: { 'example.com/team': 'platform', 'example.com/cost-center': 'cc-4410', environment: 'dev' },
        annotations: { 'example.com/owner': 'platform-team@example.com', 'example.com/managed-by': 'gitlab-workspaces' },
        max_resources_per_workspace: { limits: { cpu: '8', memory: '16Gi' }, requests: { cpu: '4', memory: '8Gi' } },
        default_resources_per_workspace_container: { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '500m', memory: '1Gi' } },
        image_pull_secrets: [{ name: 'registry-credentials', namespace: 'gitlab-workspaces' }],
        workspaces_quota: 5000,
        workspaces_per_user_quota: 5,
      },
    },
    // 3: no network policy, gVisor, user namespaces.
    {
      weight: 10,
      columns: {
        dns_zone: 'sandbox.example.net',
        network_policy_enabled: false,
        default_runtime_class: 'gvisor',
        use_kubernetes_user_namespaces: true,
        labels: { sandbox: 'true' },
      },
    },
    // 4: one shared namespace for every workspace (extra label, pod selector, no ResourceQuota).
    {
      weight: 15,
      columns: {
        dns_zone: 'shared.example.org',
        shared_namespace: 'shared-workspaces',
        labels: { tier: 'shared' },
        annotations: { 'example.com/shared': 'yes' },
        max_resources_per_workspace: { limits: { cpu: '4', memory: '8Gi' }, requests: { cpu: '1', memory: '2Gi' } },
        network_policy_egress: [
          ...EGRESS_DEFAULT,
          { allow: '10.20.0.0/16', except: ['10.20.5.0/24'] },
          { allow: '192.168.100.0/24', except: [] },
        ],
      },
    },
    // 5: several egress rules, privilege escalation, SSH-only proxy, two pull secrets.
    {
      weight: 12,
      columns: {
        dns_zone: 'dev.internal.example.io',
        allow_privilege_escalation: true,
        gitlab_workspaces_proxy_http_enabled: false,
        gitlab_workspaces_proxy_namespace: 'workspaces-proxy',
        network_policy_egress: [
          { allow: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'] },
          { allow: '10.1.0.0/16', except: [] },
          { allow: '10.2.3.0/24', except: ['10.2.3.128/25'] },
          { allow: '172.20.0.0/14', except: [] },
        ],
        image_pull_secrets: [
          { name: 'harbor', namespace: 'registry' },
          { name: 'gcr-mirror', namespace: 'registry' },
        ],
        default_resources_per_workspace_container: { requests: { cpu: '250m', memory: '512Mi' } },
      },
    },
    // 6: proxy switches off (no ingress), labels, quotas.
    {
      weight: 8,
      columns: {
        dns_zone: 'offline.example.com',
        gitlab_workspaces_proxy_http_enabled: false,
        gitlab_workspaces_proxy_ssh_enabled: false,
        labels: { 'example.com/offline': 'true', 'app.kubernetes.io/part-of': 'workspaces' },
        max_resources_per_workspace: { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1', memory: '2Gi' } },
      },
    },
  ];
}

export function benchAgents(): BenchAgent[] {
  return agentRows().map(({ weight, columns }, index) => {
    const clusterAgentId = index + 1;
    const row = {
      created_at: '2025-08-01T00:00:00Z',
      updated_at: '2025-08-01T00:00:00Z',
      cluster_agent_id: clusterAgentId,
      project_id: 1,
      enabled: true,
      ...columns,
    };
    return { clusterAgentId, configId: clusterAgentId, row, config: agentConfigSchema.parse(row), weight };
  });
}

function pickAgent(rng: Rng, agents: readonly BenchAgent[]): BenchAgent {
  const total = agents.reduce((sum, a) => sum + a.weight, 0);
  let r = rng.next() * total;
  for (const agent of agents) {
    r -= agent.weight;
    if (r < 0) return agent;
  }
  return agents[agents.length - 1]!;
}

export function projectPath(projectId: number): string {
  const words = ['gitlab', 'shell', 'runner', 'docs', 'api', 'web', 'infra', 'tools', 'mobile', 'data'];
  return `${words[projectId % words.length]}-${words[Math.floor(projectId / 10) % words.length]}-${projectId}`;
}

// ---------------------------------------------------------------------------------------------------------
// Devfiles
// ---------------------------------------------------------------------------------------------------------

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

interface Sidecar {
  name: string;
  image: string;
  env: [string, string][];
  endpoints: { name: string; targetPort: number; exposure?: string; protocol?: string }[];
  resources?: [string, string, string, string];
  volume?: { name: string; path: string; size: string; ephemeral: boolean };
  command?: string;
}

const SIDECARS: Sidecar[] = [
  {
    name: 'postgres',
    image: 'postgres:16.4-bookworm',
    env: [['POSTGRES_USER', 'gitlab'], ['POSTGRES_PASSWORD', 'password'], ['POSTGRES_DB', 'gitlabhq_development'], ['PGDATA', '/var/lib/postgresql/data/pgdata']],
    endpoints: [{ name: 'postgres', targetPort: 5432, exposure: 'internal', protocol: 'tcp' }],
    resources: ['2Gi', '1Gi', '1', '250m'],
    volume: { name: 'postgres-data', path: '/var/lib/postgresql/data', size: '5Gi', ephemeral: false },
  },
  {
    name: 'redis',
    image: 'redis:7.4-alpine',
    env: [['REDIS_ARGS', '--save 60 1 --loglevel warning']],
    endpoints: [{ name: 'redis', targetPort: 6379, exposure: 'internal' }],
    resources: ['512Mi', '128Mi', '500m', '50m'],
    volume: { name: 'redis-cache', path: '/data', size: '1Gi', ephemeral: true },
  },
  {
    name: 'docs-preview',
    image: 'nginx:1.27-alpine',
    env: [['NGINX_PORT', '8080'], ['NGINX_ENTRYPOINT_QUIET_LOGS', '1']],
    endpoints: [
      { name: 'docs', targetPort: 8080, exposure: 'public', protocol: 'https' },
      { name: 'docs-live-reload-websocket', targetPort: 35729, exposure: 'public', protocol: 'wss' },
    ],
  },
  {
    name: 'minio',
    image: 'quay.io/minio/minio:RELEASE.2024-10-13T13-34-11Z',
    env: [['MINIO_ROOT_USER', 'minio'], ['MINIO_ROOT_PASSWORD', 'gdk-minio'], ['MINIO_BROWSER', 'on']],
    endpoints: [
      { name: 'minio-api', targetPort: 9000, exposure: 'internal', protocol: 'http' },
      { name: 'minio-console', targetPort: 9001, exposure: 'public', protocol: 'https' },
    ],
    resources: ['1Gi', '256Mi', '1', '100m'],
    volume: { name: 'minio-data', path: '/data', size: '10Gi', ephemeral: false },
    command: 'server /data --console-address :9001',
  },
  {
    name: 'statsd',
    image: 'prom/statsd-exporter:v0.27.2',
    env: [],
    endpoints: [
      { name: 'statsd-udp', targetPort: 9125, exposure: 'none', protocol: 'udp' },
      { name: 'metrics', targetPort: 9102, exposure: 'internal', protocol: 'http' },
    ],
    resources: ['128Mi', '64Mi', '200m', '20m'],
  },
];

const TOOLING_IMAGES = [
  'registry.gitlab.com/gitlab-org/workspaces/gitlab-workspaces-docs/ubuntu:22.04',
  'registry.gitlab.com/gitlab-org/gitlab-build-images/workspaces/ubuntu-24.04:20250109',
  'registry.gitlab.com/gitlab-org/remote-development/gitlab-remote-development-docs/debian-bullseye-ruby-3.2-node-18.12:rubygems-3.4-git-2.33-lfs-2.9-yarn-1.22-graphicsmagick-1.3.36-gitlab-workspaces',
  'node:20-bookworm',
  'ruby:3.3-bookworm',
  'golang:1.23-bookworm',
  'python:3.12-slim-bookworm',
];

const USER_ENDPOINTS: { name: string; targetPort: number; exposure: string; protocol: string }[] = [
  { name: 'rails-web-server', targetPort: 3000, exposure: 'public', protocol: 'https' },
  { name: 'vite', targetPort: 3038, exposure: 'public', protocol: 'https' },
  { name: 'webpack-dev-server', targetPort: 3808, exposure: 'public', protocol: 'https' },
  { name: 'api', targetPort: 8000, exposure: 'public', protocol: 'http' },
  { name: 'debug', targetPort: 9229, exposure: 'internal', protocol: 'tcp' },
  { name: 'grpc', targetPort: 50051, exposure: 'internal', protocol: 'http' },
];

const USER_ENV: [string, string][] = [
  ['RAILS_ENV', 'development'],
  ['NODE_OPTIONS', '--max-old-space-size=4096'],
  ['BUNDLE_PATH', '/projects/.bundle'],
  ['GOPATH', '/projects/.go'],
  ['PIP_CACHE_DIR', '/projects/.cache/pip'],
  ['EDITOR', 'vim'],
  ['TZ', 'UTC'],
  ['FEATURE_FLAGS', 'true'],
  ['LOG_LEVEL', '1'],
];

const CLONER_SCRIPT = (branch: string, url: string, dir: string) => `echo "$(date -Iseconds): ----------------------------------------"
echo "$(date -Iseconds): Cloning project if necessary..."

if [ -f "/projects/.gl_project_cloning_successful" ]
then
  echo "$(date -Iseconds): Project cloning was already successful"
  exit 0
fi

if [ -d "/projects/${dir}" ]
then
  echo "$(date -Iseconds): Removing unsuccessfully cloned project directory"
  rm -rf "/projects/${dir}"
fi

echo "$(date -Iseconds): Cloning project"
git clone --branch "${branch}" "${url}" "/projects/${dir}"
exit_code=$?

if [ "\${exit_code}" -eq 0 ]
then
  echo "$(date -Iseconds): Project cloning successful"
  touch "/projects/.gl_project_cloning_successful"
  echo "$(date -Iseconds): Updated file to indicate successful project cloning"
else
  echo "$(date -Iseconds): Project cloning failed with exit code: \${exit_code}" >&2
fi

echo "$(date -Iseconds): Finished cloning project if necessary."
exit "\${exit_code}"
`;

const START_SSHD = `#!/bin/sh
echo "$(date -Iseconds): ----------------------------------------"
echo "$(date -Iseconds): Starting sshd if it is found..."
sshd_path=$(which sshd)
if [ -x "\${sshd_path}" ]; then
  echo "$(date -Iseconds): Starting \${sshd_path} on port \${GL_SSH_PORT} with output written to \${GL_WORKSPACE_LOGS_DIR}/start-sshd.log"
  "\${sshd_path}" -D -p "\${GL_SSH_PORT}" >> "\${GL_WORKSPACE_LOGS_DIR}/start-sshd.log" 2>&1 &
else
  echo "$(date -Iseconds): 'sshd' not found in path. Not starting SSH server." >&2
fi
echo "$(date -Iseconds): Finished starting sshd if it is found."
`;

const INIT_TOOLS = `#!/bin/sh
echo "$(date -Iseconds): ----------------------------------------"
echo "$(date -Iseconds): Running \${GL_TOOLS_DIR}/init_tools.sh with output written to \${GL_WORKSPACE_LOGS_DIR}/init-tools.log..."
"\${GL_TOOLS_DIR}/init_tools.sh" >> "\${GL_WORKSPACE_LOGS_DIR}/init-tools.log" 2>&1 &
echo "$(date -Iseconds): Finished running \${GL_TOOLS_DIR}/init_tools.sh."
`;

const SLEEP_UNTIL_RUNNING = `#!/bin/sh
echo "$(date -Iseconds): ----------------------------------------"
echo "$(date -Iseconds): Sleeping until workspace is running..."
time_to_sleep=5
status_file="/.workspace-data/variables/file/gl_workspace_reconciled_actual_state.txt"
while [ "$(cat \${status_file})" != "Running" ]; do
  echo "$(date -Iseconds): Workspace state is '$(cat \${status_file})' from status file '\${status_file}'. Blocking remaining postStart events execution for \${time_to_sleep} seconds until state is 'Running'..."
  sleep \${time_to_sleep}
done
echo "$(date -Iseconds): Workspace state is now 'Running', continuing postStart hook execution."
echo "$(date -Iseconds): Finished sleeping until workspace is running."
`;

const USER_POSTSTART: { id: string; commandLine: string; workingDir?: string }[] = [
  { id: 'install-dependencies', commandLine: 'bundle install --jobs 4 && yarn install --frozen-lockfile', workingDir: '${PROJECT_SOURCE}' },
  { id: 'db-migrate', commandLine: 'bin/rails db:prepare' },
  { id: 'warm-caches', commandLine: 'go mod download && go build ./...', workingDir: '/projects/src app' },
  { id: 'print-banner', commandLine: "echo 'Welcome to your workspace!' > /tmp/banner" },
];

export interface DevfileTexts {
  /** `processed_devfile`: what GitLab stores after processing (the generator's input). */
  processed: string;
  /** `devfile`: the user's file before processing. */
  raw: string;
}

function buildDevfile(rng: Rng, projectId: number): DevfileTexts {
  const path = projectPath(projectId);
  const sidecars = rng.sample(SIDECARS, rng.pick([0, 0, 1, 1, 1, 2, 2, 3]));
  const userEndpoints = rng.sample(USER_ENDPOINTS, rng.int(0, 3));
  const dataSize = rng.pick(['10Gi', '20Gi', '50Gi', '50Gi', '100Gi']);
  const postStartMode = rng.pick(['none', 'legacy', 'legacy', 'normal', 'normal', 'normal'] as const);

  const toolingEnv: Yaml[] = [
    { name: 'GL_TOOLS_DIR', value: '/projects/.gl-tools' },
    { name: 'GL_EDITOR_LOG_LEVEL', value: 'info' },
    { name: 'GL_EDITOR_PORT', value: '60001' },
    { name: 'GL_SSH_PORT', value: '60022' },
    { name: 'GL_EDITOR_ENABLE_MARKETPLACE', value: rng.pick(['false', 'true']) },
    ...rng.sample(USER_ENV, rng.int(0, 4)).map(([name, value]) => ({ name, value })),
  ];
  const tooling: { [key: string]: Yaml } = {
    dedicatedPod: false,
    image: rng.pick(TOOLING_IMAGES),
    mountSources: true,
    env: toolingEnv,
    endpoints: [
      { name: 'editor-server', targetPort: 60001, exposure: 'public', secure: true, protocol: 'https' },
      { name: 'ssh-server', targetPort: 60022, exposure: 'internal', secure: true },
      ...userEndpoints.map((e) => ({ ...e, secure: e.protocol === 'https' })),
    ],
    command: ['/bin/sh', '-c'],
    args: ['tail -f /dev/null\n'],
    volumeMounts: [{ name: 'gl-workspace-data', path: '/projects' }],
  };
  if (rng.chance(0.4)) {
    tooling.memoryLimit = rng.pick(['4Gi', '8Gi', '6144Mi']);
    tooling.memoryRequest = rng.pick(['1Gi', '2Gi', '1536Mi']);
    tooling.cpuLimit = rng.pick(['2', '4', '2500m']);
    tooling.cpuRequest = rng.pick(['500m', '1', '0.5']);
  }

  const sidecarComponents: { [key: string]: Yaml }[] = sidecars.map((s) => {
    const container: { [key: string]: Yaml } = {
      image: s.image,
      env: s.env.map(([name, value]) => ({ name, value })),
      endpoints: s.endpoints.map((e) => ({ ...e })),
      mountSources: false,
      volumeMounts: [s.volume ? { name: s.volume.name, path: s.volume.path } : { name: 'gl-workspace-data', path: '/projects' }],
    };
    if (s.command) {
      container.command = ['/bin/sh', '-c'];
      container.args = [s.command];
    }
    if (s.resources) {
      [container.memoryLimit, container.memoryRequest, container.cpuLimit, container.cpuRequest] = s.resources;
    }
    return { name: s.name, container };
  });

  const volumes: { [key: string]: Yaml }[] = [
    { name: 'gl-workspace-data', volume: { size: dataSize } },
    ...sidecars.flatMap((s): { [key: string]: Yaml }[] => {
      if (!s.volume) return [];
      const volume: { [key: string]: Yaml } = { size: s.volume.size };
      if (s.volume.ephemeral) volume.ephemeral = true;
      return [{ name: s.volume.name, volume }];
    }),
  ];

  const branch = rng.pick(['main', 'main', 'master', 'develop', `feature/${rng.hex(6)}`]);
  const cloneUrl = `https://gitlab.example.com/group-${projectId % 37}/${path}.git`;
  const components: { [key: string]: Yaml }[] = [
    { attributes: { 'gl/inject-editor': true }, container: tooling, name: 'tooling-container' },
    ...sidecarComponents,
    {
      name: 'gl-tools-injector',
      container: {
        image: 'registry.gitlab.com/gitlab-org/workspaces/gitlab-workspaces-tools:15.0.0',
        env: [{ name: 'GL_TOOLS_DIR', value: '/projects/.gl-tools' }],
        memoryLimit: '512Mi',
        memoryRequest: '256Mi',
        cpuLimit: '500m',
        cpuRequest: '100m',
        volumeMounts: [{ name: 'gl-workspace-data', path: '/projects' }],
      },
    },
    {
      name: 'gl-project-cloner',
      container: {
        image: 'alpine/git:2.45.2',
        args: [CLONER_SCRIPT(branch, cloneUrl, path)],
        command: ['/bin/sh', '-c'],
        memoryLimit: '1000Mi',
        memoryRequest: '500Mi',
        cpuLimit: '500m',
        cpuRequest: '100m',
        volumeMounts: [{ name: 'gl-workspace-data', path: '/projects' }],
      },
    },
    ...volumes,
  ];

  const commands: { [key: string]: Yaml }[] = [
    { id: 'gl-tools-injector-command', apply: { component: 'gl-tools-injector' } },
    { id: 'gl-project-cloner-command', apply: { component: 'gl-project-cloner' } },
  ];
  const postStart: string[] = [];
  const userCommands = postStartMode === 'none' ? [] : rng.sample(USER_POSTSTART, rng.int(0, 2));
  if (postStartMode !== 'none') {
    const internal = [
      { id: 'gl-start-sshd-command', commandLine: START_SSHD },
      { id: 'gl-init-tools-command', commandLine: INIT_TOOLS },
      { id: 'gl-sleep-until-container-is-running-command', commandLine: SLEEP_UNTIL_RUNNING },
    ];
    for (const command of internal) {
      const exec: { [key: string]: Yaml } = { commandLine: command.commandLine, component: 'tooling-container' };
      if (postStartMode === 'normal') {
        exec.label = 'gl-internal-blocking';
        exec.workingDir = '/projects';
      }
      commands.push({ id: command.id, exec });
      postStart.push(command.id);
    }
  }
  for (const command of userCommands) {
    const component = sidecars.length > 0 && rng.chance(0.25) ? sidecars[0]!.name : 'tooling-container';
    const exec: { [key: string]: Yaml } = { commandLine: command.commandLine, component };
    if (command.workingDir !== undefined) exec.workingDir = command.workingDir;
    commands.push({ id: command.id, exec });
    postStart.push(command.id);
  }
  const events: { [key: string]: Yaml } = { preStart: ['gl-tools-injector-command', 'gl-project-cloner-command'] };
  if (postStart.length > 0) events.postStart = postStart;

  const processed: { [key: string]: Yaml } = { components, metadata: {}, schemaVersion: '2.2.0', commands, events, variables: {} };
  const raw: { [key: string]: Yaml } = {
    schemaVersion: '2.2.0',
    components: [{ name: 'tooling-container', attributes: { 'gl/inject-editor': true }, container: { image: tooling.image ?? '' } }, ...sidecarComponents],
    ...(userCommands.length > 0
      ? { commands: userCommands.map((c) => ({ id: c.id, exec: { commandLine: c.commandLine, component: 'tooling-container' } })) }
      : {}),
  };
  const options = { lineWidth: -1, noRefs: true, quotingType: "'" as const };
  return { processed: `---\n${dump(processed, options)}`, raw: dump(raw, options) };
}

/** Where a plan's devfile texts come from: built on the spot, or a cache of them (devfile-cache.ts). */
export interface DevfileSource {
  texts(id: number, build: () => DevfileTexts): DevfileTexts;
}

// ---------------------------------------------------------------------------------------------------------
// Workspaces and their events
// ---------------------------------------------------------------------------------------------------------

export interface WorkspacePlan {
  agent: BenchAgent;
  /** The row as created (version 1). */
  created: WorkspaceRow;
  /** Changes of versions 2..k+1. */
  updates: { changes: WorkspaceChanges; occurredAt: Date; eventId: string }[];
  /** The row after every update: what GitLab's `workspaces` table holds at the end. */
  final: WorkspaceRow;
  /** Whether the create event carries the agent config (schema v2) or leaves it to the database. */
  carriesAgentConfig: boolean;
  createEventId: string;
  projectPath: string;
}

/**
 * Everything about workspace `id`. `devfiles`: false leaves the devfile texts empty (enough for updates),
 * true builds them, a DevfileSource may serve them from a cache. Nothing depends on `spec.n`, so the first
 * n workspaces of a bigger workload are the same workspaces.
 */
export function planWorkspace(spec: WorkloadSpec, agents: readonly BenchAgent[], id: number, devfiles: boolean | DevfileSource = true): WorkspacePlan {
  const rng = new Rng(spec.seed, id, 1);
  const agent = pickAgent(rng, agents);
  const userId = rng.int(1, 40_000);
  const projectId = rng.int(1, PROJECT_COUNT);
  const suffix = `${rng.hex(4)}${id.toString(36)}`;
  const name = `workspace-${agent.clusterAgentId}-${userId}-${suffix}`;
  const createdAt = new Date(BASE_TIME + id * 1000);
  const carriesAgentConfig = rng.chance(0.5);
  const createEventId = rng.uuid();
  const path = projectPath(projectId);
  const urlPrefix = `60001-${name}`;
  const urlQuery = `folder=dir%2Fprojects%2F${encodeURIComponent(path)}`;
  // The devfile has its own stream so that plans without it draw the same numbers for everything else.
  const build = () => buildDevfile(new Rng(spec.seed, id, 2), projectId);
  const devfile = devfiles === false ? { processed: '', raw: '' } : devfiles === true ? build() : devfiles.texts(id, build);
  const created: WorkspaceRow = {
    id,
    created_at: createdAt,
    updated_at: createdAt,
    user_id: userId,
    project_id: projectId,
    cluster_agent_id: agent.clusterAgentId,
    desired_state_updated_at: createdAt,
    responded_to_agent_at: null,
    name,
    namespace: agent.config.shared_namespace || `gl-rd-ns-${agent.clusterAgentId}-${userId}-${suffix}`,
    desired_state: 'Running',
    actual_state: 'CreationRequested',
    devfile_path: rng.pick(['.devfile.yaml', '.devfile.yml', '.gitlab/.devfile.yaml']),
    devfile: devfile.raw,
    processed_devfile: devfile.processed,
    url: `https://${urlPrefix}.${agent.config.dns_zone}/?${urlQuery}`,
    deployment_resource_version: null,
    personal_access_token_id: rng.int(1, 10_000_000),
    force_include_all_resources: true,
    url_prefix: urlPrefix,
    url_query_string: urlQuery,
    workspaces_agent_config_version: 0,
    desired_config_generator_version: 3,
    project_ref: 'main',
    actual_state_updated_at: createdAt,
  };

  const updates: WorkspacePlan['updates'] = [];
  const updateRng = new Rng(spec.seed, id, 3);
  let current: WorkspaceRow = created;
  let at = createdAt.getTime();
  for (let j = 1; j <= spec.k; j++) {
    at += updateRng.int(HOUR / 60, 8 * HOUR);
    const when = new Date(at);
    const kind = updateRng.next();
    let changes: WorkspaceChanges;
    if (kind < 0.6) {
      // The user stops or starts the workspace: the generated Deployment's replicas change.
      changes = { desired_state: current.desired_state === 'Running' ? 'Stopped' : 'Running', desired_state_updated_at: when, updated_at: when };
    } else if (kind < 0.7) {
      changes = { desired_state: 'RestartRequested', desired_state_updated_at: when, updated_at: when };
    } else {
      // agentk reports back: nothing the generator reads changes.
      changes = {
        actual_state: current.desired_state === 'Running' ? 'Running' : 'Stopped',
        responded_to_agent_at: when,
        actual_state_updated_at: when,
        deployment_resource_version: String(updateRng.int(100_000, 99_999_999)),
        updated_at: when,
      };
    }
    current = { ...current, ...changes };
    updates.push({ changes, occurredAt: when, eventId: updateRng.uuid() });
  }
  return { agent, created, updates, final: current, carriesAgentConfig, createEventId, projectPath: path };
}

/** Event `version` of workspace plan (1 = the create). */
export function planEvent(plan: WorkspacePlan, version: number): WorkspaceValueEvent {
  if (version === 1) {
    const event: WorkspaceValueEvent = {
      type: 'workspace-created',
      eventId: plan.createEventId,
      workspaceId: plan.created.id,
      version: 1,
      occurredAt: plan.created.created_at,
      workspace: plan.created,
    };
    if (plan.carriesAgentConfig) event.agentConfig = plan.agent.config;
    return event;
  }
  const update = plan.updates[version - 2]!;
  return {
    type: 'workspace-updated',
    eventId: update.eventId,
    workspaceId: plan.created.id,
    version,
    occurredAt: update.occurredAt,
    changes: update.changes,
  };
}

/** (workspace id, version) of every event, in stream order (see the module comment). */
export function* eventStream(spec: WorkloadSpec): Generator<{ workspaceId: number; version: number }> {
  const lag = updateLag(spec);
  const steps = spec.n + spec.k * lag;
  for (let step = 0; step < steps; step++) {
    if (step < spec.n) yield { workspaceId: step + 1, version: 1 };
    for (let j = 1; j <= spec.k; j++) {
      const index = step - j * lag;
      if (index >= 0 && index < spec.n) yield { workspaceId: index + 1, version: j + 1 };
    }
  }
}
