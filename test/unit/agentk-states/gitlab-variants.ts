/**
 * GitLab's generator integration test, transcribed: inputs and the seven expected arrays of
 * `ee/spec/lib/remote_development/workspace_operations/create/desired_config/main_integeration_spec.rb`
 * (mirror `pavankalisetti009/gitlab` @ 5dbc9ee3926af88ea65aca49daadf30bcb923a4f).
 *
 * GitLab writes the seven arrays out in full. They share one skeleton and differ only here (checked
 * line by line against the Ruby source):
 *
 * | GitLab method (expected_desired_config_array_…)                          | replicas | namespace / label      | hostUsers | postStart devfile | ResourceQuota |
 * |---|---|---|---|---|---|
 * | with_desired_state_running                                               | 1 | gl-rd-ns-…, none             | –    | normal (workingDir) | yes |
 * | with_desired_state_running_with_use_kubernetes_user_namespaces_set       | 1 | gl-rd-ns-…, none             | true | normal              | yes |
 * | with_desired_state_stopped                                               | 0 | gl-rd-ns-…, none             | –    | normal              | yes |
 * | from_legacy_devfile_with_poststart_and_with_desired_state_running        | 1 | gl-rd-ns-…, none             | –    | legacy              | yes |
 * | from_legacy_devfile_with_no_poststart_and_with_desired_state_running     | 1 | gl-rd-ns-…, none             | –    | none (cloner init)  | yes |
 * | for_shared_namespace_with_desired_state_running                          | 1 | default, workspaces id label | –    | normal              | no  |
 * | for_shared_namespace_with_desired_state_stopped                          | 0 | default, workspaces id label | –    | normal              | no  |
 *
 * Shared namespace also turns the NetworkPolicy `podSelector` into `matchLabels` on the workspace id.
 * Ruby `0o774` / `0o555` are written as 508 / 365; `nil` as null. Every string below is copied from the
 * Ruby source (Ruby double-quoted strings without `#{}` mean the same as these JS literals).
 */
import type { GeneratorInput, JsonObject, KubernetesObject } from '../../../projections/agentk-states/inputs.js';
import { agentConfigSchema, workspaceInputSchema } from '../../../projections/agentk-states/inputs.js';
import { readGitlabFixture } from './fixtures.js';

type PostStartDevfile = 'normal' | 'legacy' | 'none';

export interface GitlabVariant {
  /** GitLab's RSpec context, as a sentence. */
  title: string;
  input: GeneratorInput;
  expected: KubernetesObject[];
}

interface VariantShape {
  running: boolean;
  shared: boolean;
  userNamespaces: boolean;
  postStart: PostStartDevfile;
}

const DEVFILE_FIXTURE: Record<PostStartDevfile, string> = {
  normal: 'main_integration/processed_devfile_with_poststart_event.yaml',
  legacy: 'main_integration/processed_devfile_with_legacy_poststart_event.yaml',
  none: 'main_integration/processed_devfile_without_poststart_event.yaml',
};

/** GitLab's `let(:workspace)`, `let(:workspaces_agent_config)` and `let(:project)`. */
function variantInput(shape: VariantShape): GeneratorInput {
  return {
    workspace: workspaceInputSchema.parse({
      id: 993,
      name: 'workspace-991-990-fedcba',
      namespace: shape.shared ? 'default' : 'gl-rd-ns-991-990-fedcba',
      desired_state: shape.running ? 'Running' : 'Stopped',
      cluster_agent_id: 991,
      processed_devfile: readGitlabFixture(DEVFILE_FIXTURE[shape.postStart]),
    }),
    agentConfig: agentConfigSchema.parse({
      allow_privilege_escalation: false,
      use_kubernetes_user_namespaces: shape.userNamespaces,
      default_runtime_class: 'standard',
      default_resources_per_workspace_container: {
        requests: { cpu: '0.5', memory: '512Mi' },
        limits: { cpu: '1', memory: '1Gi' },
      },
      // Deeply unsorted on purpose, as in GitLab's test.
      max_resources_per_workspace: { requests: { memory: '1Gi', cpu: '1' }, limits: { memory: '4Gi', cpu: '2' } },
      annotations: { environment: 'production', team: 'engineering' },
      labels: { app: 'workspace', tier: 'development' },
      image_pull_secrets: [{ name: 'registry-secret', namespace: 'default' }],
      network_policy_enabled: true,
      network_policy_egress: [{ allow: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] }],
      gitlab_workspaces_proxy_http_enabled: true,
      gitlab_workspaces_proxy_namespace: 'gitlab-workspaces',
      gitlab_workspaces_proxy_ssh_enabled: true,
      dns_zone: 'workspaces.localdev.me',
      shared_namespace: shape.shared ? 'default' : '',
    }),
    projectPath: 'test-project',
  };
}

