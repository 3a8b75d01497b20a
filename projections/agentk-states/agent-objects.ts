/**
 * The objects built from the agent config and names alone (spec §5.1, §5.5, §5.8, §5.9, §5.10).
 */
import { GenerationFailure } from './errors.js';
import type { AgentConfig, JsonObject, JsonValue, KubernetesObject } from './inputs.js';
import { cloneJson, formatPath, hasOwn, isJsonObject } from './json.js';
import { objectMetadata, type StringMap, type WorkspaceMetadata } from './metadata.js';

/** §5.1 / §5.8: an inventory ConfigMap (metadata only, no `data`). */
export function inventoryConfigMap(
  meta: WorkspaceMetadata,
  name: string,
  labels: StringMap,
  annotations: StringMap,
): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMetadata(name, meta.namespace, labels, annotations) };
}

/** §5.5: only each pull secret's `name` is kept, in the agent's order; an entry without one is an error. */
export function serviceAccount(meta: WorkspaceMetadata, agent: AgentConfig): KubernetesObject {
  const imagePullSecrets: JsonValue[] = agent.image_pull_secrets.map((entry, index) => {
    if (!isJsonObject(entry) || !hasOwn(entry, 'name')) {
      throw new GenerationFailure(
        'agent_config_invalid',
        'each image pull secret needs a name',
        formatPath(['image_pull_secrets', index, 'name']),
      );
    }
    return { name: cloneJson(entry['name'] as JsonValue) };
  });
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: objectMetadata(meta.name, meta.namespace, meta.labels, meta.annotations.workspaceInventoryPartial),
    automountServiceAccountToken: false,
    imagePullSecrets,
  };
}

/** `max_resources_per_workspace.<group>.<resource>`, which GitLab's pattern match requires to exist. */
function maxResource(max: JsonObject, group: 'limits' | 'requests', resource: 'cpu' | 'memory'): JsonValue {
  const values = hasOwn(max, group) ? max[group] : undefined;
  if (!isJsonObject(values)) {
    throw new GenerationFailure(
      'agent_config_invalid',
      `${group} must be an object with cpu and memory`,
      formatPath(['max_resources_per_workspace', group]),
    );
  }
  if (!hasOwn(values, resource)) {
    throw new GenerationFailure(
      'agent_config_invalid',
      `${group}.${resource} is required for the ResourceQuota`,
      formatPath(['max_resources_per_workspace', group, resource]),
    );
  }
  return cloneJson(values[resource] as JsonValue);
}

/**
 * §5.9: present only when `max_resources_per_workspace` is non-empty and not in shared-namespace mode.
 * Values are copied as given (not canonicalized); extra keys are ignored here.
 */
export function resourceQuota(meta: WorkspaceMetadata, agent: AgentConfig): KubernetesObject | undefined {
  const max = agent.max_resources_per_workspace;
  if (Object.keys(max).length === 0 || meta.sharedNamespace) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: objectMetadata(meta.name, meta.namespace, meta.labels, meta.annotations.workspaceInventory),
    spec: {
      hard: {
        'limits.cpu': maxResource(max, 'limits', 'cpu'),
        'limits.memory': maxResource(max, 'limits', 'memory'),
        'requests.cpu': maxResource(max, 'requests', 'cpu'),
        'requests.memory': maxResource(max, 'requests', 'memory'),
      },
    },
  };
}

/** §5.10: the secrets are stored empty; GitLab fills `data` when it sends the config to the agent. */
export function emptySecret(meta: WorkspaceMetadata, name: string): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMetadata(name, meta.namespace, meta.labels, meta.annotations.secretsInventory),
    data: {},
  };
}

/** §5.7: the scripts ConfigMap. */
export function scriptsConfigMap(meta: WorkspaceMetadata, data: Record<string, string>): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMetadata(
      meta.scriptsConfigMapName,
      meta.namespace,
      meta.labels,
      meta.annotations.workspaceInventoryPartial,
    ),
    data,
  };
}
