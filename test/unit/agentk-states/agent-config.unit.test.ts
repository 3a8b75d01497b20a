/**
 * What the agent config and the workspace row change in the array: label and annotation sets, shared
 * namespace, pod switches, default resources, ResourceQuota, ServiceAccount, NetworkPolicy, replicas and the
 * max-resources sha256 (spec §1.2, §3, §5, §10.2).
 */
import { createHash } from 'node:crypto';

import { describe, expect, test } from 'vitest';

import type { JsonObject, KubernetesObject } from '../../../projections/agentk-states/inputs.js';
import {
  addContainer,
  addExecCommand,
  annotationSet,
  containerNamed,
  containers,
  containerSecurityContext,
  DEFAULT_IPBLOCK_EGRESS_RULE,
  DEFAULT_METADATA_CONTEXT,
  containerOf,
  dig,
  DNS_EGRESS_RULE,
  EXAMPLE_MAX_RESOURCES,
  findObject,
  findObjects,
  generate,
  initContainerNamed,
  initContainers,
  kindsAndNames,
  labelSet,
  minimalDevfile,
  podSpec,
  proxyIngressRule,
  SHA256_OF_EMPTY_MAX_RESOURCES,
  SHA256_OF_EXAMPLE_MAX_RESOURCES,
  SHA256_OF_EXAMPLE_MAX_RESOURCES_SHALLOW,
  type Devfile,
  type MetadataContext,
} from './helpers.js';

