/**
 * §6 internals: containers and init containers, ports and Service ports, mounts, env, resources, volumes.
 * Expected values are worked out by hand from the spec's rules.
 */
import { describe, expect, it } from 'vitest';

import { readDevfile } from '../../../projections/agentk-states/devfile.js';
import { devfileToPod, type PodParts } from '../../../projections/agentk-states/devfile-to-pod.js';
import { yaml } from './helpers.js';

function pod(lines: string[]): PodParts {
  return devfileToPod(readDevfile(yaml(lines)), 'ws');
}

describe('init containers (§6.1, §6.3)', () => {
  const parts = pod([
    'components:',
    '  - name: main',
    '    container: {image: m, volumeMounts: [{name: data}]}',
    '  - name: sidecar-container',
    '    container: {image: s, volumeMounts: [{name: data}]}',
    '  - name: abcdefghij-abcdefghij-abcdefghij',
    '    container: {image: l}',
    '  - name: data',
    '    volume: {size: 1Gi}',
    'commands:',
    '  - id: klmnopqrst-klmnopqrst-klmnopqrst',
    '    apply: {component: abcdefghij-abcdefghij-abcdefghij}',
    '  - id: example-prestart-apply-command',
    '    apply: {component: sidecar-container}',
    'events:',
    '  preStart: [klmnopqrst-klmnopqrst-klmnopqrst, example-prestart-apply-command, example-prestart-apply-command]',
  ]);

  it('de-duplicates and sorts preStart, numbers by position, and cuts <component>-<command> to 55 characters', () => {
    expect(parts.initContainers.map((c) => c['name'])).toEqual([
      'sidecar-container-example-prestart-apply-command-1',
      // 32 + 1 + 32 = 65 characters, cut to the first 55 (which end in "-"), then "-2".
      'abcdefghij-abcdefghij-abcdefghij-klmnopqrst-klmnopqrst--2',
    ]);
  });

  it('leaves components run by preStart apply commands out of the pod containers', () => {
    expect(parts.containers.map((c) => c['name'])).toEqual(['main']);
  });

  it('copies the component container into the init container, and mounts by name prefix', () => {
    expect(parts.initContainers[0]).toEqual({
      name: 'sidecar-container-example-prestart-apply-command-1',
      image: 's',
      env: [
        { name: 'PROJECTS_ROOT', value: '/projects' },
        { name: 'PROJECT_SOURCE', value: '/projects' },
      ],
      resources: {},
      volumeMounts: [{ mountPath: '/data', name: 'data' }],
      imagePullPolicy: 'Always',
    });
    expect(parts.initContainers[1]?.['volumeMounts']).toBeUndefined();
  });
});

describe('container ports and Service ports (§6.2, §6.6)', () => {
  const parts = pod([
    'components:',
    '  - name: main',
    '    container:',
    '      image: m',
    '      endpoints:',
    '        - {name: http, targetPort: 3000}',
    '        - {name: a-very-long-port-name, targetPort: 4000, protocol: udp}',
    '        - {name: http, targetPort: 3001}',
    '        - {name: hidden, targetPort: 5000, exposure: none}',
    '        - {name: internal-one, targetPort: 6000, exposure: internal}',
    '        - {name: nope, targetPort: 7000, exposure: none}',
    '  - name: helper',
    '    container:',
    '      image: h',
    '      endpoints:',
    '        - {name: again, targetPort: 3000}',
    '        - {name: shown, targetPort: 5000}',
    'commands: []',
    'events: {}',
  ]);

  it('names long endpoints port-<targetPort>, marks udp as UDP, skips a repeated name', () => {
    expect(parts.containers[0]?.['ports']).toEqual([
      { containerPort: 3000, name: 'http', protocol: 'TCP' },
      { containerPort: 4000, name: 'port-4000', protocol: 'UDP' },
      { containerPort: 5000, name: 'hidden', protocol: 'TCP' },
      { containerPort: 6000, name: 'internal-one', protocol: 'TCP' },
      { containerPort: 7000, name: 'nope', protocol: 'TCP' },
    ]);
  });

  it('lists each container port once, unless its highest exposure across components is none', () => {
    // 5000 is "none" on main but unset (public) on helper, so it is listed under main's name.
    expect(parts.servicePorts).toEqual([
      { name: 'http', port: 3000, targetPort: 3000 },
      { name: 'port-4000', port: 4000, targetPort: 4000 },
      { name: 'hidden', port: 5000, targetPort: 5000 },
      { name: 'internal-one', port: 6000, targetPort: 6000 },
    ]);
  });
});