/** Copied from GitLab's expected arrays (normal-mode `lifecycle` command). */
export const GITLAB_NORMAL_HOOK =
  "#!/bin/sh\n\nmkdir -p \"${GL_WORKSPACE_LOGS_DIR}\"\nln -sf \"${GL_WORKSPACE_LOGS_DIR}\" /tmp\n\n{\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running poststart commands for workspace...\"\n\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running internal blocking poststart commands script...\"\n} >> \"${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\"\n\n\"/workspace-scripts/gl-run-internal-blocking-poststart-commands.sh\" 1>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\"\n\n{\n    echo \"$(date -Iseconds): ----------------------------------------\"\n    echo \"$(date -Iseconds): Running non-blocking poststart commands script...\"\n} >> \"${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\"\n\n\"/workspace-scripts/gl-run-non-blocking-poststart-commands.sh\" 1>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\" &\n";

/** Copied from GitLab's expected arrays (legacy `lifecycle` command). */
export const GITLAB_LEGACY_HOOK =
  "#!/bin/sh\n\nmkdir -p \"${GL_WORKSPACE_LOGS_DIR}\"\nln -sf \"${GL_WORKSPACE_LOGS_DIR}\" /tmp\n\"/workspace-scripts/gl-run-poststart-commands.sh\" 1>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stdout.log\" 2>>\"${GL_WORKSPACE_LOGS_DIR}/poststart-stderr.log\"\n";

const NORMAL_SCRIPTS_DATA: JsonObject = {
  "gl-run-internal-blocking-poststart-commands.sh": "#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-1...\"\n(cd /projects && /workspace-scripts/gl-internal-example-command-1) || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-1.\"\n",
  "gl-run-non-blocking-poststart-commands.sh": "#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-2...\"\n(cd /projects && /workspace-scripts/gl-internal-example-command-2) || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-2.\"\n",
  "gl-internal-example-command-1": "echo 'gl-internal-example-command-1'",
  "gl-internal-example-command-2": "echo 'gl-internal-example-command-2'",
};

const LEGACY_SCRIPTS_DATA: JsonObject = {
  "gl-run-poststart-commands.sh": "#!/bin/sh\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-1...\"\n/workspace-scripts/gl-internal-example-command-1 || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-1.\"\necho \"$(date -Iseconds): ----------------------------------------\"\necho \"$(date -Iseconds): Running /workspace-scripts/gl-internal-example-command-2...\"\n/workspace-scripts/gl-internal-example-command-2 || true\necho \"$(date -Iseconds): Finished running /workspace-scripts/gl-internal-example-command-2.\"\n",
  "gl-internal-example-command-1": "echo 'gl-internal-example-command-1'",
  "gl-internal-example-command-2": "echo 'gl-internal-example-command-2'",
};