const SHA_ANNOTATION = 'workspaces.gitlab.com/max-resources-per-workspace-sha256';
const FULL_MAX_RESOURCES = { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1', memory: '1Gi' } };

/** Minimal devfile plus one postStart command, so that every optional object can appear. */
function devfileWithPostStart(): Devfile {
  const devfile = minimalDevfile();
  addExecCommand(devfile, 'hello', { component: 'main', commandLine: 'echo hello' });
  devfile.events = { ...devfile.events, postStart: ['hello'] };
  return devfile;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function shaAnnotationOf(objects: KubernetesObject[]): unknown {
  return dig(findObject(objects, 'Deployment'), 'metadata', 'annotations', SHA_ANNOTATION);
}

/** §3.5: which label and annotation set each object gets, for a context. */
function expectedMetadataSets(ctx: MetadataContext): Record<string, { labels: JsonObject; annotations: JsonObject }> {
  const L = labelSet(ctx);
  const n = ctx.name;
  return {
    [`ConfigMap/${n}-workspace-inventory`]: {
      labels: { ...L, 'cli-utils.sigs.k8s.io/inventory-id': `${n}-workspace-inventory` },
      annotations: annotationSet('CP', ctx),
    },
    [`Deployment/${n}`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`Service/${n}`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`PersistentVolumeClaim/${n}-data`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`ServiceAccount/${n}`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`NetworkPolicy/${n}`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`ConfigMap/${n}-scripts-configmap`]: { labels: L, annotations: annotationSet('WP', ctx) },
    [`ConfigMap/${n}-secrets-inventory`]: {
      labels: { ...L, 'cli-utils.sigs.k8s.io/inventory-id': `${n}-secrets-inventory` },
      annotations: annotationSet('C', ctx),
    },
    [`ResourceQuota/${n}`]: { labels: L, annotations: annotationSet('W', ctx) },
    [`Secret/${n}-env-var`]: { labels: L, annotations: annotationSet('S', ctx) },
    [`Secret/${n}-file`]: { labels: L, annotations: annotationSet('S', ctx) },
  };
}

function expectMetadataSets(objects: KubernetesObject[], ctx: MetadataContext): void {
  const expected = expectedMetadataSets(ctx);
  for (const [index, id] of kindsAndNames(objects).entries()) {
    const sets = expected[id];
    expect(sets, `unexpected object ${id}`).toBeDefined();
    const object = objects[index];
    expect(dig(object, 'metadata', 'labels'), `${id} labels`).toEqual(sets?.labels);
    expect(dig(object, 'metadata', 'annotations'), `${id} annotations`).toEqual(sets?.annotations);
  }
  const deployment = findObject(objects, 'Deployment');
  expect(dig(deployment, 'spec', 'template', 'metadata', 'labels')).toEqual(labelSet(ctx));
  expect(dig(deployment, 'spec', 'template', 'metadata', 'annotations')).toEqual(annotationSet('WP', ctx));
  expect(dig(deployment, 'spec', 'selector', 'matchLabels')).toEqual(labelSet(ctx));
  expect(dig(findObject(objects, 'Service'), 'spec', 'selector')).toEqual(labelSet(ctx));
}

describe('label and annotation sets (§3.3–§3.5)', () => {
  test('agent labels and annotations are merged into every set, and each object gets its set', () => {
    const agentLabels = { team: 'dev', 'example.com/cost-center': '42' };
    const agentAnnotations = { owner: 'someone', 'example.com/note': 'hello' };

    const objects = generate({
      devfile: devfileWithPostStart(),
      agent: { labels: agentLabels, annotations: agentAnnotations, max_resources_per_workspace: FULL_MAX_RESOURCES },
    });

    expect(objects).toHaveLength(11);
    expectMetadataSets(objects, {
      ...DEFAULT_METADATA_CONTEXT,
      sha: sha256('{:limits=>{:cpu=>"2", :memory=>"4Gi"}, :requests=>{:cpu=>"1", :memory=>"1Gi"}}'),
      agentLabels,
      agentAnnotations,
    });
  });

  test("agent labels and annotations that reuse GitLab's keys lose to GitLab's values (inventory label only on inventory maps)", () => {
    const objects = generate({
      devfile: devfileWithPostStart(),
      agent: {
        max_resources_per_workspace: FULL_MAX_RESOURCES,
        labels: { 'agent.gitlab.com/id': '999', 'cli-utils.sigs.k8s.io/inventory-id': 'from-agent' },
        annotations: {
          'workspaces.gitlab.com/id': 'from-agent',
          'workspaces.gitlab.com/host-template': 'from-agent',
          [SHA_ANNOTATION]: 'from-agent',
          'config.k8s.io/owning-inventory': 'from-agent',
          'workspaces.gitlab.com/include-in-partial-reconciliation': 'false',
        },
      },
    });

    const gitlab = {
      'workspaces.gitlab.com/host-template': '{{.port}}-ws-a.test.workspace.me',
      'workspaces.gitlab.com/id': '42',
      [SHA_ANNOTATION]: SHA256_OF_EXAMPLE_MAX_RESOURCES,
    };
    const setsOf = (kind: string, name: string): unknown => {
      const metadata = findObject(objects, kind, name)['metadata'];
      return { labels: dig(metadata, 'labels'), annotations: dig(metadata, 'annotations') };
    };

    // INV: CP = C + partial; C keeps the agent's owning-inventory (C does not set it).
    expect(setsOf('ConfigMap', 'ws-a-workspace-inventory')).toEqual({
      labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'ws-a-workspace-inventory' },
      annotations: {
        ...gitlab,
        'config.k8s.io/owning-inventory': 'from-agent',
        'workspaces.gitlab.com/include-in-partial-reconciliation': 'true',
      },
    });
    // Deployment: L keeps the agent's inventory-id label; WP overrides owning-inventory and partial.
    expect(setsOf('Deployment', 'ws-a')).toEqual({
      labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'from-agent' },
      annotations: {
        ...gitlab,
        'config.k8s.io/owning-inventory': 'ws-a-workspace-inventory',
        'workspaces.gitlab.com/include-in-partial-reconciliation': 'true',
      },
    });
    // SINV: C keeps both agent keys GitLab does not set in C.
    expect(setsOf('ConfigMap', 'ws-a-secrets-inventory')).toEqual({
      labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'ws-a-secrets-inventory' },
      annotations: {
        ...gitlab,
        'config.k8s.io/owning-inventory': 'from-agent',
        'workspaces.gitlab.com/include-in-partial-reconciliation': 'false',
      },
    });
    // ResourceQuota: W, without GitLab's partial key, so the agent's stays.
    expect(setsOf('ResourceQuota', 'ws-a')).toEqual({
      labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'from-agent' },
      annotations: {
        ...gitlab,
        'config.k8s.io/owning-inventory': 'ws-a-workspace-inventory',
        'workspaces.gitlab.com/include-in-partial-reconciliation': 'false',
      },
    });
    // Secrets: S.
    expect(setsOf('Secret', 'ws-a-env-var')).toEqual({
      labels: { 'agent.gitlab.com/id': '7', 'cli-utils.sigs.k8s.io/inventory-id': 'from-agent' },
      annotations: {
        ...gitlab,
        'config.k8s.io/owning-inventory': 'ws-a-secrets-inventory',
        'workspaces.gitlab.com/include-in-partial-reconciliation': 'false',
      },
    });
  });
});

