/**
 * Names, labels and annotations of one workspace's objects (spec §2, §3.3–§3.5).
 *
 * The label and annotation objects are shared by every object that carries the same set: the generator's
 * output is a value to serialize, and callers must treat it as read-only.
 */
import { GenerationFailure } from './errors.js';
import type { AgentConfig, JsonObject, WorkspaceInput } from './inputs.js';
import { formatPath, isRubyBlank, setOwn } from './json.js';
import { maxResourcesSha256 } from './max-resources-digest.js';

export type StringMap = Record<string, string>;

export interface WorkspaceMetadata {
  /** N */
  readonly name: string;
  /** NS */
  readonly namespace: string;
  /** INV, SINV, SCM, ENVS, FILES */
  readonly workspaceInventoryName: string;
  readonly secretsInventoryName: string;
  readonly scriptsConfigMapName: string;
  readonly envSecretName: string;
  readonly fileSecretName: string;
  /** Shared-namespace mode: `shared_namespace` has a non-whitespace character (§1.2). */
  readonly sharedNamespace: boolean;
  /** L (§3.4) */
  readonly labels: StringMap;
  /** L + inventory id, for the two inventory ConfigMaps (§3.5 rows 1 and 8). */
  readonly workspaceInventoryLabels: StringMap;
  readonly secretsInventoryLabels: StringMap;
  /** C, CP, S, W, WP (§3.3) */
  readonly annotations: {
    readonly common: StringMap;
    readonly commonPartial: StringMap;
    readonly secretsInventory: StringMap;
    readonly workspaceInventory: StringMap;
    readonly workspaceInventoryPartial: StringMap;
  };
}

const PARTIAL_RECONCILIATION = 'workspaces.gitlab.com/include-in-partial-reconciliation';
const OWNING_INVENTORY = 'config.k8s.io/owning-inventory';
const INVENTORY_ID = 'cli-utils.sigs.k8s.io/inventory-id';
export const WORKSPACE_ID_LABEL = 'workspaces.gitlab.com/id';

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/**
 * GitLab hands agent labels and annotations to its Go devfile CLI as string maps, so any other value
 * fails generation (§10.1).
 */
function stringMap(field: 'labels' | 'annotations', values: JsonObject): StringMap {
  const map: StringMap = {};
  for (const key of Object.keys(values)) {
    const value = values[key];
    if (typeof value !== 'string') {
      throw new GenerationFailure(
        'agent_config_invalid',
        `agent ${field} values must be strings, got ${describeJson(value)}`,
        formatPath([field, key]),
      );
    }
    setOwn(map, key, value);
  }
  return map;
}

/** `{...base, ...extra}` where later keys win, safe for a `__proto__` key. */
function merged(base: StringMap, extra: StringMap): StringMap {
  const out: StringMap = { ...base };
  for (const key of Object.keys(extra)) setOwn(out, key, extra[key] as string);
  return out;
}

export function workspaceMetadata(workspace: WorkspaceInput, agent: AgentConfig): WorkspaceMetadata {
  const name = workspace.name;
  const id = String(workspace.id);
  const sharedNamespace = !isRubyBlank(agent.shared_namespace ?? '');
  const workspaceInventoryName = `${name}-workspace-inventory`;
  const secretsInventoryName = `${name}-secrets-inventory`;

  const gitlabLabels: StringMap = { 'agent.gitlab.com/id': String(workspace.cluster_agent_id) };
  if (sharedNamespace) gitlabLabels[WORKSPACE_ID_LABEL] = id;
  const labels = merged(stringMap('labels', agent.labels), gitlabLabels);

  const common = merged(stringMap('annotations', agent.annotations), {
    'workspaces.gitlab.com/host-template': `{{.port}}-${name}.${agent.dns_zone}`,
    'workspaces.gitlab.com/id': id,
    'workspaces.gitlab.com/max-resources-per-workspace-sha256': maxResourcesSha256(agent.max_resources_per_workspace),
  });
  const workspaceInventory = merged(common, { [OWNING_INVENTORY]: workspaceInventoryName });

  return {
    name,
    namespace: workspace.namespace,
    workspaceInventoryName,
    secretsInventoryName,
    scriptsConfigMapName: `${name}-scripts-configmap`,
    envSecretName: `${name}-env-var`,
    fileSecretName: `${name}-file`,
    sharedNamespace,
    labels,
    workspaceInventoryLabels: merged(labels, { [INVENTORY_ID]: workspaceInventoryName }),
    secretsInventoryLabels: merged(labels, { [INVENTORY_ID]: secretsInventoryName }),
    annotations: {
      common,
      commonPartial: merged(common, { [PARTIAL_RECONCILIATION]: 'true' }),
      secretsInventory: merged(common, { [OWNING_INVENTORY]: secretsInventoryName }),
      workspaceInventory,
      workspaceInventoryPartial: merged(workspaceInventory, { [PARTIAL_RECONCILIATION]: 'true' }),
    },
  };
}

/** `metadata` of an object not built from the devfile (no `creationTimestamp`, §5). */
export function objectMetadata(name: string, namespace: string, labels: StringMap, annotations: StringMap): JsonObject {
  return { name, namespace, labels, annotations };
}
