/**
 * The one support module of the agentk-states projection's unit tests (spec:
 * /work/shared/spec/desired-config.md). GitLab's fixtures are read in ./fixtures.ts and GitLab's variants
 * transcribed in ./gitlab-variants.ts: those are data.
 *
 * Three kinds of helper live here:
 * - input builders: a default agent config, a workspace row, one minimal valid devfile (as YAML lines a
 *   test splices, or as an object a test edits, dumped to YAML);
 * - expected-value builders, each written from a named spec section (never from generator output);
 * - accessors and an error assertion, so tests read as "this object has this part".
 */
import { dump, load } from 'js-yaml';
import { expect } from 'vitest';
import type { z } from 'zod';

import { DesiredConfigError, type DesiredConfigErrorKind } from '../../../projections/agentk-states/errors.js';
import { generateDesiredConfig } from '../../../projections/agentk-states/generate.js';
import {
  agentConfigSchema,
  workspaceInputSchema,
  type AgentConfig,
  type GeneratorInput,
  type JsonObject,
  type JsonValue,
  type KubernetesObject,
  type WorkspaceInput,
} from '../../../projections/agentk-states/inputs.js';

// ---------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------

/** Agent-config columns as they come from the database, before defaults apply. */
export type AgentConfigOverrides = Partial<z.input<typeof agentConfigSchema>>;

/** The default agent config (§1.2 defaults) with `dns_zone` `test.workspace.me`, plus overrides. */
export function agentConfig(overrides: AgentConfigOverrides = {}): AgentConfig {
  return agentConfigSchema.parse({ dns_zone: 'test.workspace.me', ...overrides });
}

/** The workspace most tests use: id 42, name `ws-a`, namespace `ns-a`, agent 7, Running. */
export const WS = { id: 42, name: 'ws-a', namespace: 'ns-a', agentId: 7 } as const;

export function workspace(overrides: Partial<z.input<typeof workspaceInputSchema>> = {}): WorkspaceInput {
  return workspaceInputSchema.parse({
    id: WS.id,
    name: WS.name,
    namespace: WS.namespace,
    desired_state: 'Running',
    cluster_agent_id: WS.agentId,
    processed_devfile: devfileYaml(minimalDevfile()),
    ...overrides,
  });
}

export interface InputOverrides {
  /** Devfile object (dumped to YAML) or raw YAML text / null for `processed_devfile`. */
  devfile?: Devfile | string | null;
  workspace?: Partial<z.input<typeof workspaceInputSchema>>;
  agent?: AgentConfigOverrides;
  projectPath?: string;
}

export function generatorInput(overrides: InputOverrides = {}): GeneratorInput {
  const devfile = overrides.devfile === undefined ? minimalDevfile() : overrides.devfile;
  const processedDevfile = devfile === null || typeof devfile === 'string' ? devfile : devfileYaml(devfile);
  const input: GeneratorInput = {
    workspace: workspace({ processed_devfile: processedDevfile, ...overrides.workspace }),
    agentConfig: agentConfig(overrides.agent),
  };
  if (overrides.projectPath !== undefined) input.projectPath = overrides.projectPath;
  return input;
}

/** Runs the generator on `generatorInput(overrides)`. */
export function generate(overrides: InputOverrides = {}): KubernetesObject[] {
  return generateDesiredConfig(generatorInput(overrides));
}

// ---------------------------------------------------------------------------------------------------------
// Devfile builder
// ---------------------------------------------------------------------------------------------------------

export interface DevfileEndpoint {
  name: string;
  targetPort: number;
  exposure?: 'public' | 'internal' | 'none';
  protocol?: string;
  secure?: boolean;
}

export interface DevfileContainer {
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  endpoints?: DevfileEndpoint[];
  volumeMounts?: Array<{ name: string; path?: string }>;
  memoryLimit?: string;
  memoryRequest?: string;
  cpuLimit?: string;
  cpuRequest?: string;
  mountSources?: boolean;
  sourceMapping?: string;
  dedicatedPod?: boolean;
}

export interface DevfileComponent {
  name: string;
  attributes?: Record<string, JsonValue>;
  container?: DevfileContainer;
  volume?: { size?: string; ephemeral?: boolean };
  [otherKind: string]: unknown;
}

