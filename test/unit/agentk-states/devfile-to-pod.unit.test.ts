/**
 * From the devfile to containers, init containers, volumes, PVCs, ports and the Service (spec §1.4, §6).
 */
import { describe, expect, test } from 'vitest';

import {
  addContainer,
  addExecCommand,
  componentOf,
  containerNamed,
  containerOf,
  containers,
  devfileYaml,
  dig,
  envFrom,
  findObject,
  findObjects,
  generate,
  initContainers,
  kindsAndNames,
  minimalDevfile,
  minimalYamlWith,
  podSpec,
  PROJECT_ENV,
  VARIABLES_MOUNT,
  variablesVolume,
  type Devfile,
} from './helpers.js';

const DATA_MOUNT = { mountPath: '/projects', name: 'data' };

describe('quantities (§6.4)', () => {
  test.each([
    ['2048Mi', '2Gi'],
    ['1.5Gi', '1536Mi'],
    ['1000Mi', '1000Mi'],
    ['0.5Ki', '512'],
    ['0.5', '500m'],
    ['1000', '1k'],
    ['1500m', '1500m'],
    ['500m', '500m'],
    ['1G', '1G'],
    ['1e3', '1e3'],
    ['0Mi', '0'],
    ['50Gi', '50Gi'],
  ])('a devfile quantity %s is stored in canonical form %s', (given, canonical) => {
    const devfile = minimalDevfile();
    Object.assign(containerOf(devfile, 'main'), { memoryLimit: given });

    expect(containerNamed(generate({ devfile }), 'main')['resources']).toEqual({ limits: { memory: canonical } });
  });

  test('the four resource fields map to limits and requests, each canonicalized', () => {
    const devfile = minimalDevfile();
    Object.assign(containerOf(devfile, 'main'), {
      memoryLimit: '2048Mi',
      cpuLimit: '1000m',
      memoryRequest: '0.5Gi',
      cpuRequest: '0.25',
    });

    expect(containerNamed(generate({ devfile }), 'main')['resources']).toEqual({
      limits: { cpu: '1', memory: '2Gi' },
      requests: { cpu: '250m', memory: '512Mi' },
    });
  });

  test('a volume size is canonicalized in its PersistentVolumeClaim', () => {
    const devfile = minimalDevfile();
    componentOf(devfile, 'data').volume = { size: '2048Mi' };

    const pvc = findObject(generate({ devfile }), 'PersistentVolumeClaim', 'ws-a-data');

    expect(dig(pvc, 'spec', 'resources', 'requests', 'storage')).toBe('2Gi');
  });
});

