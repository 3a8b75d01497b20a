/**
 * Reading and validating a workspace's `processed_devfile` (spec §1.4, §6.1, §10.1).
 *
 * Three layers, each failing with its own error kind:
 * 1. size and YAML (`devfile_missing`, `devfile_too_large`, `devfile_yaml`): see safe-yaml.ts;
 * 2. shape (`devfile_invalid`): a zod schema of the fields the generator reads, with the devfile 2.2 types
 *    (an unquoted number where a string belongs fails, as in GitLab's JSON-schema validation). Unknown keys
 *    are let through: the generator ignores them, as GitLab does for `schemaVersion`, `metadata`, …;
 * 3. references (`devfile_invalid`): the devfile library's cross-checks that matter here (unique names and
 *    ids, events naming existing commands of the right type, mounts naming volume components) and the
 *    component kinds GitLab rejects.
 *
 * Every failure carries the devfile path of the offending value, e.g. `components[2].container.memoryLimit`.
 */
import { z } from 'zod';

import { GenerationFailure } from './errors.js';
import { formatPath, hasOwn, isJsonObject } from './json.js';
import { loadSafeYaml, YamlRefusal, YAMLException } from './safe-yaml.js';

/** `processed_devfile` is a `text` column GitLab validates to at most 65,535 characters. */
export const MAX_DEVFILE_CHARACTERS = 65_535;

/** Devfile component names and command ids: lowercase DNS-like, at most 63 characters. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsName = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(DNS_NAME, 'must consist of lowercase letters, digits and "-", and start and end with a letter or digit');

const attributesSchema = z.record(z.string(), z.unknown());

const envVarSchema = z.looseObject({ name: z.string(), value: z.string().optional() });

const endpointSchema = z.looseObject({
  name: z.string(),
  targetPort: z.number().int(),
  exposure: z.enum(['public', 'internal', 'none']).optional(),
  protocol: z.enum(['http', 'https', 'ws', 'wss', 'tcp', 'udp']).optional(),
  secure: z.boolean().optional(),
  path: z.string().optional(),
  attributes: attributesSchema.optional(),
});

const volumeMountSchema = z.looseObject({ name: z.string(), path: z.string().optional() });

const containerSchema = z.looseObject({
  image: z.string(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(envVarSchema).optional(),
  endpoints: z.array(endpointSchema).optional(),
  volumeMounts: z.array(volumeMountSchema).optional(),
  memoryLimit: z.string().optional(),
  memoryRequest: z.string().optional(),
  cpuLimit: z.string().optional(),
  cpuRequest: z.string().optional(),
  mountSources: z.boolean().optional(),
  sourceMapping: z.string().optional(),
  dedicatedPod: z.boolean().optional(),
});

const volumeSchema = z.looseObject({ size: z.string().optional(), ephemeral: z.boolean().optional() });

const componentSchema = z.looseObject({
  name: dnsName,
  attributes: attributesSchema.optional(),
  container: containerSchema.optional(),
  volume: volumeSchema.optional(),
});

const execSchema = z.looseObject({
  commandLine: z.string(),
  component: z.string(),
  workingDir: z.string().optional(),
  label: z.string().optional(),
});
const applySchema = z.looseObject({ component: z.string(), label: z.string().optional() });
const compositeSchema = z.looseObject({
  commands: z.array(z.string()).optional(),
  parallel: z.boolean().optional(),
  label: z.string().optional(),
});

const commandSchema = z.looseObject({
  id: dnsName,
  exec: execSchema.optional(),
  apply: applySchema.optional(),
  composite: compositeSchema.optional(),
});

/** An absent, null or empty event list all mean "no such event" (spec §10.2 for postStart). */
const eventListSchema = z.array(z.string()).nullish();

const eventsSchema = z.looseObject({
  preStart: eventListSchema,
  postStart: eventListSchema,
  preStop: eventListSchema,
  postStop: eventListSchema,
});

const projectSchema = z.looseObject({ name: z.string(), clonePath: z.string().optional() });

const devfileSchema = z.looseObject({
  components: z.array(componentSchema).optional(),
  // GitLab's scripts step fetches both keys unconditionally (spec §10.1).
  commands: z.array(commandSchema),
  events: eventsSchema,
  projects: z.array(projectSchema).optional(),
  attributes: attributesSchema.optional(),
});

export type DevfileComponent = z.infer<typeof componentSchema>;
export type DevfileContainer = z.infer<typeof containerSchema>;
export type DevfileEndpoint = z.infer<typeof endpointSchema>;
export type DevfileCommand = z.infer<typeof commandSchema>;
export type DevfileProject = z.infer<typeof projectSchema>;

export interface DevfileEvents {
  /** As written (not yet sorted or de-duplicated: that is §6.1's job, done where it is used). */
  readonly preStart: readonly string[];
  /** As written: order and duplicates matter for the scripts (§7.2). */
  readonly postStart: readonly string[];
  readonly preStop: readonly string[];
  readonly postStop: readonly string[];
}