export interface DevfileExec {
  commandLine?: string;
  component?: string;
  label?: string;
  workingDir?: string;
}

export interface DevfileCommand {
  id: string;
  exec?: DevfileExec;
  apply?: { component: string };
}

export interface Devfile {
  schemaVersion: string;
  metadata?: JsonObject;
  components: DevfileComponent[];
  commands?: DevfileCommand[];
  events?: { preStart?: string[]; postStart?: string[] | null; postStop?: string[] };
  variables?: JsonObject;
}

/**
 * The smallest devfile this spec accepts (§10.1 needs a volume component, a mount on every container and
 * at least one init container), one line per entry so that a test can splice in syntax a dumper would
 * never write: container `main` (the main component, `gl/inject-editor: true`), container `cloner` started
 * by the preStart apply command `clone`, volume `data` of `1Gi` mounted at `/projects`. No postStart.
 * Line numbers (from 0) that tests splice at: 2 and 7 the container names, 3 main's attributes, 5 and 9
 * the images, 6 and 10 the mounts, 11–12 the volume, 13–15 the commands, 16–17 the events.
 */
export function minimalDevfileLines(): string[] {
  return [
    'schemaVersion: 2.2.0',
    'components:',
    '  - name: main',
    '    attributes: {gl/inject-editor: true}',
    '    container:',
    '      image: example.test/main:1',
    '      volumeMounts: [{name: data, path: /projects}]',
    '  - name: cloner',
    '    container:',
    '      image: example.test/cloner:1',
    '      volumeMounts: [{name: data, path: /projects}]',
    '  - name: data',
    '    volume: {size: 1Gi}',
    'commands:',
    '  - id: clone',
    '    apply: {component: cloner}',
    'events:',
    '  preStart: [clone]',
  ];
}

