/**
 * postStart: scripts ConfigMap, scripts volume and mounts, lifecycle hooks, legacy and normal modes
 * (spec §5.2 "When scripts exist", §7, §10.2, §11).
 */
import { describe, expect, test } from 'vitest';

import {
  addContainer,
  addExecCommand,
  annotationSet,
  componentOf,
  containerNamed,
  containers,
  findObject,
  findObjects,
  generate,
  initContainers,
  kindsAndNames,
  labelSet,
  LEGACY_POSTSTART_HOOK,
  lifecycle,
  minimalDevfile,
  NORMAL_POSTSTART_HOOK,
  podSpec,
  runnerScript,
  SCRIPTS_MOUNT,
  scriptsVolume,
  VARIABLES_MOUNT,
  variablesVolume,
  type Devfile,
} from './helpers.js';

const SCM = 'ws-a-scripts-configmap';
const DATA_MOUNT = { mountPath: '/projects', name: 'data' };

/** Minimal devfile plus two unlabelled commands on the main component, both in postStart: legacy mode. */
function legacyDevfile(): Devfile {
  const devfile = minimalDevfile();
  addExecCommand(devfile, 'start-sshd', { component: 'main', commandLine: 'echo sshd\n', workingDir: '/elsewhere' });
  addExecCommand(devfile, 'init-tools', { component: 'main', commandLine: 'echo tools' });
  devfile.events = { ...devfile.events, postStart: ['start-sshd', 'init-tools'] };
  return devfile;
}

/**
 * Normal mode: `blocking-one` (main, blocking, workingDir /projects), `user-cmd` (main, no label, no
 * workingDir), `helper-cmd` (non-main container `helper`, blocking, no workingDir); container `bystander`
 * is named by no postStart command.
 */
function normalDevfile(): Devfile {
  const devfile = minimalDevfile();
  addContainer(devfile, 'helper');
  addContainer(devfile, 'bystander');
  addExecCommand(devfile, 'blocking-one', {
    component: 'main',
    commandLine: 'echo 1',
    label: 'gl-internal-blocking',
    workingDir: '/projects',
  });
  addExecCommand(devfile, 'user-cmd', { component: 'main', commandLine: 'echo 2' });
  addExecCommand(devfile, 'helper-cmd', { component: 'helper', commandLine: 'echo 3', label: 'gl-internal-blocking' });
  devfile.events = { ...devfile.events, postStart: ['blocking-one', 'user-cmd', 'helper-cmd'] };
  return devfile;
}

describe('the RUNNER test helper', () => {
  test("reproduces both exact examples of §7.3, so tests that use it check the spec's text", () => {
    expect(
      runnerScript(['gl-start-sshd-command', 'gl-init-tools-command', 'gl-sleep-until-container-is-running-command']),
    ).toBe(
      "#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-start-sshd-command...\"\n/workspace-scripts/gl-start-sshd-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-start-sshd-command.\"\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-init-tools-command...\"\n/workspace-scripts/gl-init-tools-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-init-tools-command.\"\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-sleep-until-container-is-running-command...\"\n/workspace-scripts/gl-sleep-until-container-is-running-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-sleep-until-container-is-running-command.\"\n",
    );
    expect(runnerScript([{ id: 'gl-internal-example-command-1', dir: '/projects' }])).toBe(
      "#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-1...\"\n(cd /projects && /workspace-scripts/gl-internal-example-command-1) || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-1.\"\n",
    );
    expect(runnerScript([])).toBe('#!/bin/sh\n');
  });
});

