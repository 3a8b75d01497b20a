/**
 * Inputs that make generation fail (spec §10.1): a DesiredConfigError of the right kind, for the right
 * workspace, naming where the problem is (its `path`, or the message, which carries the path).
 */
import { describe, expect, test } from 'vitest';

import {
  addExecCommand,
  componentOf,
  containerOf,
  devfileYaml,
  expectGenerationFailure,
  generate,
  generatorInput,
  minimalDevfile,
  minimalYamlWith,
  type Devfile,
} from './helpers.js';

const QUANTITIES_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

describe('the processed devfile is missing or is not YAML a safe loader accepts', () => {
  test('a null processed_devfile fails with devfile_missing', () => {
    expectGenerationFailure(generatorInput({ devfile: null }), 'devfile_missing');
  });

  test('an empty processed_devfile fails with devfile_missing', () => {
    expectGenerationFailure(generatorInput({ devfile: '' }), 'devfile_missing');
  });

  test('text that is not YAML fails with devfile_yaml', () => {
    expectGenerationFailure(generatorInput({ devfile: 'schemaVersion: 2.2.0\ncomponents: [unclosed\n' }), 'devfile_yaml');
  });

  test('an alias fails with devfile_yaml, naming the alias', () => {
    const text = minimalYamlWith(['env: &shared-env', '  - {name: A, value: b}'], ['env: *shared-env']);

    expectGenerationFailure(generatorInput({ devfile: text }), 'devfile_yaml', /alias|shared-env|components\[1\]/i);
  });

  test('an unquoted date fails with devfile_yaml, naming where it is', () => {
    const text = minimalYamlWith(['env:', '  - {name: RELEASED, value: 2024-01-01}']);

    expectGenerationFailure(
      generatorInput({ devfile: text }),
      'devfile_yaml',
      /components\[0\]\.container\.env\[0\]\.value|2024-01-01/,
    );
  });
});

describe('the YAML is not a devfile the generator can use', () => {
  test.each([
    ['a list', '- just\n- a list\n'],
    ['a scalar', 'just a string\n'],
  ])('a document that is %s, not a mapping, fails with devfile_invalid', (_label, text) => {
    expectGenerationFailure(generatorInput({ devfile: text }), 'devfile_invalid');
  });

  test('a value of the wrong type (an unquoted number where a string belongs) fails with devfile_invalid at its path', () => {
    const text = minimalYamlWith(['env:', '  - {name: PORT, value: 60001}']);

    expectGenerationFailure(generatorInput({ devfile: text }), 'devfile_invalid', 'components[0].container.env[0].value');
  });

  test('a bad quantity fails with the quantities message at its path', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').memoryLimit = '1Gb';

    const error = expectGenerationFailure(
      generatorInput({ devfile }),
      'devfile_invalid',
      'components[0].container.memoryLimit',
    );
    expect(error.message).toContain(QUANTITIES_MESSAGE);
  });

  test('a bad volume size fails with the quantities message at its path', () => {
    const devfile = minimalDevfile();
    componentOf(devfile, 'data').volume = { size: 'fifty' };

    const error = expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', 'components[2].volume');
    expect(error.message).toContain(QUANTITIES_MESSAGE);
  });

  test('a volume without size fails with devfile_invalid, naming the volume', () => {
    const devfile = minimalDevfile();
    componentOf(devfile, 'data').volume = {};

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', 'components[2].volume');
  });

  test('a devfile without preStart (so without init containers) fails with devfile_invalid', () => {
    const devfile = minimalDevfile();
    devfile.events = {};

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /preStart|initContainers/);
  });

  test('a devfile without any volume component fails with devfile_invalid', () => {
    const devfile = minimalDevfile();
    devfile.components = devfile.components.filter((c) => c.volume === undefined);
    for (const component of devfile.components) delete component.container?.volumeMounts;

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /volume/i);
  });

  test('a container without a volume mount fails with devfile_invalid, naming the container', () => {
    const devfile = minimalDevfile();
    delete containerOf(devfile, 'main').volumeMounts;

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /components\[0\]|\bmain\b/);
  });

  test('a devfile without a commands key fails with devfile_invalid', () => {
    const devfile: Devfile = minimalDevfile();
    delete devfile.commands;

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /commands|preStart/);
  });

  test('a devfile without an events key fails with devfile_invalid', () => {
    const devfile: Devfile = minimalDevfile();
    delete devfile.events;

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /events|preStart/);
  });

  test('an event naming an unknown command fails with devfile_invalid at the event', () => {
    const devfile = minimalDevfile();
    devfile.events = { ...devfile.events, postStart: ['no-such-command'] };

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /events\.postStart|no-such-command/);
  });

  test('preStart naming an exec command fails with devfile_invalid at the event', () => {
    const devfile = minimalDevfile();
    addExecCommand(devfile, 'not-apply', { component: 'main', commandLine: 'echo' });
    devfile.events = { preStart: ['clone', 'not-apply'] };

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /events\.preStart|not-apply/);
  });

  test('a postStart command without commandLine fails with devfile_invalid, naming the command', () => {
    const devfile = minimalDevfile();
    addExecCommand(devfile, 'no-line', { component: 'main' });
    devfile.events = { ...devfile.events, postStart: ['no-line'] };

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /commands\[1\]|no-line/);
  });

  test('a postStart command without component fails with devfile_invalid, naming the command', () => {
    const devfile = minimalDevfile();
    addExecCommand(devfile, 'no-component', { commandLine: 'echo' });
    devfile.events = { ...devfile.events, postStart: ['no-component'] };

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /commands\[1\]|no-component/);
  });

  test.each(['container-overrides', 'pod-overrides'])(
    'a component with the %s attribute is rejected with devfile_invalid, naming the component',
    (attribute) => {
      const devfile = minimalDevfile();
      componentOf(devfile, 'main').attributes = { [attribute]: { resources: { limits: { cpu: '1' } } } };

      expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /components\[0\]|container-overrides|pod-overrides/);
    },
  );

  test('a kubernetes component is rejected with devfile_invalid, naming the component', () => {
    const devfile = minimalDevfile();
    devfile.components.push({ name: 'extra', kubernetes: { inlined: 'apiVersion: v1\nkind: Pod\n' } });

    expectGenerationFailure(generatorInput({ devfile }), 'devfile_invalid', /components\[3\]|kubernetes|extra/);
  });
});

