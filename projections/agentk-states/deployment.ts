/**
 * The objects built from the devfile, Deployment, Service and PVCs (spec §5.2–§5.4), with GitLab's edits
 * of the pod spec (§5.2) and the scripts volume, mounts and hooks when postStart exists (§5.2, §7.5).
 */
import type { PodParts } from './devfile-to-pod.js';
import { GenerationFailure } from './errors.js';
import type { AgentConfig, JsonObject, JsonValue, KubernetesObject } from './inputs.js';
import { cloneJson, hasOwn, isJsonObject, setOwn } from './json.js';
import type { WorkspaceMetadata } from './metadata.js';
import type { PostStartPlan } from './poststart-scripts.js';

const RUN_AS_USER = 5001;
const VARIABLES_VOLUME = 'gl-workspace-variables';
const VARIABLES_MOUNT_PATH = '/.workspace-data/variables/file';
const SCRIPTS_VOLUME = 'gl-workspace-scripts';
const SCRIPTS_MOUNT_PATH = '/workspace-scripts';
/** 0774 and 0555. */
const VARIABLES_DEFAULT_MODE = 0o774;
const SCRIPTS_DEFAULT_MODE = 0o555;

export interface WorkloadObjects {
  readonly deployment: KubernetesObject;
  readonly service: KubernetesObject;
  readonly claims: KubernetesObject[];
}

/** `metadata` of an object built from the devfile: the Go library also emits `creationTimestamp: null`. */
function devfileObjectMetadata(name: string, meta: WorkspaceMetadata): JsonObject {
  return {
    name,
    namespace: meta.namespace,
    labels: meta.labels,
    annotations: meta.annotations.workspaceInventoryPartial,
    creationTimestamp: null,
  };
}

/**
 * §5.2 step 2: deep-merge the agent defaults into `resources`; a key the devfile already has (at any
 * depth) keeps the devfile's value. Added subtrees are copies, so output never aliases the agent config.
 */
function mergeDefaults(target: JsonObject, defaults: JsonObject): void {
  for (const key of Object.keys(defaults)) {
    const value = defaults[key] as JsonValue;
    if (!hasOwn(target, key)) {
      setOwn(target, key, cloneJson(value));
      continue;
    }
    const existing = target[key];
    if (isJsonObject(existing) && isJsonObject(value)) mergeDefaults(existing, value);
  }
}

/** The §10.1 failures GitLab's pod editing hits on a pod it cannot edit. */
function checkPod(pod: PodParts): void {
  if (pod.containers.length === 0) {
    throw new GenerationFailure(
      'devfile_invalid',
      'the devfile yields no container (every container component is an init or stop container)',
      'components',
    );
  }
  if (pod.initContainers.length === 0) {
    throw new GenerationFailure(
      'devfile_invalid',
      'the devfile yields no init container: preStart must name an apply command on a container component',
      'events.preStart',
    );
  }
  if (pod.volumes.length === 0) {
    throw new GenerationFailure('devfile_invalid', 'the devfile has no volume component', 'components');
  }
  const check = (containers: readonly JsonObject[], paths: readonly string[]): void => {
    containers.forEach((container, index) => {
      if (!Array.isArray(container['volumeMounts'])) {
        throw new GenerationFailure(
          'devfile_invalid',
          `container "${String(container['name'])}" mounts no volume; every container and init container needs one`,
          paths[index],
        );
      }
    });
  };
  check(pod.containers, pod.containerPaths);
  check(pod.initContainers, pod.initContainerPaths);
}

/** §5.2 steps 1–4, applied to every container and init container. */
function editContainer(container: JsonObject, agent: AgentConfig, meta: WorkspaceMetadata): void {
  container['securityContext'] = {
    allowPrivilegeEscalation: agent.allow_privilege_escalation,
    privileged: false,
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
  };
  mergeDefaults(container['resources'] as JsonObject, agent.default_resources_per_workspace_container);
  (container['volumeMounts'] as JsonValue[]).push({ name: VARIABLES_VOLUME, mountPath: VARIABLES_MOUNT_PATH });
  container['envFrom'] = [{ secretRef: { name: meta.envSecretName } }];
}

export function workloadObjects(
  meta: WorkspaceMetadata,
  agent: AgentConfig,
  desiredState: string,
  pod: PodParts,
  postStart: PostStartPlan | undefined,
): WorkloadObjects {
  checkPod(pod);
  for (const container of pod.containers) editContainer(container, agent, meta);
  for (const container of pod.initContainers) editContainer(container, agent, meta);

  const volumes: JsonValue[] = [...pod.volumes];
  volumes.push({
    name: VARIABLES_VOLUME,
    projected: { defaultMode: VARIABLES_DEFAULT_MODE, sources: [{ secret: { name: meta.fileSecretName } }] },
  });

  if (postStart !== undefined) {
    volumes.push({
      name: SCRIPTS_VOLUME,
      projected: { defaultMode: SCRIPTS_DEFAULT_MODE, sources: [{ configMap: { name: meta.scriptsConfigMapName } }] },
    });
    for (const container of pod.containers) {
      (container['volumeMounts'] as JsonValue[]).push({ name: SCRIPTS_VOLUME, mountPath: SCRIPTS_MOUNT_PATH });
      if (postStart.hookedContainers.has(container['name'] as string)) {
        container['lifecycle'] = { postStart: { exec: { command: ['/bin/sh', '-c', postStart.hook] } } };
      }
    }
  }

  const podSpec: JsonObject = {
    containers: pod.containers,
    initContainers: pod.initContainers,
    volumes,
    securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, fsGroup: 0, fsGroupChangePolicy: 'OnRootMismatch' },
    serviceAccountName: meta.name,
  };
  if (agent.default_runtime_class !== '') podSpec['runtimeClassName'] = agent.default_runtime_class;
  if (agent.use_kubernetes_user_namespaces) podSpec['hostUsers'] = true;

  const deployment: KubernetesObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: devfileObjectMetadata(meta.name, meta),
    spec: {
      // §3.6: GitLab stores 1 only for Running; its reconciler overrides the count when sending.
      replicas: desiredState === 'Running' ? 1 : 0,
      selector: { matchLabels: meta.labels },
      strategy: { type: 'Recreate' },
      template: { metadata: devfileObjectMetadata(meta.name, meta), spec: podSpec },
    },
    status: {},
  };

  const serviceSpec: JsonObject = {};
  if (pod.servicePorts.length > 0) serviceSpec['ports'] = pod.servicePorts;
  serviceSpec['selector'] = meta.labels;
  const service: KubernetesObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: devfileObjectMetadata(meta.name, meta),
    spec: serviceSpec,
    status: { loadBalancer: {} },
  };

  const claims = pod.claims.map(
    ({ volume, storage }): KubernetesObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: devfileObjectMetadata(`${meta.name}-${volume}`, meta),
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } },
      status: {},
    }),
  );

  return { deployment, service, claims };
}