describe('shared namespace (§3.4, §5.6, §5.9, §10.2)', () => {
  test('adds the workspace id label everywhere, selects pods by it, drops the ResourceQuota, still computes the sha', () => {
    const objects = generate({
      devfile: devfileWithPostStart(),
      workspace: { namespace: 'team-ns' },
      agent: { shared_namespace: 'team-ns', max_resources_per_workspace: EXAMPLE_MAX_RESOURCES },
    });

    expect(kindsAndNames(objects)).toEqual([
      'ConfigMap/ws-a-workspace-inventory',
      'Deployment/ws-a',
      'Service/ws-a',
      'PersistentVolumeClaim/ws-a-data',
      'ServiceAccount/ws-a',
      'NetworkPolicy/ws-a',
      'ConfigMap/ws-a-scripts-configmap',
      'ConfigMap/ws-a-secrets-inventory',
      'Secret/ws-a-env-var',
      'Secret/ws-a-file',
    ]);
    expectMetadataSets(objects, {
      ...DEFAULT_METADATA_CONTEXT,
      sha: SHA256_OF_EXAMPLE_MAX_RESOURCES,
      sharedNamespace: true,
    });
    expect(labelSet({ ...DEFAULT_METADATA_CONTEXT, sharedNamespace: true })).toEqual({
      'agent.gitlab.com/id': '7',
      'workspaces.gitlab.com/id': '42',
    });
    expect(dig(findObject(objects, 'NetworkPolicy'), 'spec', 'podSelector')).toEqual({
      matchLabels: { 'workspaces.gitlab.com/id': '42' },
    });
    for (const object of objects) expect(dig(object, 'metadata', 'namespace')).toBe('team-ns');
  });

  test.each([
    ['whitespace only', '  \t '],
    ['null', null],
    ['empty', ''],
  ])('a %s shared_namespace is blank: no id label, podSelector {}, ResourceQuota kept', (_label, sharedNamespace) => {
    const objects = generate({
      agent: { shared_namespace: sharedNamespace, max_resources_per_workspace: FULL_MAX_RESOURCES },
    });

    expect(dig(findObject(objects, 'Deployment'), 'metadata', 'labels')).toEqual({ 'agent.gitlab.com/id': '7' });
    expect(dig(findObject(objects, 'NetworkPolicy'), 'spec', 'podSelector')).toEqual({});
    expect(findObjects(objects, 'ResourceQuota')).toHaveLength(1);
  });

  test('an incomplete max_resources_per_workspace is no error in shared-namespace mode (no ResourceQuota is built)', () => {
    const incomplete = { limits: { cpu: '2' } };

    const objects = generate({ agent: { shared_namespace: 'team-ns', max_resources_per_workspace: incomplete } });

    expect(findObjects(objects, 'ResourceQuota')).toEqual([]);
    expect(shaAnnotationOf(objects)).toBe(sha256('{:limits=>{:cpu=>"2"}}'));
  });
});

