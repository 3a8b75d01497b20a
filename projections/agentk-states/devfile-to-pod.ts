/**
 * What GitLab's Go devfile library makes of a devfile (spec §6): containers, init containers, pod volumes
 * with their mounts, Service ports and PVC sizes. The Deployment/Service/PVC objects around them and the
 * GitLab-side pod edits are in deployment.ts.
 */
import { posix } from 'node:path';

import type { Devfile, DevfileCommand, DevfileComponent, DevfileContainer } from './devfile.js';
import { GenerationFailure } from './errors.js';
import type { JsonObject, JsonValue } from './inputs.js';
import { compareBytes, formatPath } from './json.js';
import { canonicalQuantity, QUANTITY_FORMAT_MESSAGE, QuantityError } from './quantity.js';

/** Init container names are `<component>-<command>` cut to this length, then `-<position>` (§6.3). */
const INIT_CONTAINER_NAME_PREFIX_LENGTH = 55;
/** Container port names longer than this become `port-<targetPort>` (§6.6). */
const MAX_PORT_NAME_LENGTH = 15;
const DEFAULT_PROJECTS_ROOT = '/projects';

export interface PodParts {
  /** Pod containers (§6.2), each with `volumeMounts` when it mounts something. */
  readonly containers: JsonObject[];
  /** Pod init containers (§6.3). */
  readonly initContainers: JsonObject[];
  /** For each container and init container, in the same order, the devfile path to blame for "no mount". */
  readonly containerPaths: string[];
  readonly initContainerPaths: string[];
  /** Pod volumes, sorted by name (§6.5). */
  readonly volumes: JsonObject[];
  /** Service ports (§6.6); empty means the Service has no `ports` key. */
  readonly servicePorts: JsonObject[];
  /** One per non-ephemeral volume, in volume order: the volume name and its canonical size (§5.4). */
  readonly claims: ReadonlyArray<{ readonly volume: string; readonly storage: string }>;
}

/** The per-component part of a container, computed once and copied for the container and its init containers. */
interface ContainerTemplate {
  readonly componentIndex: number;
  readonly component: DevfileComponent;
  readonly container: DevfileContainer;
  readonly image: string;
  readonly command: JsonValue[] | undefined;
  readonly args: JsonValue[] | undefined;
  readonly env: JsonValue[] | undefined;
  readonly ports: JsonObject[];
  readonly limits: JsonObject | undefined;
  readonly requests: JsonObject | undefined;
}

function quantity(value: string, path: ReadonlyArray<string | number>): string {
  try {
    return canonicalQuantity(value);
  } catch (error) {
    if (error instanceof QuantityError) {
      throw new GenerationFailure('devfile_invalid', `${error.message} (got ${JSON.stringify(value)})`, formatPath(path));
    }
    throw error;
  }
}

/** `limits`/`requests` from the devfile's four resource fields; an empty string means unset, as in Go. */
function resourceList(
  container: DevfileContainer,
  componentIndex: number,
  fields: ReadonlyArray<readonly ['memoryLimit' | 'cpuLimit' | 'memoryRequest' | 'cpuRequest', 'memory' | 'cpu']>,
): JsonObject | undefined {
  let list: JsonObject | undefined;
  for (const [field, resource] of fields) {
    const value = container[field];
    if (value === undefined || value === '') continue;
    (list ??= {})[resource] = quantity(value, ['components', componentIndex, 'container', field]);
  }
  return list;
}

/** §6.2 PROJECT_SOURCE: the sync root, or root/first project's clonePath (else name), as Go's filepath.Join. */
function projectSource(devfile: Devfile, root: string): string {
  const project = devfile.projects[0];
  if (project === undefined) return root;
  const clonePath = project.clonePath ?? '';
  if (clonePath === '') return posix.join(root, project.name);
  if (clonePath.startsWith('/') || clonePath.includes('..')) {
    throw new GenerationFailure(
      'devfile_invalid',
      'clonePath must be a relative path that stays inside the projects root',
      formatPath(['projects', 0, 'clonePath']),
    );
  }
  return posix.join(root, clonePath);
}

