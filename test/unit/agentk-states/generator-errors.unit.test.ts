/**
 * Failures of spec §10.1, through the public generator: each is a DesiredConfigError with the right kind
 * and a `path` naming the exact devfile location or agent-config field.
 */
import { describe, expect, it } from 'vitest';

import { generateDesiredConfigJson } from '../../../projections/agentk-states/generate.js';
import { generate, generationError, generatorInput, minimalDevfileLines, yaml } from './helpers.js';

/** The minimal devfile with line `index` replaced by `replacement` lines. */
function edited(index: number, ...replacement: string[]): string {
  const lines = minimalDevfileLines();
  lines.splice(index, 1, ...replacement);
  return yaml(lines);
}

/** The minimal devfile with extra lines appended. */
function appended(...extra: string[]): string {
  return yaml([...minimalDevfileLines(), ...extra]);
}

describe('the minimal devfile of these tests', () => {
  it('is accepted', () => {
    expect(generate({ devfile: yaml(minimalDevfileLines()) }).length).toBe(9);
  });
});

describe('devfile paths in errors', () => {
  it('names components[i].container.memoryLimit for a bad quantity, with the §6.4 message', () => {
    const error = generationError(
      generatorInput({ devfile: edited(9, '      image: example.test/cloner:1', '      memoryLimit: 1.2.3Gi') }),
    );
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('components[1].container.memoryLimit');
    expect(error.detail).toContain(
      "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    );
  });

  it('names components[i].volume.size for a missing volume size', () => {
    const error = generationError(generatorInput({ devfile: edited(12, '    volume: {}') }));
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('components[2].volume.size');
    expect(error.detail).toContain('quantities must match the regular expression');
  });

  it('names the value for an unquoted number where a string belongs', () => {
    const error = generationError(
      generatorInput({ devfile: edited(5, '      image: example.test/main:1', '      env: [{name: PORT, value: 60001}]') }),
    );
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('components[0].container.env[0].value');
  });

  it('names the value for a YAML 1.1 boolean where a string belongs', () => {
    const error = generationError(
      generatorInput({ devfile: edited(5, '      image: example.test/main:1', '      env: [{name: FLAG, value: yes}]') }),
    );
    expect(error.path).toBe('components[0].container.env[0].value');
  });

  it('names events.postStart[i] for a postStart id naming no command', () => {
    const error = generationError(
      generatorInput({ devfile: appended('  postStart: [hello, nope]').replace('commands:\n', 'commands:\n  - id: hello\n    exec: {component: main, commandLine: echo}\n') }),
    );
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('events.postStart[1]');
  });

  it('names events.postStart[i] for a postStart id naming an apply command', () => {
    const error = generationError(generatorInput({ devfile: appended('  postStart: [clone]') }));
    expect(error.path).toBe('events.postStart[0]');
  });

  it('names events.preStart[i] for a preStart id naming an exec command', () => {
    const text = edited(17, '  preStart: [clone, hello]').replace(
      'commands:\n',
      'commands:\n  - id: hello\n    exec: {component: main, commandLine: echo}\n',
    );
    expect(generationError(generatorInput({ devfile: text })).path).toBe('events.preStart[1]');
  });

  it('names commands[i].exec.commandLine for an exec command without a command line', () => {
    const text = appended('  postStart: [hello]').replace('commands:\n', 'commands:\n  - id: hello\n    exec: {component: main}\n');
    const error = generationError(generatorInput({ devfile: text }));
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('commands[0].exec.commandLine');
  });

  it('names commands or events when the key is missing (§10.1 scripts step)', () => {
    const noCommands = minimalDevfileLines().filter((_, i) => i < 13 || i > 15);
    expect(generationError(generatorInput({ devfile: yaml(noCommands) })).path).toBe('commands');
    const noEvents = minimalDevfileLines().slice(0, 16);
    expect(generationError(generatorInput({ devfile: yaml(noEvents) })).path).toBe('events');
  });

  it('names the attribute of a component carrying container-overrides or pod-overrides', () => {
    const error = generationError(
      generatorInput({ devfile: edited(3, '    attributes: {gl/inject-editor: true, container-overrides: {}}') }),
    );
    expect(error.path).toBe('components[0].attributes.container-overrides');
    const podError = generationError(generatorInput({ devfile: edited(3, '    attributes: {pod-overrides: {}}') }));
    expect(podError.path).toBe('components[0].attributes.pod-overrides');
  });

  it('names the kind of a component that is neither a container nor a volume', () => {
    const error = generationError(
      generatorInput({ devfile: appended().replace('  - name: data\n', '  - name: extra\n    kubernetes: {uri: x.yaml}\n  - name: data\n') }),
    );
    expect(error.path).toBe('components[2].kubernetes');
  });

  it('names the component name for an invalid or duplicate name', () => {
    expect(generationError(generatorInput({ devfile: edited(2, '  - name: Main') })).path).toBe('components[0].name');
    expect(generationError(generatorInput({ devfile: edited(7, '  - name: main') })).path).toBe('components[1].name');
  });

  it('names the volume mount that does not name a volume component', () => {
    const error = generationError(generatorInput({ devfile: edited(6, '      volumeMounts: [{name: nowhere, path: /x}]') }));
    expect(error.path).toBe('components[0].container.volumeMounts[0].name');
  });

  it('names the container that mounts nothing (§10.1 pod editing)', () => {
    const error = generationError(generatorInput({ devfile: edited(6) }));
    expect(error.kind).toBe('devfile_invalid');
    expect(error.path).toBe('components[0].container.volumeMounts');
    expect(error.detail).toContain('main');
  });

  it('fails at events.preStart when no init container results', () => {
    expect(generationError(generatorInput({ devfile: edited(17, '  preStart: []') })).path).toBe('events.preStart');
    // An apply command on a volume component yields no init container either.
    expect(generationError(generatorInput({ devfile: edited(15, '    apply: {component: data}') })).path).toBe('events.preStart');
  });

  it('fails at components when there is no volume component', () => {
    const lines = minimalDevfileLines().filter((_, i) => i !== 11 && i !== 12);
    const text = yaml(lines).replaceAll('volumeMounts: [{name: data, path: /projects}]', 'env: []');
    // GitLab fetches the pod's volumes before any container's mounts, so this is the error reported.
    expect(generationError(generatorInput({ devfile: text })).path).toBe('components');
  });
});

describe('YAML-level failures', () => {
  it('devfile_missing for null and empty text', () => {
    expect(generationError(generatorInput({ devfile: null })).kind).toBe('devfile_missing');
    expect(generationError(generatorInput({ devfile: '' })).kind).toBe('devfile_missing');
  });

  it('devfile_yaml for an alias, naming it', () => {
    const error = generationError(generatorInput({ devfile: appended('x-extra: &a [1]', 'y-extra: *a') }));
    expect(error.kind).toBe('devfile_yaml');
    expect(error.detail).toContain('*a');
  });

  it('devfile_yaml for an unquoted date, at its devfile path', () => {
    const error = generationError(
      generatorInput({ devfile: edited(5, '      image: example.test/main:1', '      env: [{name: RELEASED, value: 2024-01-01}]') }),
    );
    expect(error.kind).toBe('devfile_yaml');
    expect(error.path).toBe('components[0].container.env[0].value');
  });

  it('devfile_invalid for a document that is not a mapping', () => {
    expect(generationError(generatorInput({ devfile: '- a\n- b\n' })).kind).toBe('devfile_invalid');
    expect(generationError(generatorInput({ devfile: 'just text\n' })).kind).toBe('devfile_invalid');
    expect(generationError(generatorInput({ devfile: '   \n' })).kind).toBe('devfile_invalid');
  });

  it('devfile_too_large above 65,535 characters, counting characters, not UTF-16 units', () => {
    // A trailing comment line padded to the size under test.
    const base = `${yaml(minimalDevfileLines())}# `;
    const padding = 65_535 - base.length;
    expect(generate({ devfile: `${base}${'x'.repeat(padding)}` })).toHaveLength(9);
    expect(generationError(generatorInput({ devfile: `${base}${'x'.repeat(padding + 1)}` })).kind).toBe('devfile_too_large');
    // 😀 is one character but two UTF-16 units: 65,535 characters pass even though .length is larger.
    const emoji = `${base}${'😀'.repeat(padding)}`;
    expect(emoji.length).toBeGreaterThan(65_535);
    expect(generate({ devfile: emoji })).toHaveLength(9);
  });
});

describe('agent-config paths in errors', () => {
  const devfile = yaml(minimalDevfileLines());

  it('labels.<key> and annotations.<key> for non-string values; quoted keys when not identifiers', () => {
    expect(generationError(generatorInput({ devfile, agent: { labels: { team: 5 } } })).path).toBe('labels.team');
    expect(generationError(generatorInput({ devfile, agent: { labels: { 'app.kubernetes.io/name': null } } })).path).toBe(
      'labels["app.kubernetes.io/name"]',
    );
    const error = generationError(generatorInput({ devfile, agent: { annotations: { owner: { nested: 'x' } } } }));
    expect(error.kind).toBe('agent_config_invalid');
    expect(error.path).toBe('annotations.owner');
  });

  it('max_resources_per_workspace.<group>.<resource> for a missing ResourceQuota value', () => {
    const error = generationError(
      generatorInput({ devfile, agent: { max_resources_per_workspace: { limits: { memory: '1Gi' }, requests: { cpu: '1', memory: '1Gi' } } } }),
    );
    expect(error.kind).toBe('agent_config_invalid');
    expect(error.path).toBe('max_resources_per_workspace.limits.cpu');
    const noRequests = generatorInput({ devfile, agent: { max_resources_per_workspace: { limits: { cpu: '1', memory: '1Gi' } } } });
    expect(generationError(noRequests).path).toBe('max_resources_per_workspace.requests');
  });

  it('does not need the four values in shared-namespace mode (no ResourceQuota there)', () => {
    const agent = { shared_namespace: 'shared', max_resources_per_workspace: { limits: { cpu: '1' } } };
    expect(generate({ devfile, agent })).toHaveLength(9);
  });

  it('image_pull_secrets[i].name for an entry without name, or that is not an object', () => {
    const unnamed = generatorInput({ devfile, agent: { image_pull_secrets: [{ name: 'ok' }, { namespace: 'x' }] } });
    expect(generationError(unnamed).path).toBe('image_pull_secrets[1].name');
    expect(generationError(generatorInput({ devfile, agent: { image_pull_secrets: ['just-a-name'] } })).path).toBe(
      'image_pull_secrets[0].name',
    );
  });

  it('network_policy_egress[i] for an entry that is not an object', () => {
    const error = generationError(generatorInput({ devfile, agent: { network_policy_egress: ['0.0.0.0/0'] } }));
    expect(error.kind).toBe('agent_config_invalid');
    expect(error.path).toBe('network_policy_egress[0]');
  });
});

describe('the error itself', () => {
  it('carries the workspace id, kind, path and detail, all in the message', () => {
    const error = generationError(
      generatorInput({ devfile: edited(9, '      image: example.test/cloner:1', '      cpuLimit: lots') }),
    );
    expect(error.workspaceId).toBe(42);
    expect(error.message).toBe(`workspace 42: devfile_invalid at components[1].container.cpuLimit: ${error.detail}`);
  });
});

describe('generateDesiredConfigJson', () => {
  it('returns the same array and its compact JSON text', () => {
    const minimalInput = generatorInput({ devfile: yaml(minimalDevfileLines()) });
    const { desiredConfig, json } = generateDesiredConfigJson(minimalInput);
    expect(desiredConfig).toEqual(generate({ devfile: yaml(minimalDevfileLines()) }));
    expect(JSON.parse(json)).toEqual(desiredConfig);
    expect(json).toBe(JSON.stringify(desiredConfig));
  });
});