describe('pod spec switches (§5.2)', () => {
  test('use_kubernetes_user_namespaces sets hostUsers to true', () => {
    expect(podSpec(generate({ agent: { use_kubernetes_user_namespaces: true } }))['hostUsers']).toBe(true);
  });

  test('without use_kubernetes_user_namespaces the pod spec has no hostUsers key', () => {
    expect(podSpec(generate())).not.toHaveProperty('hostUsers');
  });

  test('a non-empty default_runtime_class becomes runtimeClassName', () => {
    expect(podSpec(generate({ agent: { default_runtime_class: 'gvisor' } }))['runtimeClassName']).toBe('gvisor');
  });

  test('an empty default_runtime_class leaves no runtimeClassName key', () => {
    expect(podSpec(generate({ agent: { default_runtime_class: '' } }))).not.toHaveProperty('runtimeClassName');
  });

  test('allow_privilege_escalation is copied into every container and init container security context', () => {
    const objects = generate({ agent: { allow_privilege_escalation: true } });

    for (const container of [...containers(objects), ...initContainers(objects)]) {
      expect(container['securityContext']).toEqual(containerSecurityContext(true));
    }
    expect(podSpec(objects)['securityContext']).toEqual({
      runAsNonRoot: true,
      runAsUser: 5001,
      fsGroup: 0,
      fsGroupChangePolicy: 'OnRootMismatch',
    });
  });
});

describe('default resources (§5.2 step 2: deep merge, the devfile wins)', () => {
  const defaults = { requests: { cpu: '0.5', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } };

  function devfileWithResources(): Devfile {
    const devfile = minimalDevfile();
    Object.assign(containerOf(devfile, 'cloner'), {
      cpuLimit: '500m',
      memoryLimit: '1000Mi',
      cpuRequest: '100m',
      memoryRequest: '500Mi',
    });
    addContainer(devfile, 'partial', { memoryLimit: '2Gi' });
    return devfile;
  }

  test('a container without devfile resources gets the defaults verbatim (not canonicalized: "0.5" stays)', () => {
    const objects = generate({ devfile: devfileWithResources(), agent: { default_resources_per_workspace_container: defaults } });

    expect(containerNamed(objects, 'main')['resources']).toEqual({
      limits: { cpu: '1', memory: '1Gi' },
      requests: { cpu: '0.5', memory: '512Mi' },
    });
  });

  test("devfile values are kept where present, at any depth, and only the missing keys come from the defaults", () => {
    const objects = generate({ devfile: devfileWithResources(), agent: { default_resources_per_workspace_container: defaults } });

    expect(initContainerNamed(objects, 'cloner-clone-1')['resources']).toEqual({
      limits: { cpu: '500m', memory: '1000Mi' },
      requests: { cpu: '100m', memory: '500Mi' },
    });
    expect(containerNamed(objects, 'partial')['resources']).toEqual({
      limits: { cpu: '1', memory: '2Gi' },
      requests: { cpu: '0.5', memory: '512Mi' },
    });
  });

  test('with the default empty defaults, resources come from the devfile alone', () => {
    const objects = generate({ devfile: devfileWithResources() });

    expect(containerNamed(objects, 'main')['resources']).toEqual({});
    expect(containerNamed(objects, 'partial')['resources']).toEqual({ limits: { memory: '2Gi' } });
  });
});