/** A devfile that passed all three layers. Array positions are the devfile's, so paths can name them. */
export interface Devfile {
  readonly components: readonly DevfileComponent[];
  readonly commands: readonly DevfileCommand[];
  readonly commandsById: ReadonlyMap<string, DevfileCommand>;
  readonly componentIndexByName: ReadonlyMap<string, number>;
  readonly events: DevfileEvents;
  readonly projects: readonly DevfileProject[];
}

function invalid(detail: string, path: ReadonlyArray<string | number>): GenerationFailure {
  return new GenerationFailure('devfile_invalid', detail, path.length === 0 ? undefined : formatPath(path));
}

/** Number of Unicode characters (code points), as PostgreSQL and Ruby count them. */
export function characterCount(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'an empty document';
  if (Array.isArray(value)) return 'a sequence';
  return `a ${typeof value} scalar`;
}

/** The failure of a devfile of `characters` characters (over the limit), also raised for a folded state's marker. */
export function devfileTooLarge(characters: number): GenerationFailure {
  return new GenerationFailure(
    'devfile_too_large',
    `processed_devfile has ${characters} characters; at most ${MAX_DEVFILE_CHARACTERS} are allowed`,
    undefined,
  );
}

/** Layer 1: text to JSON values. */
function parseYaml(text: string): Record<string, unknown> {
  const characters = characterCount(text, MAX_DEVFILE_CHARACTERS);
  if (characters > MAX_DEVFILE_CHARACTERS) throw devfileTooLarge(characters);
  let document: unknown;
  try {
    document = loadSafeYaml(text);
  } catch (error) {
    if (error instanceof YamlRefusal) {
      const path = error.path === undefined || error.path.length === 0 ? undefined : formatPath(error.path);
      throw new GenerationFailure('devfile_yaml', error.message, path);
    }
    if (error instanceof YAMLException) {
      const line = error.mark ? ` (line ${error.mark.line + 1}, column ${error.mark.column + 1})` : '';
      throw new GenerationFailure('devfile_yaml', `${error.reason}${line}`, undefined);
    }
    // Pathological nesting can exhaust js-yaml's recursion: still malformed input, not a crash.
    if (error instanceof RangeError) {
      throw new GenerationFailure('devfile_yaml', 'the YAML document is nested too deeply', undefined);
    }
    throw error;
  }
  if (!isJsonObject(document)) {
    const detail = `the devfile must be a YAML mapping, not ${describe(document)}`;
    throw new GenerationFailure('devfile_invalid', detail, undefined);
  }
  return document;
}

const COMPONENT_KINDS = ['container', 'volume', 'kubernetes', 'openshift', 'image', 'custom'] as const;
const COMMAND_KINDS = ['exec', 'apply', 'composite', 'custom'] as const;
/** Attributes GitLab's devfile restrictions reject before a devfile is ever processed (spec §6.1). */
const OVERRIDE_ATTRIBUTES = ['container-overrides', 'pod-overrides'] as const;

/** The kind keys present on a component or command (a key whose value is null counts: it is not absent). */
function presentKinds(raw: Record<string, unknown>, kinds: readonly string[]): string[] {
  return kinds.filter((kind) => hasOwn(raw, kind) && raw[kind] !== undefined);
}

/** Layer 3: components. Returns the index of each component by name. */
function checkComponents(components: readonly DevfileComponent[]): Map<string, number> {
  const indexByName = new Map<string, number>();
  components.forEach((component, index) => {
    if (indexByName.has(component.name)) {
      throw invalid(`duplicate component name "${component.name}"`, ['components', index, 'name']);
    }
    indexByName.set(component.name, index);

    const kinds = presentKinds(component, COMPONENT_KINDS);
    if (kinds.length !== 1) {
      throw invalid(
        kinds.length === 0
          ? 'a component must have exactly one of container, volume, kubernetes, openshift, image, custom'
          : `a component must have exactly one kind, found ${kinds.join(', ')}`,
        ['components', index],
      );
    }
    const kind = kinds[0] ?? '';
    if (kind !== 'container' && kind !== 'volume') {
      throw invalid(`${kind} components are not supported in workspaces`, ['components', index, kind]);
    }
    for (const attribute of OVERRIDE_ATTRIBUTES) {
      if (component.attributes !== undefined && hasOwn(component.attributes, attribute)) {
        throw invalid(`the attribute "${attribute}" is not supported in workspaces`, [
          'components',
          index,
          'attributes',
          attribute,
        ]);
      }
    }
    // Devfile 2.2 container `annotation` would add Deployment/Service annotations that this spec does not
    // describe; refusing is safer than silently producing a different object.
    if (component.container !== undefined && hasOwn(component.container, 'annotation')) {
      throw invalid('container annotations are not supported', ['components', index, 'container', 'annotation']);
    }
  });

  components.forEach((component, index) => {
    component.container?.volumeMounts?.forEach((mount, mountIndex) => {
      const target = indexByName.get(mount.name);
      if (target === undefined || components[target]?.volume === undefined) {
        throw invalid(`volume mount "${mount.name}" does not name a volume component`, [
          'components',
          index,
          'container',
          'volumeMounts',
          mountIndex,
          'name',
        ]);
      }
    });
  });
  return indexByName;
}