describe('legacy mode (no command labelled gl-internal-blocking)', () => {
  test('the scripts ConfigMap holds each command line unchanged and one runner without working directories', () => {
    const objects = generate({ devfile: legacyDevfile(), projectPath: 'my-project' });

    expect(findObject(objects, 'ConfigMap', SCM)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: SCM, namespace: 'ns-a', labels: labelSet(), annotations: annotationSet('WP') },
      data: {
        'start-sshd': 'echo sshd\n',
        'init-tools': 'echo tools',
        'gl-run-poststart-commands.sh':
          '#!/bin/sh\n' +
          'echo "$(date -Iseconds): ----------------------------------------"\n' +
          'echo "$(date -Iseconds): Running /workspace-scripts/start-sshd..."\n' +
          '/workspace-scripts/start-sshd || true\n' +
          'echo "$(date -Iseconds): Finished running /workspace-scripts/start-sshd."\n' +
          'echo "$(date -Iseconds): ----------------------------------------"\n' +
          'echo "$(date -Iseconds): Running /workspace-scripts/init-tools..."\n' +
          '/workspace-scripts/init-tools || true\n' +
          'echo "$(date -Iseconds): Finished running /workspace-scripts/init-tools."\n',
      },
    });
  });

  test('the main container gets the legacy hook and the scripts mount; init containers get neither', () => {
    const objects = generate({ devfile: legacyDevfile() });

    const main = containerNamed(objects, 'main');
    expect(main['lifecycle']).toEqual(lifecycle(LEGACY_POSTSTART_HOOK));
    expect(main['volumeMounts']).toEqual([DATA_MOUNT, VARIABLES_MOUNT, SCRIPTS_MOUNT]);

    const [cloner] = initContainers(objects);
    expect(cloner?.['lifecycle']).toBeUndefined();
    expect(cloner?.['volumeMounts']).toEqual([DATA_MOUNT, VARIABLES_MOUNT]);
  });

  test('the scripts volume is appended after the variables volume', () => {
    const objects = generate({ devfile: legacyDevfile() });

    expect(podSpec(objects)['volumes']).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: 'ws-a-data' } },
      variablesVolume('ws-a'),
      scriptsVolume('ws-a'),
    ]);
  });

  test('postStart ids keep the devfile order and their duplicates in the runner', () => {
    const devfile = legacyDevfile();
    devfile.events = { ...devfile.events, postStart: ['init-tools', 'start-sshd', 'init-tools'] };

    const data = findObject(generate({ devfile }), 'ConfigMap', SCM)['data'];

    expect(data).toEqual({
      'start-sshd': 'echo sshd\n',
      'init-tools': 'echo tools',
      'gl-run-poststart-commands.sh': runnerScript(['init-tools', 'start-sshd', 'init-tools']),
    });
  });

  test('a postStart devfile without any gl/inject-editor component is not an error (§11)', () => {
    const devfile = legacyDevfile();
    delete componentOf(devfile, 'main').attributes;

    const objects = generate({ devfile, projectPath: 'my-project' });

    expect(findObject(objects, 'ConfigMap', SCM)['data']).toEqual({
      'start-sshd': 'echo sshd\n',
      'init-tools': 'echo tools',
      'gl-run-poststart-commands.sh': runnerScript(['start-sshd', 'init-tools']),
    });
  });
});