/** YAML text of lines. */
export function yaml(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The minimal devfile's YAML with extra lines in the `main` and `cloner` containers, after their image. */
export function minimalYamlWith(mainContainerExtraLines: string[], clonerContainerExtraLines: string[] = []): string {
  // Empty lines stay empty: inside a multi-line scalar, a test may mean exactly that.
  const indented = (extra: string[]): string[] => extra.map((line) => (line === '' ? '' : `      ${line}`));
  const lines = minimalDevfileLines();
  // Before the mounts (lines 10, 6); cloner first, so main's line numbers still hold.
  lines.splice(10, 0, ...indented(clonerContainerExtraLines));
  lines.splice(6, 0, ...indented(mainContainerExtraLines));
  return yaml(lines);
}

/** The minimal devfile as an object to edit: parsed from its lines, so both forms are one devfile. */
export function minimalDevfile(): Devfile {
  return load(yaml(minimalDevfileLines())) as Devfile;
}

/** YAML text of a devfile object. `noRefs` matters: shared sub-objects must not become aliases (§1.4). */
export function devfileYaml(devfile: Devfile): string {
  return dump(devfile, { noRefs: true, lineWidth: -1 });
}

export function componentOf(devfile: Devfile, name: string): DevfileComponent {
  const component = devfile.components.find((c) => c.name === name);
  if (component === undefined) throw new Error(`test devfile has no component ${name}`);
  return component;
}

export function containerOf(devfile: Devfile, name: string): DevfileContainer {
  const container = componentOf(devfile, name).container;
  if (container === undefined) throw new Error(`test devfile component ${name} is not a container`);
  return container;
}

/** Adds an exec command (not referenced by any event) and returns the devfile. */
export function addExecCommand(devfile: Devfile, id: string, exec: DevfileExec): Devfile {
  (devfile.commands ??= []).push({ id, exec });
  return devfile;
}

/** Adds a container component that mounts `data` at `/projects` (so it passes §10.1). */
export function addContainer(devfile: Devfile, name: string, extra: Partial<DevfileContainer> = {}): Devfile {
  const volumeIndex = devfile.components.findIndex((c) => c.volume !== undefined);
  const component: DevfileComponent = {
    name,
    container: { image: `example.test/${name}:1`, volumeMounts: [{ name: 'data', path: '/projects' }], ...extra },
  };
  devfile.components.splice(volumeIndex === -1 ? devfile.components.length : volumeIndex, 0, component);
  return devfile;
}

// ---------------------------------------------------------------------------------------------------------
// Expected values, written from the spec
// ---------------------------------------------------------------------------------------------------------

/** §3.2, first row. */
export const SHA256_OF_EMPTY_MAX_RESOURCES = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
/** §3.2, second row: `{"requests":{"memory":"1Gi","cpu":"1"},"limits":{"memory":"4Gi","cpu":"2"}}` deep-sorted. */
export const SHA256_OF_EXAMPLE_MAX_RESOURCES = '06879e20c353a4d871fb360635f6a87483987d44953ac6384af0451e8faa47ca';
/** §3.2: what the retired shallow sort gives for the same input; the target must never produce it. */
export const SHA256_OF_EXAMPLE_MAX_RESOURCES_SHALLOW =
  '24aefc317e11db538ede450d1773e273966b9801b988d49e1219f2a9bf8e7f66';
export const EXAMPLE_MAX_RESOURCES = { requests: { memory: '1Gi', cpu: '1' }, limits: { memory: '4Gi', cpu: '2' } };

/** §5.2 step 1, with the agent's `allow_privilege_escalation`. */
export function containerSecurityContext(allowPrivilegeEscalation = false): JsonObject {
  return { allowPrivilegeEscalation, privileged: false, runAsNonRoot: true, runAsUser: 5001 };
}

/** §5.2 pod `securityContext`. */
export const POD_SECURITY_CONTEXT: JsonObject = {
  runAsNonRoot: true,
  runAsUser: 5001,
  fsGroup: 0,
  fsGroupChangePolicy: 'OnRootMismatch',
};

/** §5.2 step 3. */
export const VARIABLES_MOUNT: JsonObject = { name: 'gl-workspace-variables', mountPath: '/.workspace-data/variables/file' };
/** §5.2, when scripts exist. */
export const SCRIPTS_MOUNT: JsonObject = { name: 'gl-workspace-scripts', mountPath: '/workspace-scripts' };

/** §5.2 step 4. */
export function envFrom(name: string): JsonValue {
  return [{ secretRef: { name: `${name}-env-var` } }];
}

/** §5.2 pod volume `gl-workspace-variables` (508 = 0774). */
export function variablesVolume(name: string): JsonObject {
  return { name: 'gl-workspace-variables', projected: { defaultMode: 508, sources: [{ secret: { name: `${name}-file` } }] } };
}

/** §5.2 pod volume `gl-workspace-scripts` (365 = 0555). */
export function scriptsVolume(name: string): JsonObject {
  return {
    name: 'gl-workspace-scripts',
    projected: { defaultMode: 365, sources: [{ configMap: { name: `${name}-scripts-configmap` } }] },
  };
}

/** §6.2 env tail when `mountSources` is not false and `sourceMapping` is unset. */
export const PROJECT_ENV: JsonValue[] = [
  { name: 'PROJECTS_ROOT', value: '/projects' },
  { name: 'PROJECT_SOURCE', value: '/projects' },
];

/** §5.6 DNS rule. */
export const DNS_EGRESS_RULE: JsonObject = {
  ports: [
    { port: 53, protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
  ],
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
};

/** §5.6 egress rule for the default `network_policy_egress` entry. */
export const DEFAULT_IPBLOCK_EGRESS_RULE: JsonObject = {
  to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }],
};

/** §5.6 proxy ingress rule. */
export function proxyIngressRule(proxyNamespace = 'gitlab-workspaces'): JsonObject {
  return {
    from: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': proxyNamespace } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitlab-workspaces-proxy' } },
      },
    ],
  };
}

/**
 * §7.5 legacy-mode HOOK: the spec's JSON string literal pasted verbatim (only `${` is written as `$\u007B`
 * so the template literal stays raw).
 */