/** Layer 3: commands. Returns the commands by id. */
function checkCommands(
  commands: readonly DevfileCommand[],
  components: readonly DevfileComponent[],
  componentIndexByName: ReadonlyMap<string, number>,
): Map<string, DevfileCommand> {
  const byId = new Map<string, DevfileCommand>();
  commands.forEach((command, index) => {
    if (byId.has(command.id)) throw invalid(`duplicate command id "${command.id}"`, ['commands', index, 'id']);
    byId.set(command.id, command);
    const kinds = presentKinds(command, COMMAND_KINDS);
    if (kinds.length !== 1) {
      throw invalid(
        kinds.length === 0
          ? 'a command must have exactly one of exec, apply, composite'
          : `a command must have exactly one kind, found ${kinds.join(', ')}`,
        ['commands', index],
      );
    }
    if (kinds[0] === 'custom') throw invalid('custom commands are not supported', ['commands', index, 'custom']);
  });

  commands.forEach((command, index) => {
    if (command.exec !== undefined) {
      const target = componentIndexByName.get(command.exec.component);
      if (target === undefined || components[target]?.container === undefined) {
        throw invalid(`exec command component "${command.exec.component}" is not a container component`, [
          'commands',
          index,
          'exec',
          'component',
        ]);
      }
    } else if (command.apply !== undefined) {
      if (!componentIndexByName.has(command.apply.component)) {
        throw invalid(`apply command component "${command.apply.component}" does not exist`, [
          'commands',
          index,
          'apply',
          'component',
        ]);
      }
    } else if (command.composite !== undefined) {
      command.composite.commands?.forEach((id, subIndex) => {
        if (id === command.id || !byId.has(id)) {
          throw invalid(
            id === command.id ? 'a composite command cannot reference itself' : `command "${id}" does not exist`,
            ['commands', index, 'composite', 'commands', subIndex],
          );
        }
      });
    }
  });
  return byId;
}

type EventName = 'preStart' | 'postStart' | 'preStop' | 'postStop';

/** Layer 3: events name existing commands of the kind each event runs. */
function checkEvents(events: DevfileEvents, byId: ReadonlyMap<string, DevfileCommand>): void {
  const check = (event: EventName, allowed: (command: DevfileCommand) => string | undefined): void => {
    events[event].forEach((id, index) => {
      const command = byId.get(id);
      const problem = command === undefined ? `command "${id}" does not exist` : allowed(command);
      if (problem !== undefined) throw invalid(problem, ['events', event, index]);
    });
  };
  // preStart / postStop run apply commands (a composite stands for its sub-commands, which must be apply).
  const applyOnly = (command: DevfileCommand): string | undefined => {
    if (command.apply !== undefined) return undefined;
    if (command.composite !== undefined) {
      const bad = (command.composite.commands ?? []).find((sub) => byId.get(sub)?.apply === undefined);
      if (bad === undefined) return undefined;
      return `composite command "${command.id}" includes "${bad}", which is not an apply command`;
    }
    return `command "${command.id}" is not an apply command`;
  };
  check('preStart', applyOnly);
  check('postStop', applyOnly);
  // postStart runs exec commands only: GitLab's scripts step reads `exec.commandLine` of each (§7.2).
  const notExec = (command: DevfileCommand): string => `command "${command.id}" is not an exec command`;
  check('postStart', (command) => (command.exec === undefined ? notExec(command) : undefined));
  check('preStop', (command) =>
    command.exec === undefined && command.composite === undefined ? notExec(command) : undefined,
  );
}

/**
 * Reads `processed_devfile`, or throws a {@link GenerationFailure} naming what is wrong and where.
 */
export function readDevfile(text: string | null): Devfile {
  if (text === null) throw new GenerationFailure('devfile_missing', 'processed_devfile is null', undefined);
  if (typeof text !== 'string') {
    throw new GenerationFailure('devfile_invalid', 'processed_devfile is not a string', undefined);
  }
  if (text.length === 0) throw new GenerationFailure('devfile_missing', 'processed_devfile is empty', undefined);

  const parsed = devfileSchema.safeParse(parseYaml(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(issue?.message ?? 'invalid devfile', (issue?.path ?? []).filter(
      (segment): segment is string | number => typeof segment === 'string' || typeof segment === 'number',
    ));
  }
  const devfile = parsed.data;
  const components = devfile.components ?? [];
  const componentIndexByName = checkComponents(components);
  if (devfile.attributes !== undefined && hasOwn(devfile.attributes, 'pod-overrides')) {
    throw invalid('the attribute "pod-overrides" is not supported in workspaces', ['attributes', 'pod-overrides']);
  }
  const commandsById = checkCommands(devfile.commands, components, componentIndexByName);
  const events: DevfileEvents = {
    preStart: devfile.events.preStart ?? [],
    postStart: devfile.events.postStart ?? [],
    preStop: devfile.events.preStop ?? [],
    postStop: devfile.events.postStop ?? [],
  };
  checkEvents(events, commandsById);

  return {
    components,
    commands: devfile.commands,
    commandsById,
    componentIndexByName,
    events,
    projects: devfile.projects ?? [],
  };
}
