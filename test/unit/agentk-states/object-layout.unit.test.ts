/**
 * The whole array for the smallest accepted devfile, written out by hand from spec §2–§6 (no builders), and
 * the fixed object order of §4.
 */
import { describe, expect, test } from 'vitest';

import { addExecCommand, generate, kindsAndNames, minimalDevfile } from './helpers.js';

describe('the array for a minimal devfile and the default agent config', () => {
  test('a minimal devfile (no endpoints, no postStart) yields exactly these nine objects', () => {
    const L = { 'agent.gitlab.com/id': '7' };
    const C = {
      'workspaces.gitlab.com/host-template': '{{.port}}-ws-a.test.workspace.me',
      'workspaces.gitlab.com/id': '42',
      'workspaces.gitlab.com/max-resources-per-workspace-sha256':
        '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    };
    const CP = { ...C, 'workspaces.gitlab.com/include-in-partial-reconciliation': 'true' };
    const S = { ...C, 'config.k8s.io/owning-inventory': 'ws-a-secrets-inventory' };
    const WP = {
      ...C,
      'config.k8s.io/owning-inventory': 'ws-a-workspace-inventory',
      'workspaces.gitlab.com/include-in-partial-reconciliation': 'true',
    };
    const podMetadata = { name: 'ws-a', namespace: 'ns-a', labels: L, annotations: WP, creationTimestamp: null };
    const securityContext = { allowPrivilegeEscalation: false, privileged: false, runAsNonRoot: true, runAsUser: 5001 };
    const env = [
      { name: 'PROJECTS_ROOT', value: '/projects' },
      { name: 'PROJECT_SOURCE', value: '/projects' },
    ];
    const volumeMounts = [
      { mountPath: '/projects', name: 'data' },
      { name: 'gl-workspace-variables', mountPath: '/.workspace-data/variables/file' },
    ];

    expect(generate()).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'ws-a-workspace-inventory',
          namespace: 'ns-a',
          labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'ws-a-workspace-inventory' },
          annotations: CP,
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: podMetadata,
        spec: {
          replicas: 1,
          selector: { matchLabels: L },
          strategy: { type: 'Recreate' },
          template: {
            metadata: podMetadata,
            spec: {
              containers: [
                {
                  name: 'main',
                  image: 'example.test/main:1',
                  env,
                  envFrom: [{ secretRef: { name: 'ws-a-env-var' } }],
                  imagePullPolicy: 'Always',
                  resources: {},
                  securityContext,
                  volumeMounts,
                },
              ],
              initContainers: [
                {
                  name: 'cloner-clone-1',
                  image: 'example.test/cloner:1',
                  env,
                  envFrom: [{ secretRef: { name: 'ws-a-env-var' } }],
                  imagePullPolicy: 'Always',
                  resources: {},
                  securityContext,
                  volumeMounts,
                },
              ],
              securityContext: { runAsNonRoot: true, runAsUser: 5001, fsGroup: 0, fsGroupChangePolicy: 'OnRootMismatch' },
              serviceAccountName: 'ws-a',
              volumes: [
                { name: 'data', persistentVolumeClaim: { claimName: 'ws-a-data' } },
                {
                  name: 'gl-workspace-variables',
                  projected: { defaultMode: 508, sources: [{ secret: { name: 'ws-a-file' } }] },
                },
              ],
            },
          },
        },
        status: {},
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'ws-a', namespace: 'ns-a', labels: L, annotations: WP, creationTimestamp: null },
        spec: { selector: L },
        status: { loadBalancer: {} },
      },
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'ws-a-data', namespace: 'ns-a', labels: L, annotations: WP, creationTimestamp: null },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        status: {},
      },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'ws-a', namespace: 'ns-a', labels: L, annotations: WP },
        automountServiceAccountToken: false,
        imagePullSecrets: [],
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'ws-a', namespace: 'ns-a', labels: L, annotations: WP },
        spec: {
          egress: [
            {
              ports: [
                { port: 53, protocol: 'TCP' },
                { port: 53, protocol: 'UDP' },
              ],
              to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
            },
            { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] } }] },
          ],
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gitlab-workspaces' } },
                  podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitlab-workspaces-proxy' } },
                },
              ],
            },
          ],
          podSelector: {},
          policyTypes: ['Ingress', 'Egress'],
        },
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'ws-a-secrets-inventory',
          namespace: 'ns-a',
          labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'ws-a-secrets-inventory' },
          annotations: C,
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'ws-a-env-var', namespace: 'ns-a', labels: L, annotations: S },
        data: {},
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'ws-a-file', namespace: 'ns-a', labels: L, annotations: S },
        data: {},
      },
    ]);
  });

  test('with every optional object present, the objects follow the order of §4, PVCs sorted by volume name', () => {
    const devfile = minimalDevfile();
    devfile.components.push({ name: 'cache', volume: { size: '2Gi' } });
    addExecCommand(devfile, 'hello', { component: 'main', commandLine: 'echo hello' });
    devfile.events = { ...devfile.events, postStart: ['hello'] };
    const objects = generate({
      agent: { max_resources_per_workspace: { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1', memory: '1Gi' } } },
      devfile,
    });

    expect(kindsAndNames(objects)).toEqual([
      'ConfigMap/ws-a-workspace-inventory',
      'Deployment/ws-a',
      'Service/ws-a',
      'PersistentVolumeClaim/ws-a-cache',
      'PersistentVolumeClaim/ws-a-data',
      'ServiceAccount/ws-a',
      'NetworkPolicy/ws-a',
      'ConfigMap/ws-a-scripts-configmap',
      'ConfigMap/ws-a-secrets-inventory',
      'ResourceQuota/ws-a',
      'Secret/ws-a-env-var',
      'Secret/ws-a-file',
    ]);
    expect(objects.some((o) => o['kind'] === 'Ingress')).toBe(false);
  });
});