describe('ResourceQuota (§5.9)', () => {
  test('is built from the four max values as given, with annotations W, and extra keys only count in the sha', () => {
    const max = {
      requests: { memory: '1Gi', cpu: '1' },
      limits: { memory: '4096Mi', cpu: '2000m' },
      extra: { x: 'y' },
    };

    const objects = generate({ agent: { max_resources_per_workspace: max } });

    const sha = sha256(
      '{:extra=>{:x=>"y"}, :limits=>{:cpu=>"2000m", :memory=>"4096Mi"}, :requests=>{:cpu=>"1", :memory=>"1Gi"}}',
    );
    expect(findObject(objects, 'ResourceQuota')).toEqual({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: {
        name: 'ws-a',
        namespace: 'ns-a',
        labels: { 'agent.gitlab.com/id': '7' },
        annotations: {
          'config.k8s.io/owning-inventory': 'ws-a-workspace-inventory',
          'workspaces.gitlab.com/host-template': '{{.port}}-ws-a.test.workspace.me',
          'workspaces.gitlab.com/id': '42',
          [SHA_ANNOTATION]: sha,
        },
      },
      spec: {
        hard: { 'limits.cpu': '2000m', 'limits.memory': '4096Mi', 'requests.cpu': '1', 'requests.memory': '1Gi' },
      },
    });
  });

  test('is absent when max_resources_per_workspace is empty, and the sha is that of {}', () => {
    const objects = generate({ agent: { max_resources_per_workspace: {} } });

    expect(findObjects(objects, 'ResourceQuota')).toEqual([]);
    expect(shaAnnotationOf(objects)).toBe(SHA256_OF_EMPTY_MAX_RESOURCES);
  });
});

