/**
 * postStart texts (spec §7.3, §7.5). Expected strings are the spec's JSON string literals, pasted verbatim
 * (only `${` is written as `$\u007B` inside the JSON literal so the template literal stays raw); the hooks
 * are pasted so in ./helpers.ts.
 */
import { describe, expect, it } from 'vitest';

import { readDevfile } from '../../../projections/agentk-states/devfile.js';
import { LEGACY_HOOK, NORMAL_HOOK, planPostStart, runner } from '../../../projections/agentk-states/poststart-scripts.js';
import { LEGACY_POSTSTART_HOOK, NORMAL_POSTSTART_HOOK, yaml } from './helpers.js';

const SPEC_LEGACY_RUNNER = JSON.parse(String.raw`"#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-start-sshd-command...\"\n/workspace-scripts/gl-start-sshd-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-start-sshd-command.\"\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-init-tools-command...\"\n/workspace-scripts/gl-init-tools-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-init-tools-command.\"\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-sleep-until-container-is-running-command...\"\n/workspace-scripts/gl-sleep-until-container-is-running-command || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-sleep-until-container-is-running-command.\"\n"`) as string;
const SPEC_NORMAL_BLOCKING_RUNNER = JSON.parse(String.raw`"#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-1...\"\n(cd /projects && /workspace-scripts/gl-internal-example-command-1) || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-1.\"\n"`) as string;

describe('hook texts (§7.5)', () => {
  it('are byte for byte the spec strings', () => {
    expect(LEGACY_HOOK).toBe(LEGACY_POSTSTART_HOOK);
    expect(NORMAL_HOOK).toBe(NORMAL_POSTSTART_HOOK);
  });
});

describe('RUNNER (§7.3)', () => {
  it('is exactly "#!/bin/sh\\n" for no ids', () => {
    expect(runner([])).toBe('#!/bin/sh\n');
  });

  it("reproduces the spec's legacy example", () => {
    const ids = ['gl-start-sshd-command', 'gl-init-tools-command', 'gl-sleep-until-container-is-running-command'];
    expect(runner(ids.map((id) => ({ id, dir: undefined })))).toBe(SPEC_LEGACY_RUNNER);
  });

  it("reproduces the spec's normal-mode example with a working directory", () => {
    expect(runner([{ id: 'gl-internal-example-command-1', dir: '/projects' }])).toBe(SPEC_NORMAL_BLOCKING_RUNNER);
  });
});

describe('planPostStart', () => {
  const devfile = (extraCommands: string[], postStart: string): ReturnType<typeof readDevfile> =>
    readDevfile(
      yaml([
        'components:',
        '  - name: main',
        '    attributes: {gl/inject-editor: true}',
        '    container: {image: i}',
        '  - name: side',
        '    container: {image: i}',
        ...(extraCommands.length === 0 ? ['commands: []'] : ['commands:', ...extraCommands]),
        'events:',
        `  postStart: ${postStart}`,
      ]),
    );

  it('is undefined without postStart commands (§7, §10.2)', () => {
    expect(planPostStart(devfile([], '[]'), 'p')).toBeUndefined();
    expect(planPostStart(devfile([], 'null'), 'p')).toBeUndefined();
  });

  it('in normal mode, uses workingDir, else ${PROJECT_SOURCE}/<path> for the main component only (§7.4)', () => {
    const plan = planPostStart(
      devfile(
        [
          '  - id: blocking',
          '    exec: {component: side, commandLine: b, label: gl-internal-blocking}',
          '  - id: on-main',
          '    exec: {component: main, commandLine: m}',
          '  - id: on-side',
          '    exec: {component: side, commandLine: s}',
          '  - id: with-dir',
          '    exec: {component: side, commandLine: d, workingDir: "/a b"}',
        ],
        '[on-main, blocking, on-side, with-dir]',
      ),
      'my-proj',
    );
    expect(plan?.data).toEqual({
      blocking: 'b',
      'on-main': 'm',
      'on-side': 's',
      'with-dir': 'd',
      'gl-run-internal-blocking-poststart-commands.sh': runner([{ id: 'blocking', dir: undefined }]),
      'gl-run-non-blocking-poststart-commands.sh': runner([
        { id: 'on-main', dir: '${PROJECT_SOURCE}/my-proj' },
        { id: 'on-side', dir: undefined },
        { id: 'with-dir', dir: '/a\\ b' },
      ]),
    });
    expect(plan?.hook).toBe(NORMAL_POSTSTART_HOOK);
    expect([...(plan?.hookedContainers ?? [])]).toEqual(['main', 'side']);
  });
});