function expectedArray(shape: VariantShape): KubernetesObject[] {
  const namespace = shape.shared ? 'default' : 'gl-rd-ns-991-990-fedcba';
  const labels: JsonObject = {
    app: 'workspace',
    tier: 'development',
    'agent.gitlab.com/id': '991',
    ...(shape.shared ? { 'workspaces.gitlab.com/id': '993' } : {}),
  };
  const common = {
    environment: 'production',
    team: 'engineering',
    'workspaces.gitlab.com/host-template': '{{.port}}-workspace-991-990-fedcba.workspaces.localdev.me',
    'workspaces.gitlab.com/id': '993',
    'workspaces.gitlab.com/max-resources-per-workspace-sha256':
      '06879e20c353a4d871fb360635f6a87483987d44953ac6384af0451e8faa47ca',
  };
  const partial = { 'workspaces.gitlab.com/include-in-partial-reconciliation': 'true' };
  const workspaceInventory = { 'config.k8s.io/owning-inventory': 'workspace-991-990-fedcba-workspace-inventory' };
  const secretsInventory = { 'config.k8s.io/owning-inventory': 'workspace-991-990-fedcba-secrets-inventory' };
  const annotationsWP = { ...common, ...workspaceInventory, ...partial };
  const securityContext = { allowPrivilegeEscalation: false, privileged: false, runAsNonRoot: true, runAsUser: 5001 };
  const envFrom = [{ secretRef: { name: 'workspace-991-990-fedcba-env-var' } }];
  const hasPostStart = shape.postStart !== 'none';

  const toolingContainer: JsonObject = {
    args: ["echo 'tooling container args'"],
    command: ['/bin/sh', '-c'],
    env: [
      { name: 'GL_ENV_NAME', value: 'gl-env-value' },
      { name: 'PROJECTS_ROOT', value: '/projects' },
      { name: 'PROJECT_SOURCE', value: '/projects' },
    ],
    envFrom,
    image: 'quay.io/mloriedo/universal-developer-image:ubi8-dw-demo',
    imagePullPolicy: 'Always',
    name: 'tooling-container',
    ports: [{ containerPort: 60001, name: 'server', protocol: 'TCP' }],
    resources: { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '0.5', memory: '512Mi' } },
    securityContext,
    volumeMounts: [
      { mountPath: '/projects', name: 'gl-workspace-data' },
      { mountPath: '/.workspace-data/variables/file', name: 'gl-workspace-variables' },
      ...(hasPostStart ? [{ name: 'gl-workspace-scripts', mountPath: '/workspace-scripts' }] : []),
    ],
    ...(hasPostStart
      ? {
          lifecycle: {
            postStart: {
              exec: {
                command: ['/bin/sh', '-c', shape.postStart === 'normal' ? GITLAB_NORMAL_HOOK : GITLAB_LEGACY_HOOK],
              },
            },
          },
        }
      : {}),
  };

  const initContainer: JsonObject = hasPostStart
    ? {
        args: ["echo 'sidecar container args'"],
        command: ['/bin/sh', '-c'],
        env: [
          { name: 'GL_ENV2_NAME', value: 'gl-env2-value' },
          { name: 'PROJECTS_ROOT', value: '/projects' },
          { name: 'PROJECT_SOURCE', value: '/projects' },
        ],
        envFrom,
        image: 'sidecar-container:latest',
        imagePullPolicy: 'Always',
        name: 'sidecar-container-example-prestart-apply-command-1',
        resources: { limits: { cpu: '500m', memory: '1000Mi' }, requests: { cpu: '100m', memory: '500Mi' } },
        securityContext,
        volumeMounts: [
          { mountPath: '/projects', name: 'gl-workspace-data' },
          { mountPath: '/.workspace-data/variables/file', name: 'gl-workspace-variables' },
        ],
      }
    : {
        args: ["echo 'project cloner container args'"],
        command: ['/bin/sh', '-c'],
        env: [
          { name: 'PROJECTS_ROOT', value: '/projects' },
          { name: 'PROJECT_SOURCE', value: '/projects' },
        ],
        envFrom,
        image: 'alpine/git:2.45.2',
        imagePullPolicy: 'Always',
        name: 'gl-project-cloner-gl-project-cloner-command-1',
        resources: { limits: { cpu: '500m', memory: '1000Mi' }, requests: { cpu: '100m', memory: '500Mi' } },
        securityContext,
        volumeMounts: [
          { mountPath: '/projects', name: 'gl-workspace-data' },
          { mountPath: '/.workspace-data/variables/file', name: 'gl-workspace-variables' },
        ],
      };

  const deploymentMetadata = {
    annotations: annotationsWP,
    creationTimestamp: null,
    labels,
    name: 'workspace-991-990-fedcba',
    namespace,
  };

  const objects: KubernetesObject[] = [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        annotations: { ...common, ...partial },
        labels: { ...labels, 'cli-utils.sigs.k8s.io/inventory-id': 'workspace-991-990-fedcba-workspace-inventory' },
        name: 'workspace-991-990-fedcba-workspace-inventory',
        namespace,
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: deploymentMetadata,
      spec: {
        replicas: shape.running ? 1 : 0,
        selector: { matchLabels: labels },
        strategy: { type: 'Recreate' },
        template: {
          metadata: deploymentMetadata,
          spec: {
            containers: [toolingContainer],
            initContainers: [initContainer],
            runtimeClassName: 'standard',
            securityContext: { fsGroup: 0, fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true, runAsUser: 5001 },
            serviceAccountName: 'workspace-991-990-fedcba',
            ...(shape.userNamespaces ? { hostUsers: true } : {}),
            volumes: [
              {
                name: 'gl-workspace-data',
                persistentVolumeClaim: { claimName: 'workspace-991-990-fedcba-gl-workspace-data' },
              },
              {
                name: 'gl-workspace-variables',
                projected: { defaultMode: 508, sources: [{ secret: { name: 'workspace-991-990-fedcba-file' } }] },
              },
              ...(hasPostStart
                ? [
                    {
                      name: 'gl-workspace-scripts',
                      projected: {
                        defaultMode: 365,
                        sources: [{ configMap: { name: 'workspace-991-990-fedcba-scripts-configmap' } }],
                      },
                    },
                  ]
                : []),
            ],
          },
        },
      },
      status: {},
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { ...deploymentMetadata },
      spec: { ports: [{ name: 'server', port: 60001, targetPort: 60001 }], selector: labels },
      status: { loadBalancer: {} },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { ...deploymentMetadata, name: 'workspace-991-990-fedcba-gl-workspace-data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '50Gi' } } },
      status: {},
    },
    {
      apiVersion: 'v1',
      automountServiceAccountToken: false,
      imagePullSecrets: [{ name: 'registry-secret' }],
      kind: 'ServiceAccount',
      metadata: { annotations: annotationsWP, labels, name: 'workspace-991-990-fedcba', namespace },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { annotations: annotationsWP, labels, name: 'workspace-991-990-fedcba', namespace },
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
        podSelector: shape.shared ? { matchLabels: { 'workspaces.gitlab.com/id': '993' } } : {},
        policyTypes: ['Ingress', 'Egress'],
      },
    },
  ];

  if (hasPostStart) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { annotations: annotationsWP, labels, name: 'workspace-991-990-fedcba-scripts-configmap', namespace },
      data: shape.postStart === 'normal' ? NORMAL_SCRIPTS_DATA : LEGACY_SCRIPTS_DATA,
    });
  }

  objects.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      annotations: common,
      labels: { ...labels, 'cli-utils.sigs.k8s.io/inventory-id': 'workspace-991-990-fedcba-secrets-inventory' },
      name: 'workspace-991-990-fedcba-secrets-inventory',
      namespace,
    },
  });

  if (!shape.shared) {
    objects.push({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { annotations: { ...common, ...workspaceInventory }, labels, name: 'workspace-991-990-fedcba', namespace },
      spec: {
        hard: { 'limits.cpu': '2', 'limits.memory': '4Gi', 'requests.cpu': '1', 'requests.memory': '1Gi' },
      },
    });
  }

  for (const suffix of ['env-var', 'file']) {
    objects.push({
      apiVersion: 'v1',
      data: {},
      kind: 'Secret',
      metadata: {
        annotations: { ...common, ...secretsInventory },
        labels,
        name: `workspace-991-990-fedcba-${suffix}`,
        namespace,
      },
    });
  }

  return objects;
}

function variant(title: string, shape: VariantShape): GitlabVariant {
  return { title, input: variantInput(shape), expected: expectedArray(shape) };
}

const BASE: VariantShape = { running: true, shared: false, userNamespaces: false, postStart: 'normal' };

export const GITLAB_VARIANTS: GitlabVariant[] = [
  variant('desired state running', BASE),
  variant('desired state running with use_kubernetes_user_namespaces set', { ...BASE, userNamespaces: true }),
  variant('desired state stopped', { ...BASE, running: false }),
  variant('desired state running with a legacy devfile that includes a postStart event', {
    ...BASE,
    postStart: 'legacy',
  }),
  variant('desired state running with a legacy devfile that does not include a postStart event', {
    ...BASE,
    postStart: 'none',
  }),
  variant('desired state running with shared namespace set', { ...BASE, shared: true }),
  variant('desired state stopped with shared namespace set', { ...BASE, running: false, shared: true }),
];