describe('the max-resources sha256 (§3.2)', () => {
  test("the empty mapping hashes the text {} (§3.2's first row)", () => {
    expect(sha256('{}')).toBe(SHA256_OF_EMPTY_MAX_RESOURCES);
    expect(shaAnnotationOf(generate())).toBe(SHA256_OF_EMPTY_MAX_RESOURCES);
  });

  test.each([
    ['as GitLab\'s test gives it (deeply unsorted)', EXAMPLE_MAX_RESOURCES],
    ['in jsonb order', { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1', memory: '1Gi' } }],
    ['with only the top level sorted', { limits: { memory: '4Gi', cpu: '2' }, requests: { memory: '1Gi', cpu: '1' } }],
  ])("§3.2's second row, %s, gives 06879e20… (deep sort), never the shallow 24aefc31…", (_label, max) => {
    const sha = shaAnnotationOf(generate({ agent: { max_resources_per_workspace: max } }));

    expect(sha).toBe(SHA256_OF_EXAMPLE_MAX_RESOURCES);
    expect(sha).not.toBe(SHA256_OF_EXAMPLE_MAX_RESOURCES_SHALLOW);
  });

  test('keys that are not identifiers are quoted, and integers, booleans, null and arrays print as Ruby does', () => {
    const max = {
      'limits.cpu': '2',
      d: ['x', 1],
      c: null,
      'b?': true,
      a_key: 5,
    };

    const sha = shaAnnotationOf(generate({ agent: { shared_namespace: 'team-ns', max_resources_per_workspace: max } }));

    expect(sha).toBe(sha256('{:a_key=>5, :b?=>true, :c=>nil, :d=>["x", 1], :"limits.cpu"=>"2"}'));
  });

  test('string values escape quotes, backslashes, newlines, tabs and #{ #$ #@ like Ruby inspect', () => {
    const max = { note: 'say "hi" \\ #{x} #$y #@z #a\n\t' };

    const sha = shaAnnotationOf(generate({ agent: { shared_namespace: 'team-ns', max_resources_per_workspace: max } }));

    expect(sha).toBe(sha256('{:note=>"say \\"hi\\" \\\\ \\#{x} \\#$y \\#@z #a\\n\\t"}'));
  });
});

describe('ServiceAccount (§5.5)', () => {
  test('keeps only the name of each image pull secret, in the agent order', () => {
    const objects = generate({
      agent: {
        image_pull_secrets: [
          { name: 'second-registry', namespace: 'ns-b' },
          { name: 'first-registry', namespace: 'ns-a' },
        ],
      },
    });

    const serviceAccount = findObject(objects, 'ServiceAccount');
    expect(serviceAccount['automountServiceAccountToken']).toBe(false);
    expect(serviceAccount['imagePullSecrets']).toEqual([{ name: 'second-registry' }, { name: 'first-registry' }]);
  });

  test('without image pull secrets, imagePullSecrets is an empty list', () => {
    expect(findObject(generate(), 'ServiceAccount')['imagePullSecrets']).toEqual([]);
  });
});

describe('NetworkPolicy (§5.6)', () => {
  test('network_policy_enabled false leaves no NetworkPolicy and keeps the other objects in order', () => {
    const objects = generate({ agent: { network_policy_enabled: false } });

    expect(kindsAndNames(objects)).toEqual([
      'ConfigMap/ws-a-workspace-inventory',
      'Deployment/ws-a',
      'Service/ws-a',
      'PersistentVolumeClaim/ws-a-data',
      'ServiceAccount/ws-a',
      'ConfigMap/ws-a-secrets-inventory',
      'Secret/ws-a-env-var',
      'Secret/ws-a-file',
    ]);
  });

  test('the DNS rule comes first, then one ipBlock rule per egress entry, a missing except becoming null', () => {
    const objects = generate({
      agent: {
        network_policy_egress: [{ allow: '10.1.0.0/16', except: ['10.1.2.0/24'] }, { allow: '0.0.0.0/0' }],
      },
    });

    expect(dig(findObject(objects, 'NetworkPolicy'), 'spec', 'egress')).toEqual([
      DNS_EGRESS_RULE,
      { to: [{ ipBlock: { cidr: '10.1.0.0/16', except: ['10.1.2.0/24'] } }] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: null } }] },
    ]);
  });

  test('the default egress gives the DNS rule and the private-ranges rule; an empty list gives the DNS rule only', () => {
    const egressOf = (objects: KubernetesObject[]): unknown => dig(findObject(objects, 'NetworkPolicy'), 'spec', 'egress');

    expect(egressOf(generate())).toEqual([DNS_EGRESS_RULE, DEFAULT_IPBLOCK_EGRESS_RULE]);
    expect(egressOf(generate({ agent: { network_policy_egress: [] } }))).toEqual([DNS_EGRESS_RULE]);
  });

  test('with both proxy switches off there is no ingress rule and policyTypes is Egress only', () => {
    const objects = generate({
      agent: { gitlab_workspaces_proxy_http_enabled: false, gitlab_workspaces_proxy_ssh_enabled: false },
    });

    expect(findObject(objects, 'NetworkPolicy')['spec']).toEqual({
      egress: [DNS_EGRESS_RULE, DEFAULT_IPBLOCK_EGRESS_RULE],
      ingress: [],
      podSelector: {},
      policyTypes: ['Egress'],
    });
  });

  test.each([
    ['only http', { gitlab_workspaces_proxy_http_enabled: true, gitlab_workspaces_proxy_ssh_enabled: false }],
    ['only ssh', { gitlab_workspaces_proxy_http_enabled: false, gitlab_workspaces_proxy_ssh_enabled: true }],
  ])('with %s enabled the ingress rule names the proxy namespace and Ingress comes first', (_label, switches) => {
    const objects = generate({ agent: { ...switches, gitlab_workspaces_proxy_namespace: 'proxy-ns' } });

    const spec = findObject(objects, 'NetworkPolicy')['spec'];
    expect(dig(spec, 'ingress')).toEqual([proxyIngressRule('proxy-ns')]);
    expect(dig(spec, 'policyTypes')).toEqual(['Ingress', 'Egress']);
  });
});

describe('replicas (§3.6)', () => {
  test.each([
    ['Running', 1],
    ['Stopped', 0],
    ['Terminated', 0],
    ['RestartRequested', 0],
  ])('desired state %s gives %i replicas', (desiredState, replicas) => {
    const objects = generate({ workspace: { desired_state: desiredState } });

    expect(dig(findObject(objects, 'Deployment'), 'spec', 'replicas')).toBe(replicas);
  });
});