describe('the agent config cannot drive generation', () => {
  test('max_resources_per_workspace lacking requests.memory fails outside shared namespace with agent_config_invalid', () => {
    const input = generatorInput({
      agent: { max_resources_per_workspace: { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1' } } },
    });

    expectGenerationFailure(input, 'agent_config_invalid', 'max_resources_per_workspace');
  });

  test('an image pull secret without name fails with agent_config_invalid', () => {
    const input = generatorInput({ agent: { image_pull_secrets: [{ name: 'ok' }, { namespace: 'default' }] } });

    expectGenerationFailure(input, 'agent_config_invalid', 'image_pull_secrets');
  });

  test('a non-string agent label value fails with agent_config_invalid', () => {
    const input = generatorInput({ agent: { labels: { team: 'dev', replicas: 5 } } });

    expectGenerationFailure(input, 'agent_config_invalid', 'labels');
  });

  test('a non-string agent annotation value fails with agent_config_invalid', () => {
    const input = generatorInput({ agent: { annotations: { enabled: true } } });

    expectGenerationFailure(input, 'agent_config_invalid', 'annotations');
  });
});

describe('size limits', () => {
  /** A valid devfile padded with a trailing YAML comment to exactly `length` characters. */
  function paddedDevfile(length: number): string {
    const text = devfileYaml(minimalDevfile());
    const padding = length - text.length - 2; // '#' and the final newline
    return `${text}#${'x'.repeat(padding)}\n`;
  }

  test('a processed devfile of 65,536 characters fails with devfile_too_large', () => {
    const text = paddedDevfile(65_536);
    expect(text).toHaveLength(65_536);

    expectGenerationFailure(generatorInput({ devfile: text }), 'devfile_too_large');
  });

  test('a processed devfile of exactly 65,535 characters is accepted', () => {
    const text = paddedDevfile(65_535);
    expect(text).toHaveLength(65_535);

    expect(generate({ devfile: text })).toHaveLength(9);
  });

  test('a result over 64 KB of compact JSON fails with desired_config_invalid (§9 rule 2)', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').args = ['x'.repeat(63_000)];
    const text = devfileYaml(devfile);
    expect(text.length).toBeLessThanOrEqual(65_535);

    expectGenerationFailure(generatorInput({ devfile: text }), 'desired_config_invalid', /too large|64 KB/);
  });
});