describe('normal mode (some command labelled gl-internal-blocking)', () => {
  test('blocking and non-blocking runners split the postStart ids, with workingDir and main-component defaults', () => {
    const objects = generate({ devfile: normalDevfile(), projectPath: 'my-project' });

    expect(findObject(objects, 'ConfigMap', SCM)['data']).toEqual({
      'blocking-one': 'echo 1',
      'user-cmd': 'echo 2',
      'helper-cmd': 'echo 3',
      'gl-run-internal-blocking-poststart-commands.sh':
        '#!/bin/sh\n' +
        'echo "$(date -Iseconds): ----------------------------------------"\n' +
        'echo "$(date -Iseconds): Running /workspace-scripts/blocking-one..."\n' +
        '(cd /projects && /workspace-scripts/blocking-one) || true\n' +
        'echo "$(date -Iseconds): Finished running /workspace-scripts/blocking-one."\n' +
        'echo "$(date -Iseconds): ----------------------------------------"\n' +
        'echo "$(date -Iseconds): Running /workspace-scripts/helper-cmd..."\n' +
        '/workspace-scripts/helper-cmd || true\n' +
        'echo "$(date -Iseconds): Finished running /workspace-scripts/helper-cmd."\n',
      'gl-run-non-blocking-poststart-commands.sh':
        '#!/bin/sh\n' +
        'echo "$(date -Iseconds): ----------------------------------------"\n' +
        'echo "$(date -Iseconds): Running /workspace-scripts/user-cmd..."\n' +
        '(cd ${PROJECT_SOURCE}/my-project && /workspace-scripts/user-cmd) || true\n' +
        'echo "$(date -Iseconds): Finished running /workspace-scripts/user-cmd."\n',
    });
  });

  test('without a project path, a main-component command without workingDir runs without a cd wrapper', () => {
    const objects = generate({ devfile: normalDevfile() });

    const data = findObject(objects, 'ConfigMap', SCM)['data'];
    expect(data).toMatchObject({
      'gl-run-internal-blocking-poststart-commands.sh': runnerScript([
        { id: 'blocking-one', dir: '/projects' },
        'helper-cmd',
      ]),
      'gl-run-non-blocking-poststart-commands.sh': runnerScript(['user-cmd']),
    });
  });

  test('every container named by a postStart command gets the normal hook; every container gets the scripts mount', () => {
    const objects = generate({ devfile: normalDevfile(), projectPath: 'my-project' });

    expect(containers(objects).map((c) => c['name'])).toEqual(['main', 'helper', 'bystander']);
    expect(containerNamed(objects, 'main')['lifecycle']).toEqual(lifecycle(NORMAL_POSTSTART_HOOK));
    expect(containerNamed(objects, 'helper')['lifecycle']).toEqual(lifecycle(NORMAL_POSTSTART_HOOK));
    expect(containerNamed(objects, 'bystander')['lifecycle']).toBeUndefined();
    for (const container of containers(objects)) {
      expect(container['volumeMounts'], String(container['name'])).toEqual([DATA_MOUNT, VARIABLES_MOUNT, SCRIPTS_MOUNT]);
    }
    for (const init of initContainers(objects)) {
      expect(init['lifecycle']).toBeUndefined();
      expect(init['volumeMounts']).toEqual([DATA_MOUNT, VARIABLES_MOUNT]);
    }
  });

  test("working directories and project paths are shell-escaped like Ruby's Shellwords.escape", () => {
    const devfile = minimalDevfile();
    addExecCommand(devfile, 'odd-dir', {
      component: 'main',
      commandLine: 'echo odd',
      label: 'gl-internal-blocking',
      workingDir: '/work dir/$HOME',
    });
    addExecCommand(devfile, 'blank-dir', { component: 'main', commandLine: 'echo blank', workingDir: '   ' });
    devfile.events = { ...devfile.events, postStart: ['odd-dir', 'blank-dir'] };

    const data = findObject(generate({ devfile, projectPath: 'my project' }), 'ConfigMap', SCM)['data'];

    expect(data).toMatchObject({
      'gl-run-internal-blocking-poststart-commands.sh': runnerScript([{ id: 'odd-dir', dir: '/work\\ dir/\\$HOME' }]),
      // A whitespace-only workingDir does not count: the main-component default applies.
      'gl-run-non-blocking-poststart-commands.sh': runnerScript([
        { id: 'blank-dir', dir: '${PROJECT_SOURCE}/my\\ project' },
      ]),
    });
  });

  test('a runner with no commands is exactly "#!/bin/sh\\n", and both runners are always present', () => {
    const devfile = normalDevfile();
    devfile.events = { ...devfile.events, postStart: ['blocking-one', 'helper-cmd'] };

    const data = findObject(generate({ devfile }), 'ConfigMap', SCM)['data'];

    expect(data).toEqual({
      'blocking-one': 'echo 1',
      'helper-cmd': 'echo 3',
      'gl-run-internal-blocking-poststart-commands.sh': runnerScript([
        { id: 'blocking-one', dir: '/projects' },
        'helper-cmd',
      ]),
      'gl-run-non-blocking-poststart-commands.sh': '#!/bin/sh\n',
    });
  });

  test('a gl-internal-blocking label on a command outside postStart still selects normal mode', () => {
    const devfile = legacyDevfile();
    addExecCommand(devfile, 'unused-blocking', {
      component: 'main',
      commandLine: 'echo unused',
      label: 'gl-internal-blocking',
    });

    const objects = generate({ devfile });

    expect(findObject(objects, 'ConfigMap', SCM)['data']).toEqual({
      'start-sshd': 'echo sshd\n',
      'init-tools': 'echo tools',
      'gl-run-internal-blocking-poststart-commands.sh': '#!/bin/sh\n',
      'gl-run-non-blocking-poststart-commands.sh': runnerScript([{ id: 'start-sshd', dir: '/elsewhere' }, 'init-tools']),
    });
    expect(containerNamed(objects, 'main')['lifecycle']).toEqual(lifecycle(NORMAL_POSTSTART_HOOK));
  });

  test('without any main component, commands without workingDir get no wrapper and nothing fails', () => {
    const devfile = normalDevfile();
    delete componentOf(devfile, 'main').attributes;

    const data = findObject(generate({ devfile, projectPath: 'my-project' }), 'ConfigMap', SCM)['data'];

    expect(data).toMatchObject({
      'gl-run-non-blocking-poststart-commands.sh': runnerScript(['user-cmd']),
    });
  });
});

describe('no postStart (§7, §10.2)', () => {
  const cases: Array<[string, Devfile['events']]> = [
    ['absent', { preStart: ['clone'] }],
    ['null', { preStart: ['clone'], postStart: null }],
    ['an empty list', { preStart: ['clone'], postStart: [] }],
  ];

  test.each(cases)(
    'postStart %s yields no scripts ConfigMap, no scripts volume or mount and no lifecycle',
    (_label, events) => {
      const devfile = legacyDevfile();
      devfile.events = events;

      const objects = generate({ devfile });

      expect(kindsAndNames(findObjects(objects, 'ConfigMap'))).toEqual([
        'ConfigMap/ws-a-workspace-inventory',
        'ConfigMap/ws-a-secrets-inventory',
      ]);
      expect(podSpec(objects)['volumes']).toEqual([
        { name: 'data', persistentVolumeClaim: { claimName: 'ws-a-data' } },
        variablesVolume('ws-a'),
      ]);
      for (const container of [...containers(objects), ...initContainers(objects)]) {
        expect(container['lifecycle']).toBeUndefined();
        expect(container['volumeMounts']).toEqual([DATA_MOUNT, VARIABLES_MOUNT]);
      }
    },
  );
});