describe('containers (§6.2)', () => {
  test('components named by preStart or postStop apply commands are not containers', () => {
    const devfile = minimalDevfile();
    addContainer(devfile, 'stopper');
    addContainer(devfile, 'sidecar');
    devfile.commands?.push({ id: 'stop', apply: { component: 'stopper' } });
    devfile.events = { ...devfile.events, postStop: ['stop'] };

    const objects = generate({ devfile });

    expect(containers(objects).map((c) => c['name'])).toEqual(['main', 'sidecar']);
    expect(initContainers(objects).map((c) => c['name'])).toEqual(['cloner-clone-1']);
  });

  test('command and args are copied when non-empty and left out when empty', () => {
    const devfile = minimalDevfile();
    Object.assign(containerOf(devfile, 'main'), { command: ['/bin/sh', '-c'], args: ['sleep infinity'] });
    Object.assign(containerOf(devfile, 'cloner'), { command: [], args: [] });

    const objects = generate({ devfile });

    expect(containerNamed(objects, 'main')).toMatchObject({ command: ['/bin/sh', '-c'], args: ['sleep infinity'] });
    const [cloner] = initContainers(objects);
    expect(cloner).not.toHaveProperty('command');
    expect(cloner).not.toHaveProperty('args');
  });

  test('env keeps the devfile order, omits empty or absent values, then adds PROJECTS_ROOT and PROJECT_SOURCE', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').env = [
      { name: 'B_FIRST', value: 'one' },
      { name: 'EMPTY', value: '' },
      { name: 'ABSENT' },
      { name: 'A_LAST', value: 'false' },
    ];

    expect(containerNamed(generate({ devfile }), 'main')['env']).toEqual([
      { name: 'B_FIRST', value: 'one' },
      { name: 'EMPTY' },
      { name: 'ABSENT' },
      { name: 'A_LAST', value: 'false' },
      ...PROJECT_ENV,
    ]);
  });

  test('sourceMapping sets both PROJECTS_ROOT and PROJECT_SOURCE', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').sourceMapping = '/src';

    expect(containerNamed(generate({ devfile }), 'main')['env']).toEqual([
      { name: 'PROJECTS_ROOT', value: '/src' },
      { name: 'PROJECT_SOURCE', value: '/src' },
    ]);
  });

  test('mountSources false drops the project variables, and an empty env leaves no env key', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').mountSources = false;
    Object.assign(containerOf(devfile, 'cloner'), { mountSources: false, env: [{ name: 'ONLY', value: 'me' }] });

    const objects = generate({ devfile });

    const main = containerNamed(objects, 'main');
    expect(main).not.toHaveProperty('env');
    expect(main['volumeMounts']).toEqual([DATA_MOUNT, VARIABLES_MOUNT]);
    expect(main['envFrom']).toEqual(envFrom('ws-a'));
    expect(initContainers(objects)[0]?.['env']).toEqual([{ name: 'ONLY', value: 'me' }]);
  });

  test('every container pulls Always and has no fields beyond those of §6.2 and §5.2', () => {
    const objects = generate();

    expect(Object.keys(containerNamed(objects, 'main')).sort()).toEqual([
      'env',
      'envFrom',
      'image',
      'imagePullPolicy',
      'name',
      'resources',
      'securityContext',
      'volumeMounts',
    ]);
    expect(containerNamed(objects, 'main')['imagePullPolicy']).toBe('Always');
  });
});

describe('init containers (§6.3)', () => {
  test('preStart is de-duplicated and sorted, and each init container is numbered by its position', () => {
    const devfile = minimalDevfile();
    addContainer(devfile, 'alpha');
    devfile.commands?.push({ id: 'alpha-cmd', apply: { component: 'alpha' } });
    devfile.events = { ...devfile.events, preStart: ['clone', 'alpha-cmd', 'clone'] };

    const objects = generate({ devfile });

    expect(initContainers(objects).map((c) => c['name'])).toEqual(['alpha-alpha-cmd-1', 'cloner-clone-2']);
    expect(containers(objects).map((c) => c['name'])).toEqual(['main']);
  });

  test('an init container is a full copy of its component container', () => {
    const devfile = minimalDevfile();
    Object.assign(containerOf(devfile, 'cloner'), {
      command: ['/bin/sh', '-c'],
      args: ['git clone'],
      env: [{ name: 'X', value: 'y' }],
      endpoints: [{ name: 'http', targetPort: 8080 }],
      cpuLimit: '1',
    });

    expect(initContainers(generate({ devfile }))).toEqual([
      {
        name: 'cloner-clone-1',
        image: 'example.test/cloner:1',
        command: ['/bin/sh', '-c'],
        args: ['git clone'],
        env: [{ name: 'X', value: 'y' }, ...PROJECT_ENV],
        envFrom: envFrom('ws-a'),
        ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
        imagePullPolicy: 'Always',
        resources: { limits: { cpu: '1' } },
        securityContext: { allowPrivilegeEscalation: false, privileged: false, runAsNonRoot: true, runAsUser: 5001 },
        volumeMounts: [DATA_MOUNT, VARIABLES_MOUNT],
      },
    ]);
  });

  test('<component>-<command id> is cut to 55 characters before -<i> is appended', () => {
    const devfile = minimalDevfile();
    addContainer(devfile, 'init-container-with-a-long-descriptive-name');
    devfile.commands?.push({
      id: 'apply-command-with-another-long-name',
      apply: { component: 'init-container-with-a-long-descriptive-name' },
    });
    devfile.events = { ...devfile.events, preStart: ['apply-command-with-another-long-name', 'clone'] };

    const names = initContainers(generate({ devfile })).map((c) => c['name']);

    // 43 + "-" + first 11 characters of the command id = 55, then "-1".
    expect(names).toEqual(['init-container-with-a-long-descriptive-name-apply-comma-1', 'cloner-clone-2']);
  });
});

