/**
 * postStart handling (spec §7): the scripts ConfigMap data, the Kubernetes postStart hook text, and which
 * containers get the hook. Nothing here runs when `events.postStart` is empty (§7, §10.2).
 *
 * Modes (§7.1):
 * - normal: some command anywhere in `commands` has `exec.label: gl-internal-blocking`. Two runners
 *   (blocking, non-blocking) and the normal hook; each runner entry may get a `cd` wrapper (§7.4).
 * - legacy: otherwise. One runner over all postStart ids, never a wrapper, and the legacy hook.
 */
import type { Devfile, DevfileCommand } from './devfile.js';
import { isRubyBlank, setOwn } from './json.js';
import { shellEscape } from './shell-escape.js';

export const INTERNAL_BLOCKING_LABEL = 'gl-internal-blocking';
const SCRIPTS_PATH = '/workspace-scripts';
const LEGACY_RUNNER = 'gl-run-poststart-commands.sh';
const BLOCKING_RUNNER = 'gl-run-internal-blocking-poststart-commands.sh';
const NON_BLOCKING_RUNNER = 'gl-run-non-blocking-poststart-commands.sh';
const MAIN_COMPONENT_ATTRIBUTE = 'gl/inject-editor';

/** §7.5, legacy mode. */
export const LEGACY_HOOK =
  '#!/bin/sh\n\nmkdir -p "${GL_WORKSPACE_LOGS_DIR}"\nln -sf "${GL_WORKSPACE_LOGS_DIR}" /tmp\n' +
  `"${SCRIPTS_PATH}/${LEGACY_RUNNER}" 1>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log" 2>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log"\n`;

/** §7.5, normal mode. */
export const NORMAL_HOOK =
  '#!/bin/sh\n\nmkdir -p "${GL_WORKSPACE_LOGS_DIR}"\nln -sf "${GL_WORKSPACE_LOGS_DIR}" /tmp\n\n' +
  '{\n' +
  '    echo "$(date -Iseconds): ----------------------------------------"\n' +
  '    echo "$(date -Iseconds): Running poststart commands for workspace..."\n\n' +
  '    echo "$(date -Iseconds): ----------------------------------------"\n' +
  '    echo "$(date -Iseconds): Running internal blocking poststart commands script..."\n' +
  '} >> "${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log"\n\n' +
  `"${SCRIPTS_PATH}/${BLOCKING_RUNNER}" 1>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log" 2>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log"\n\n` +
  '{\n' +
  '    echo "$(date -Iseconds): ----------------------------------------"\n' +
  '    echo "$(date -Iseconds): Running non-blocking poststart commands script..."\n' +
  '} >> "${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log"\n\n' +
  `"${SCRIPTS_PATH}/${NON_BLOCKING_RUNNER}" 1>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log" 2>>"\${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log" &\n`;

export interface PostStartPlan {
  /** The scripts ConfigMap `data` (§7.3). */
  readonly data: Record<string, string>;
  /** The hook text for every container named by a postStart command (§7.5). */
  readonly hook: string;
  /** Names of the containers that get the hook: the `exec.component` of each postStart command. */
  readonly hookedContainers: ReadonlySet<string>;
}

interface RunnerEntry {
  readonly id: string;
  /** Shell-escaped working directory, when the `cd` wrapper applies. */
  readonly dir: string | undefined;
}

/** RUNNER(ids) of §7.3. */
export function runner(entries: readonly RunnerEntry[]): string {
  let text = '#!/bin/sh\n';
  for (const { id, dir } of entries) {
    const script = `${SCRIPTS_PATH}/${id}`;
    const exec = dir === undefined ? script : `(cd ${dir} && ${script})`;
    text +=
      'echo "$(date -Iseconds): ----------------------------------------"\n' +
      `echo "$(date -Iseconds): Running ${script}..."\n` +
      `${exec} || true\n` +
      `echo "$(date -Iseconds): Finished running ${script}."\n`;
  }
  return text;
}

/** §7.4: the first component whose `gl/inject-editor` attribute is neither absent, null nor false. */
function mainComponentName(devfile: Devfile): string | undefined {
  for (const component of devfile.components) {
    const attributes = component.attributes;
    if (attributes === undefined || !Object.prototype.hasOwnProperty.call(attributes, MAIN_COMPONENT_ATTRIBUTE)) continue;
    const value = attributes[MAIN_COMPONENT_ATTRIBUTE];
    if (value !== null && value !== false && value !== undefined) return component.name;
  }
  return undefined;
}

/** §7.4 working directory of one normal-mode entry, already shell-escaped. */
function workingDirectory(
  command: DevfileCommand,
  mainComponent: string | undefined,
  projectPath: string | undefined,
): string | undefined {
  const exec = command.exec;
  if (exec === undefined) return undefined;
  if (exec.workingDir !== undefined && !isRubyBlank(exec.workingDir)) return shellEscape(exec.workingDir);
  if (mainComponent !== undefined && exec.component === mainComponent && projectPath !== undefined) {
    return `\${PROJECT_SOURCE}/${shellEscape(projectPath)}`;
  }
  return undefined;
}

/**
 * The postStart plan, or `undefined` when the devfile has no postStart commands. Expects a devfile that
 * passed devfile.ts (every postStart id names an exec command).
 */
export function planPostStart(devfile: Devfile, projectPath: string | undefined): PostStartPlan | undefined {
  const ids = devfile.events.postStart;
  if (ids.length === 0) return undefined;

  const commands: DevfileCommand[] = [];
  const data: Record<string, string> = {};
  const hookedContainers = new Set<string>();
  for (const id of ids) {
    const command = devfile.commandsById.get(id);
    if (command?.exec === undefined) continue; // refused earlier by devfile.ts
    commands.push(command);
    setOwn(data, id, command.exec.commandLine);
    hookedContainers.add(command.exec.component);
  }

  const normal = devfile.commands.some((command) => command.exec?.label === INTERNAL_BLOCKING_LABEL);
  if (!normal) {
    data[LEGACY_RUNNER] = runner(commands.map((command) => ({ id: command.id, dir: undefined })));
    return { data, hook: LEGACY_HOOK, hookedContainers };
  }

  const main = mainComponentName(devfile);
  const blocking: RunnerEntry[] = [];
  const nonBlocking: RunnerEntry[] = [];
  for (const command of commands) {
    const entry = { id: command.id, dir: workingDirectory(command, main, projectPath) };
    (command.exec?.label === INTERNAL_BLOCKING_LABEL ? blocking : nonBlocking).push(entry);
  }
  data[BLOCKING_RUNNER] = runner(blocking);
  data[NON_BLOCKING_RUNNER] = runner(nonBlocking);
  return { data, hook: NORMAL_HOOK, hookedContainers };
}