export const LEGACY_POSTSTART_HOOK = JSON.parse(String.raw`"#!/bin/sh\n\nmkdir -p \"$\u007BGL_WORKSPACE_LOGS_DIR}\"\nln -sf \"$\u007BGL_WORKSPACE_LOGS_DIR}\" /tmp\n\"/workspace-scripts/gl-run-poststart-commands.sh\" 1>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\"\n"`) as string;

/** §7.5 normal-mode HOOK, pasted likewise. */
export const NORMAL_POSTSTART_HOOK = JSON.parse(String.raw`"#!/bin/sh\n\nmkdir -p \"$\u007BGL_WORKSPACE_LOGS_DIR}\"\nln -sf \"$\u007BGL_WORKSPACE_LOGS_DIR}\" /tmp\n\n{\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running poststart commands for workspace...\"\n\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running internal blocking poststart commands script...\"\n} >> \"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\"\n\n\"/workspace-scripts/gl-run-internal-blocking-poststart-commands.sh\" 1>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\"\n\n{\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running non-blocking poststart commands script...\"\n} >> \"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\"\n\n\"/workspace-scripts/gl-run-non-blocking-poststart-commands.sh\" 1>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"$\u007BGL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\" &\n"`) as string;

/** §7.5 `lifecycle` for a container named by a postStart command. */
export function lifecycle(hook: string): JsonObject {
  return { postStart: { exec: { command: ['/bin/sh', '-c', hook] } } };
}

/**
 * §7.3 RUNNER(ids): `#!/bin/sh\n`, then per id four lines; `<EXEC>` is `/workspace-scripts/<id>`, or
 * `(cd <DIR> && /workspace-scripts/<id>)` when an entry carries an (already shell-escaped) `dir`.
 */
export function runnerScript(entries: Array<string | { id: string; dir: string }>): string {
  let text = '#!/bin/sh\n';
  for (const entry of entries) {
    const id = typeof entry === 'string' ? entry : entry.id;
    const exec =
      typeof entry === 'string' ? `/workspace-scripts/${id}` : `(cd ${entry.dir} && /workspace-scripts/${id})`;
    text +=
      'echo "$(date -Iseconds): ----------------------------------------"\n' +
      `echo "$(date -Iseconds): Running /workspace-scripts/${id}..."\n` +
      `${exec} || true\n` +
      `echo "$(date -Iseconds): Finished running /workspace-scripts/${id}."\n`;
  }
  return text;
}

/** What §3.3/§3.4 need to build label and annotation sets. */
export interface MetadataContext {
  id: number;
  name: string;
  dnsZone: string;
  agentId: number;
  sha: string;
  agentLabels?: Record<string, string>;
  agentAnnotations?: Record<string, string>;
  sharedNamespace?: boolean;
}

export const DEFAULT_METADATA_CONTEXT: MetadataContext = {
  id: WS.id,
  name: WS.name,
  dnsZone: 'test.workspace.me',
  agentId: WS.agentId,
  sha: SHA256_OF_EMPTY_MAX_RESOURCES,
};

/** §3.4 label set L. */
export function labelSet(ctx: MetadataContext = DEFAULT_METADATA_CONTEXT): Record<string, string> {
  return {
    ...ctx.agentLabels,
    'agent.gitlab.com/id': String(ctx.agentId),
    ...(ctx.sharedNamespace ? { 'workspaces.gitlab.com/id': String(ctx.id) } : {}),
  };
}