describe('volumes and mounts (§6.5)', () => {
  test('an ephemeral volume is an emptyDir and gets no PersistentVolumeClaim', () => {
    const devfile = minimalDevfile();
    componentOf(devfile, 'data').volume = { size: '1Gi', ephemeral: true };

    const objects = generate({ devfile });

    expect(podSpec(objects)['volumes']).toEqual([{ name: 'data', emptyDir: {} }, variablesVolume('ws-a')]);
    expect(findObjects(objects, 'PersistentVolumeClaim')).toEqual([]);
  });

  test('pod volumes and PVCs are sorted by volume name and include unmounted volumes', () => {
    const devfile = minimalDevfile();
    devfile.components.push({ name: 'zz-cache', volume: { size: '2Gi' } }, { name: 'aa-logs', volume: { size: '3Gi' } });

    const objects = generate({ devfile });

    expect(podSpec(objects)['volumes']).toEqual([
      { name: 'aa-logs', persistentVolumeClaim: { claimName: 'ws-a-aa-logs' } },
      { name: 'data', persistentVolumeClaim: { claimName: 'ws-a-data' } },
      { name: 'zz-cache', persistentVolumeClaim: { claimName: 'ws-a-zz-cache' } },
      variablesVolume('ws-a'),
    ]);
    expect(kindsAndNames(findObjects(objects, 'PersistentVolumeClaim'))).toEqual([
      'PersistentVolumeClaim/ws-a-aa-logs',
      'PersistentVolumeClaim/ws-a-data',
      'PersistentVolumeClaim/ws-a-zz-cache',
    ]);
    expect(findObject(objects, 'PersistentVolumeClaim', 'ws-a-aa-logs')['spec']).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '3Gi' } },
    });
  });

  test('mounts are sorted by volume name (stable for one volume), and an empty path defaults to /<volume>', () => {
    const devfile = minimalDevfile();
    devfile.components.push({ name: 'cache', volume: { size: '1Gi' } });
    containerOf(devfile, 'main').volumeMounts = [
      { name: 'data', path: '/second' },
      { name: 'cache' },
      { name: 'data', path: '/first' },
    ];

    expect(containerNamed(generate({ devfile }), 'main')['volumeMounts']).toEqual([
      { mountPath: '/cache', name: 'cache' },
      { mountPath: '/second', name: 'data' },
      { mountPath: '/first', name: 'data' },
      VARIABLES_MOUNT,
    ]);
  });

  test("a component's mounts also go to every container whose name starts with the component name", () => {
    const devfile = minimalDevfile();
    devfile.components.push({ name: 'cache', volume: { size: '1Gi' } });
    addContainer(devfile, 'tool', { volumeMounts: [{ name: 'cache', path: '/cache' }] });
    addContainer(devfile, 'tooling-container');

    const objects = generate({ devfile });

    expect(containerNamed(objects, 'tool')['volumeMounts']).toEqual([
      { mountPath: '/cache', name: 'cache' },
      VARIABLES_MOUNT,
    ]);
    expect(containerNamed(objects, 'tooling-container')['volumeMounts']).toEqual([
      { mountPath: '/cache', name: 'cache' },
      DATA_MOUNT,
      VARIABLES_MOUNT,
    ]);
  });
});