function containerTemplate(
  devfile: Devfile,
  component: DevfileComponent,
  componentIndex: number,
  container: DevfileContainer,
): ContainerTemplate {
  const ports: JsonObject[] = [];
  const portNames = new Set<string>();
  for (const endpoint of container.endpoints ?? []) {
    const name = endpoint.name.length > MAX_PORT_NAME_LENGTH ? `port-${endpoint.targetPort}` : endpoint.name;
    if (portNames.has(name)) continue;
    portNames.add(name);
    ports.push({ containerPort: endpoint.targetPort, name, protocol: endpoint.protocol === 'udp' ? 'UDP' : 'TCP' });
  }

  const env: JsonValue[] = [];
  for (const variable of container.env ?? []) {
    const value = variable.value;
    env.push(value === undefined || value === '' ? { name: variable.name } : { name: variable.name, value });
  }
  if (container.mountSources !== false) {
    const mapping = container.sourceMapping;
    const root = mapping === undefined || mapping === '' ? DEFAULT_PROJECTS_ROOT : mapping;
    env.push({ name: 'PROJECTS_ROOT', value: root }, { name: 'PROJECT_SOURCE', value: projectSource(devfile, root) });
  }

  return {
    componentIndex,
    component,
    container,
    image: container.image,
    command: container.command !== undefined && container.command.length > 0 ? container.command : undefined,
    args: container.args !== undefined && container.args.length > 0 ? container.args : undefined,
    env: env.length > 0 ? env : undefined,
    ports,
    limits: resourceList(container, componentIndex, [
      ['memoryLimit', 'memory'],
      ['cpuLimit', 'cpu'],
    ]),
    requests: resourceList(container, componentIndex, [
      ['memoryRequest', 'memory'],
      ['cpuRequest', 'cpu'],
    ]),
  };
}

/**
 * §6.5 mounts for a container named `name`: every container component whose name is a prefix of it
 * contributes its mounts (a quirk of GitLab's devfile gem, which also feeds init containers this way), then
 * a stable sort by volume name. Components are walked in devfile order.
 */
function mountsFor(name: string, templates: readonly ContainerTemplate[]): JsonObject[] {
  const mounts: JsonObject[] = [];
  for (const template of templates) {
    if (!name.startsWith(template.component.name)) continue;
    for (const mount of template.container.volumeMounts ?? []) {
      const mountPath = mount.path === undefined || mount.path === '' ? `/${mount.name}` : mount.path;
      mounts.push({ mountPath, name: mount.name });
    }
  }
  // Array.prototype.sort is stable, which keeps several paths of one volume in devfile order.
  return mounts.sort((a, b) => compareBytes(String(a['name']), String(b['name'])));
}

function buildContainer(template: ContainerTemplate, name: string, templates: readonly ContainerTemplate[]): JsonObject {
  const container: JsonObject = { name, image: template.image };
  if (template.command !== undefined) container['command'] = template.command;
  if (template.args !== undefined) container['args'] = template.args;
  if (template.ports.length > 0) container['ports'] = template.ports;
  if (template.env !== undefined) container['env'] = template.env;
  // A fresh object per container: GitLab's default resources are merged into it in place.
  const resources: JsonObject = {};
  if (template.limits !== undefined) resources['limits'] = { ...template.limits };
  if (template.requests !== undefined) resources['requests'] = { ...template.requests };
  container['resources'] = resources;
  const mounts = mountsFor(name, templates);
  if (mounts.length > 0) container['volumeMounts'] = mounts;
  container['imagePullPolicy'] = 'Always';
  return container;
}

/**
 * The apply commands an event list stands for (§6.1): de-duplicated and sorted in byte order (the devfile
 * library rebuilds event lists as sets), each composite replaced by its sub-commands in order.
 */
function eventApplyCommands(
  devfile: Devfile,
  ids: readonly string[],
): Array<{ id: string; command: DevfileCommand }> {
  const expanded: Array<{ id: string; command: DevfileCommand }> = [];
  for (const id of [...new Set(ids)].sort(compareBytes)) {
    const command = devfile.commandsById.get(id);
    if (command === undefined) continue; // devfile.ts has already refused unknown ids
    if (command.composite !== undefined) {
      for (const subId of command.composite.commands ?? []) {
        const sub = devfile.commandsById.get(subId);
        if (sub !== undefined) expanded.push({ id: subId, command: sub });
      }
    } else {
      expanded.push({ id, command });
    }
  }
  return expanded;
}

type Exposure = 'public' | 'internal' | 'none';
const EXPOSURE_RANK: Record<Exposure, number> = { none: 0, internal: 1, public: 2 };