/** §3.3 annotation sets C, CP, S, W, WP. */
export function annotationSet(
  set: 'C' | 'CP' | 'S' | 'W' | 'WP',
  ctx: MetadataContext = DEFAULT_METADATA_CONTEXT,
): Record<string, string> {
  const common = {
    ...ctx.agentAnnotations,
    'workspaces.gitlab.com/host-template': `{{.port}}-${ctx.name}.${ctx.dnsZone}`,
    'workspaces.gitlab.com/id': String(ctx.id),
    'workspaces.gitlab.com/max-resources-per-workspace-sha256': ctx.sha,
  };
  const partial = { 'workspaces.gitlab.com/include-in-partial-reconciliation': 'true' };
  switch (set) {
    case 'C':
      return common;
    case 'CP':
      return { ...common, ...partial };
    case 'S':
      return { ...common, 'config.k8s.io/owning-inventory': `${ctx.name}-secrets-inventory` };
    case 'W':
      return { ...common, 'config.k8s.io/owning-inventory': `${ctx.name}-workspace-inventory` };
    case 'WP':
      return { ...common, 'config.k8s.io/owning-inventory': `${ctx.name}-workspace-inventory`, ...partial };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------------------

export function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows keys and indexes; `undefined` as soon as one is missing. */
export function dig(value: JsonValue | undefined, ...path: Array<string | number>): JsonValue | undefined {
  let current = value;
  for (const step of path) {
    if (typeof step === 'number') current = Array.isArray(current) ? current[step] : undefined;
    else current = isObject(current) ? current[step] : undefined;
  }
  return current;
}

function asObject(value: JsonValue | undefined, what: string): JsonObject {
  if (!isObject(value)) throw new Error(`expected ${what} to be an object, got ${JSON.stringify(value)}`);
  return value;
}

function asObjects(value: JsonValue | undefined, what: string): JsonObject[] {
  if (!Array.isArray(value)) throw new Error(`expected ${what} to be an array, got ${JSON.stringify(value)}`);
  return value.map((item, i) => asObject(item, `${what}[${i}]`));
}

/** `Kind/name` of each object, the identity §9 uses. */
export function kindsAndNames(objects: KubernetesObject[]): string[] {
  return objects.map((o) => `${String(o['kind'])}/${String(dig(o, 'metadata', 'name'))}`);
}

export function findObjects(objects: KubernetesObject[], kind: string): KubernetesObject[] {
  return objects.filter((o) => o['kind'] === kind);
}

export function findObject(objects: KubernetesObject[], kind: string, name?: string): KubernetesObject {
  const found = objects.find((o) => o['kind'] === kind && (name === undefined || dig(o, 'metadata', 'name') === name));
  if (found === undefined) {
    throw new Error(`no ${kind}${name ? `/${name}` : ''} in [${kindsAndNames(objects).join(', ')}]`);
  }
  return found;
}

export function podSpec(objects: KubernetesObject[]): JsonObject {
  return asObject(dig(findObject(objects, 'Deployment'), 'spec', 'template', 'spec'), 'Deployment pod spec');
}

export function containers(objects: KubernetesObject[]): JsonObject[] {
  return asObjects(podSpec(objects)['containers'], 'containers');
}

export function initContainers(objects: KubernetesObject[]): JsonObject[] {
  return asObjects(podSpec(objects)['initContainers'], 'initContainers');
}

export function containerNamed(objects: KubernetesObject[], name: string): JsonObject {
  const found = containers(objects).find((c) => c['name'] === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
}

export function initContainerNamed(objects: KubernetesObject[], name: string): JsonObject {
  const found = initContainers(objects).find((c) => c['name'] === name);
  if (found === undefined) throw new Error(`no init container ${name}`);
  return found;
}

// ---------------------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------------------

/** The DesiredConfigError the generator throws for this input; fails the test if it returns or throws else. */
export function generationError(input: GeneratorInput): DesiredConfigError {
  let result: KubernetesObject[];
  try {
    result = generateDesiredConfig(input);
  } catch (error) {
    if (error instanceof DesiredConfigError) return error;
    throw new Error(`expected a DesiredConfigError, got: ${String(error)}`, { cause: error });
  }
  throw new Error(`expected a DesiredConfigError, but the generator returned [${kindsAndNames(result).join(', ')}]`);
}

/**
 * Asserts that generation fails with `kind`, for this workspace, and (when given) that the error names
 * `location`: in `path`, or else in the message (which includes the path).
 */
export function expectGenerationFailure(
  input: GeneratorInput,
  kind: DesiredConfigErrorKind,
  location?: string | RegExp,
): DesiredConfigError {
  const error = generationError(input);
  expect(error.kind, error.message).toBe(kind);
  expect(error.workspaceId).toBe(input.workspace.id);
  if (location !== undefined) {
    const where = `${error.path ?? ''}\n${error.message}`;
    if (typeof location === 'string') expect(where).toContain(location);
    else expect(where).toMatch(location);
  }
  return error;
}