describe('ports and Service ports (§6.6)', () => {
  /**
   * Valid under devfile's own rules: endpoint names unique across components, and `helper` shares target
   * ports with `main` only because it is a `dedicatedPod` (which produces nothing in the pod, §6.2).
   */
  function devfileWithEndpoints(): Devfile {
    const devfile = minimalDevfile();
    containerOf(devfile, 'main').endpoints = [
      { name: 'editor', targetPort: 60001 },
      { name: 'a-much-too-long-endpoint-name', targetPort: 3000 },
      { name: 'another-too-long-endpoint-name', targetPort: 3000 },
      { name: 'dns', targetPort: 5353, protocol: 'udp' },
      { name: 'hidden', targetPort: 4000, exposure: 'none' },
      { name: 'private', targetPort: 4001, exposure: 'none' },
    ];
    addContainer(devfile, 'helper', {
      dedicatedPod: true,
      endpoints: [
        { name: 'helper-http', targetPort: 3000, exposure: 'internal' },
        { name: 'helper-priv', targetPort: 4001, exposure: 'internal' },
        { name: 'helper-own', targetPort: 7000 },
      ],
    });
    return devfile;
  }

  test('container ports: names over 15 characters become port-<targetPort>, udp becomes UDP, a name already used is skipped', () => {
    const objects = generate({ devfile: devfileWithEndpoints() });

    expect(containerNamed(objects, 'main')['ports']).toEqual([
      { containerPort: 60001, name: 'editor', protocol: 'TCP' },
      { containerPort: 3000, name: 'port-3000', protocol: 'TCP' },
      { containerPort: 5353, name: 'dns', protocol: 'UDP' },
      { containerPort: 4000, name: 'hidden', protocol: 'TCP' },
      { containerPort: 4001, name: 'private', protocol: 'TCP' },
    ]);
    expect(containerNamed(objects, 'helper')['ports']).toEqual([
      { containerPort: 3000, name: 'helper-http', protocol: 'TCP' },
      { containerPort: 4001, name: 'helper-priv', protocol: 'TCP' },
      { containerPort: 7000, name: 'helper-own', protocol: 'TCP' },
    ]);
  });

  test('Service ports: first container port per target port, none-exposed ports left out unless exposed elsewhere', () => {
    const service = findObject(generate({ devfile: devfileWithEndpoints() }), 'Service');

    expect(dig(service, 'spec', 'ports')).toEqual([
      { name: 'editor', port: 60001, targetPort: 60001 },
      { name: 'port-3000', port: 3000, targetPort: 3000 },
      { name: 'dns', port: 5353, targetPort: 5353 },
      // 4000 is exposure none everywhere; 4001 is none on main but internal on helper, so it is listed.
      { name: 'private', port: 4001, targetPort: 4001 },
      { name: 'helper-own', port: 7000, targetPort: 7000 },
    ]);
  });

  test('init container ports never reach the Service', () => {
    const devfile = minimalDevfile();
    containerOf(devfile, 'cloner').endpoints = [{ name: 'clone-http', targetPort: 9000 }];

    expect(findObject(generate({ devfile }), 'Service')['spec']).toEqual({ selector: { 'agent.gitlab.com/id': '7' } });
  });
});

describe('reading the processed devfile (§1.4)', () => {
  test('schemaVersion, metadata and variables are ignored, and a leading --- is accepted', () => {
    const devfile = minimalDevfile();
    const plain = generate({ devfile });
    devfile.metadata = { name: 'something', version: '1.0.0' };
    devfile.variables = { FOO: 'bar' };

    expect(generate({ devfile: `---\n${devfileYaml(devfile)}` })).toEqual(plain);
  });

  test('literal blocks and multi-line single-quoted scalars keep their exact string values', () => {
    const text = minimalYamlWith([
      'args:',
      "  - 'tail -f /dev/null",
      '',
      "    '",
      '  - |',
      '    line one',
      '      indented',
      'env:',
      "  - {name: PORT, value: '60001'}",
      "  - {name: FLAG, value: 'false'}",
    ]);

    const main = containerNamed(generate({ devfile: text }), 'main');

    expect(main['args']).toEqual(['tail -f /dev/null\n', 'line one\n  indented\n']);
    expect(main['env']).toEqual([{ name: 'PORT', value: '60001' }, { name: 'FLAG', value: 'false' }, ...PROJECT_ENV]);
  });

  test('a postStart command line keeps its exact text in the scripts ConfigMap', () => {
    const devfile = minimalDevfile();
    const commandLine = "#!/bin/sh\necho \"it's $(date)\" >&2\n\ttabbed\n";
    addExecCommand(devfile, 'exact', { component: 'main', commandLine });
    devfile.events = { ...devfile.events, postStart: ['exact'] };

    const data = findObject(generate({ devfile }), 'ConfigMap', 'ws-a-scripts-configmap')['data'];

    expect(dig(data, 'exact')).toBe(commandLine);
  });
});
