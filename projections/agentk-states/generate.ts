/**
 * The desired-config generator: one workspace (and its agent config) in, GitLab's
 * `workspace_agentk_states.desired_config` array out (spec desired-config.md).
 *
 * Pure: no I/O, clock, randomness or environment. The result is a JSON value to serialize; objects inside
 * it may share label and annotation maps, so treat it as read-only.
 *
 * Every failure for bad input is a {@link DesiredConfigError} (spec §10.1) whose `path` names the devfile
 * location (`components[2].container.memoryLimit`, `events.postStart[1]`) or the agent-config field
 * (`max_resources_per_workspace.limits.cpu`, `image_pull_secrets[0].name`, `labels.team`).
 */
import { emptySecret, inventoryConfigMap, resourceQuota, scriptsConfigMap, serviceAccount } from './agent-objects.js';
import { workloadObjects } from './deployment.js';
import { readDevfileCached } from './devfile-cache.js';
import { devfileToPod } from './devfile-to-pod.js';
import { DesiredConfigError, GenerationFailure } from './errors.js';
import type { GeneratorInput, KubernetesObject } from './inputs.js';
import { workspaceMetadata } from './metadata.js';
import { networkPolicy } from './network-policy.js';
import { planPostStart } from './poststart-scripts.js';
import { validateDesiredConfig } from './validate.js';

function build(input: GeneratorInput): KubernetesObject[] {
  const { workspace, agentConfig: agent } = input;
  // §8 step 1. Agent labels/annotations are checked first, as GitLab hands them to its devfile CLI.
  const meta = workspaceMetadata(workspace, agent);
  // §8 step 2–3: the devfile's objects and GitLab's pod edits.
  const devfile = readDevfileCached(workspace.processed_devfile);
  const pod = devfileToPod(devfile, meta.name);
  const postStart = planPostStart(devfile, input.projectPath ?? undefined);
  const { deployment, service, claims } = workloadObjects(meta, agent, workspace.desired_state, pod, postStart);

  // §8 step 4, in the order of §4.
  const objects: KubernetesObject[] = [
    inventoryConfigMap(meta, meta.workspaceInventoryName, meta.workspaceInventoryLabels, meta.annotations.commonPartial),
    deployment,
    service,
    ...claims,
    serviceAccount(meta, agent),
  ];
  if (agent.network_policy_enabled) objects.push(networkPolicy(meta, agent));
  if (postStart !== undefined) objects.push(scriptsConfigMap(meta, postStart.data));
  objects.push(inventoryConfigMap(meta, meta.secretsInventoryName, meta.secretsInventoryLabels, meta.annotations.common));
  const quota = resourceQuota(meta, agent);
  if (quota !== undefined) objects.push(quota);
  objects.push(emptySecret(meta, meta.envSecretName), emptySecret(meta, meta.fileSecretName));
  return objects;
}

function generateChecked(input: GeneratorInput): DesiredConfigJson {
  const workspaceId = input.workspace.id;
  let desiredConfig: KubernetesObject[];
  try {
    desiredConfig = build(input);
  } catch (error) {
    if (error instanceof GenerationFailure) throw new DesiredConfigError(error.kind, error.detail, error.path, workspaceId);
    throw error;
  }
  const json = JSON.stringify(desiredConfig);
  const errors = validateDesiredConfig(desiredConfig, json);
  if (errors.length > 0) throw new DesiredConfigError('desired_config_invalid', errors.join('; '), undefined, workspaceId);
  return { desiredConfig, json };
}

/**
 * Generates the desired config of one workspace, validated as GitLab validates it before storing (§9).
 *
 * @throws DesiredConfigError for every input GitLab cannot generate from (§10.1), and with kind
 *   `desired_config_invalid` when the result fails §9 (in practice: larger than 64 KB).
 */
export function generateDesiredConfig(input: GeneratorInput): KubernetesObject[] {
  return generateChecked(input).desiredConfig;
}

/** The desired config and its compact JSON text, serialized once (the validation measures the same text). */
export interface DesiredConfigJson {
  readonly desiredConfig: KubernetesObject[];
  /** `JSON.stringify(desiredConfig)`: what a sink stores. */
  readonly json: string;
}

/** {@link generateDesiredConfig}, also returning the compact JSON it validated, for callers that store it. */
export function generateDesiredConfigJson(input: GeneratorInput): DesiredConfigJson {
  return generateChecked(input);
}