/**
 * The pod parts of §6 for a devfile that passed devfile.ts. Fails (GenerationFailure) only on quantities:
 * the §10.1 checks on the assembled pod are deployment.ts's.
 */
export function devfileToPod(devfile: Devfile, workspaceName: string): PodParts {
  const templates: ContainerTemplate[] = [];
  const volumeComponents: Array<{ component: DevfileComponent; index: number }> = [];
  devfile.components.forEach((component, index) => {
    if (component.container !== undefined) {
      templates.push(containerTemplate(devfile, component, index, component.container));
    } else if (component.volume !== undefined) {
      volumeComponents.push({ component, index });
    }
  });

  const preStart = eventApplyCommands(devfile, devfile.events.preStart);
  const postStop = eventApplyCommands(devfile, devfile.events.postStop);
  // Components run by preStart/postStop apply commands are init (or stop) containers, not pod containers.
  const excluded = new Set<string>();
  for (const { command } of [...preStart, ...postStop]) {
    if (command.apply !== undefined) excluded.add(command.apply.component);
  }

  const containers: JsonObject[] = [];
  const containerPaths: string[] = [];
  const podTemplates: ContainerTemplate[] = [];
  for (const template of templates) {
    if (excluded.has(template.component.name)) continue;
    podTemplates.push(template);
    containers.push(buildContainer(template, template.component.name, templates));
    containerPaths.push(formatPath(['components', template.componentIndex, 'container', 'volumeMounts']));
  }

  const initContainers: JsonObject[] = [];
  const initContainerPaths: string[] = [];
  const templateByName = new Map(templates.map((template) => [template.component.name, template]));
  preStart.forEach(({ id, command }, position) => {
    const componentName = command.apply?.component;
    const template = componentName === undefined ? undefined : templateByName.get(componentName);
    // A preStart command on a non-container component yields nothing, but still takes its position.
    if (template === undefined) return;
    const name = `${`${template.component.name}-${id}`.slice(0, INIT_CONTAINER_NAME_PREFIX_LENGTH)}-${position + 1}`;
    initContainers.push(buildContainer(template, name, templates));
    initContainerPaths.push(formatPath(['components', template.componentIndex, 'container', 'volumeMounts']));
  });

  volumeComponents.sort((a, b) => compareBytes(a.component.name, b.component.name));
  const volumes: JsonObject[] = [];
  const claims: Array<{ volume: string; storage: string }> = [];
  for (const { component, index } of volumeComponents) {
    const name = component.name;
    const ephemeral = component.volume?.ephemeral === true;
    const size = component.volume?.size;
    // Sizes are validated even on ephemeral volumes (devfile validation), but only claims need one.
    const storage = size === undefined ? undefined : quantity(size, ['components', index, 'volume', 'size']);
    if (ephemeral) {
      volumes.push({ name, emptyDir: {} });
      continue;
    }
    volumes.push({ name, persistentVolumeClaim: { claimName: `${workspaceName}-${name}` } });
    if (storage === undefined) {
      throw new GenerationFailure(
        'devfile_invalid',
        `${QUANTITY_FORMAT_MESSAGE} (a persistent volume needs a size)`,
        formatPath(['components', index, 'volume', 'size']),
      );
    }
    claims.push({ volume: name, storage });
  }

  // §6.6: a target port's exposure is the highest across all container components (unset = public).
  const exposures = new Map<number, Exposure>();
  for (const template of templates) {
    for (const endpoint of template.container.endpoints ?? []) {
      const exposure: Exposure = endpoint.exposure ?? 'public';
      const seen = exposures.get(endpoint.targetPort);
      if (seen === undefined || EXPOSURE_RANK[exposure] > EXPOSURE_RANK[seen]) {
        exposures.set(endpoint.targetPort, exposure);
      }
    }
  }
  const servicePorts: JsonObject[] = [];
  const servicePortNumbers = new Set<number>();
  for (const template of podTemplates) {
    for (const port of template.ports) {
      const number = port['containerPort'] as number;
      if (servicePortNumbers.has(number) || exposures.get(number) === 'none') continue;
      servicePortNumbers.add(number);
      servicePorts.push({ name: port['name'] as string, port: number, targetPort: number });
    }
  }

  return { containers, initContainers, containerPaths, initContainerPaths, volumes, servicePorts, claims };
}