describe('volumes and mounts (§6.5)', () => {
  const parts = pod([
    'components:',
    '  - name: tool',
    '    container: {image: t, volumeMounts: [{name: cache, path: /cache}]}',
    '  - name: tooling-container',
    '    container: {image: c, volumeMounts: [{name: data, path: /projects}, {name: data, path: /also}]}',
    '  - name: zeta',
    '    volume: {ephemeral: true}',
    '  - name: data',
    '    volume: {size: 2048Mi}',
    '  - name: cache',
    '    volume: {size: 1.5Gi}',
    'commands: []',
    'events: {}',
  ]);

  it('feeds mounts to every container whose name starts with the component name, sorted stably by volume', () => {
    expect(parts.containers.map((c) => c['volumeMounts'])).toEqual([
      [{ mountPath: '/cache', name: 'cache' }],
      [
        { mountPath: '/cache', name: 'cache' },
        { mountPath: '/projects', name: 'data' },
        { mountPath: '/also', name: 'data' },
      ],
    ]);
  });

  it('sorts pod volumes by name; ephemeral ones are emptyDir and get no claim; sizes are canonical', () => {
    expect(parts.volumes).toEqual([
      { name: 'cache', persistentVolumeClaim: { claimName: 'ws-cache' } },
      { name: 'data', persistentVolumeClaim: { claimName: 'ws-data' } },
      { name: 'zeta', emptyDir: {} },
    ]);
    expect(parts.claims).toEqual([
      { volume: 'cache', storage: '1536Mi' },
      { volume: 'data', storage: '2Gi' },
    ]);
  });
});

describe('env and resources (§6.2)', () => {
  const parts = pod([
    'components:',
    '  - name: main',
    '    container:',
    '      image: m',
    '      env: [{name: A, value: ""}, {name: B}, {name: C, value: c}]',
    '      memoryLimit: 2048Mi',
    '      cpuRequest: "0.5"',
    '  - name: quiet',
    '    container: {image: q, mountSources: false}',
    '  - name: mapped',
    '    container: {image: p, sourceMapping: /src, command: [], args: [x]}',
    'commands: []',
    'events: {}',
    'projects: [{name: proj, clonePath: sub/dir}]',
  ]);
  const [main, quiet, mapped] = parts.containers;

  it('omits empty or absent env values, then adds PROJECTS_ROOT and PROJECT_SOURCE', () => {
    expect(main?.['env']).toEqual([
      { name: 'A' },
      { name: 'B' },
      { name: 'C', value: 'c' },
      { name: 'PROJECTS_ROOT', value: '/projects' },
      { name: 'PROJECT_SOURCE', value: '/projects/sub/dir' },
    ]);
  });

  it('has no env key when mountSources is false and the devfile sets none', () => {
    expect(quiet && 'env' in quiet).toBe(false);
  });

  it('uses sourceMapping as the root, and omits an empty command', () => {
    expect(mapped?.['env']).toEqual([
      { name: 'PROJECTS_ROOT', value: '/src' },
      { name: 'PROJECT_SOURCE', value: '/src/sub/dir' },
    ]);
    expect(mapped && 'command' in mapped).toBe(false);
    expect(mapped?.['args']).toEqual(['x']);
  });

  it('builds limits/requests from the devfile as canonical quantities, {} when none', () => {
    expect(main?.['resources']).toEqual({ limits: { memory: '2Gi' }, requests: { cpu: '500m' } });
    expect(quiet?.['resources']).toEqual({});
  });
});
