/** Inputs for the agentk-states unit tests: a minimal valid devfile as YAML lines, and generator inputs. */
import { DesiredConfigError } from '../../../projections/agentk-states/errors.js';
import { generateDesiredConfig } from '../../../projections/agentk-states/generate.js';
import {
  agentConfigSchema,
  workspaceInputSchema,
  type GeneratorInput,
  type KubernetesObject,
} from '../../../projections/agentk-states/inputs.js';

/**
 * The smallest devfile §10.1 accepts, one line per entry so tests can splice: container `main` (main
 * component), container `cloner` run by preStart apply `clone`, volume `data`. Lines 0–14.
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

export function yaml(lines: readonly string[]): string {
  return `${lines.join('\n')}\n`;
}


export function input(devfile: string | null, agent: Record<string, unknown> = {}, projectPath?: string): GeneratorInput {
  const result: GeneratorInput = {
    workspace: workspaceInputSchema.parse({
      id: 42,
      name: 'ws-a',
      namespace: 'ns-a',
      desired_state: 'Running',
      cluster_agent_id: 7,
      processed_devfile: devfile,
    }),
    agentConfig: agentConfigSchema.parse({ dns_zone: 'test.workspace.me', ...agent }),
  };
  if (projectPath !== undefined) result.projectPath = projectPath;
  return result;
}

export function generate(devfile: string | null, agent: Record<string, unknown> = {}, projectPath?: string): KubernetesObject[] {
  return generateDesiredConfig(input(devfile, agent, projectPath));
}

/** The DesiredConfigError for this input; throws if generation succeeds or throws anything else. */
export function failure(generatorInput: GeneratorInput): DesiredConfigError {
  try {
    generateDesiredConfig(generatorInput);
  } catch (error) {
    if (error instanceof DesiredConfigError) return error;
    throw error;
  }
  throw new Error('expected a DesiredConfigError, but generation succeeded');
}
