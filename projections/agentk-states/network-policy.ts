/**
 * NetworkPolicy N (spec §5.6), present only when `network_policy_enabled`.
 *
 * Target behaviour for the proxy switches is the application copy's (§11): the ingress rule, and
 * `"Ingress"` in `policyTypes`, only when `gitlab_workspaces_proxy_http_enabled` or `…_ssh_enabled` is on.
 */
import { GenerationFailure } from './errors.js';
import type { AgentConfig, JsonObject, JsonValue, KubernetesObject } from './inputs.js';
import { cloneJson, formatPath, hasOwn, isJsonObject, isRubyBlank } from './json.js';
import { objectMetadata, WORKSPACE_ID_LABEL, type WorkspaceMetadata } from './metadata.js';

const DNS_RULE: JsonObject = {
  ports: [
    { port: 53, protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
  ],
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }],
};

/** One egress entry `{allow, except}` → an ipBlock rule; a missing key becomes null, values are copied as given. */
function egressRule(entry: JsonValue, index: number): JsonObject {
  if (!isJsonObject(entry)) {
    // GitLab reads `entry[:allow]`, which raises on anything but a hash.
    throw new GenerationFailure(
      'agent_config_invalid',
      'each egress entry must be an object with allow and except',
      formatPath(['network_policy_egress', index]),
    );
  }
  const allow = hasOwn(entry, 'allow') ? cloneJson(entry['allow'] as JsonValue) : null;
  const except = hasOwn(entry, 'except') ? cloneJson(entry['except'] as JsonValue) : null;
  return { to: [{ ipBlock: { cidr: allow, except } }] };
}

export function networkPolicy(meta: WorkspaceMetadata, agent: AgentConfig): KubernetesObject {
  const egress: JsonValue[] = [cloneJson(DNS_RULE)];
  agent.network_policy_egress.forEach((entry, index) => egress.push(egressRule(entry, index)));

  const proxied = agent.gitlab_workspaces_proxy_http_enabled || agent.gitlab_workspaces_proxy_ssh_enabled;
  const ingress: JsonValue[] = proxied
    ? [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': agent.gitlab_workspaces_proxy_namespace } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gitlab-workspaces-proxy' } },
            },
          ],
        },
      ]
    : [];

  // GitLab selects on the workspace id label whenever L carries a non-blank one (shared-namespace mode).
  const workspaceId = hasOwn(meta.labels, WORKSPACE_ID_LABEL) ? meta.labels[WORKSPACE_ID_LABEL] : undefined;
  const podSelector: JsonObject =
    workspaceId !== undefined && !isRubyBlank(workspaceId) ? { matchLabels: { [WORKSPACE_ID_LABEL]: workspaceId } } : {};

  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: objectMetadata(meta.name, meta.namespace, meta.labels, meta.annotations.workspaceInventoryPartial),
    spec: {
      egress,
      ingress,
      podSelector,
      policyTypes: proxied ? ['Ingress', 'Egress'] : ['Egress'],
    },
  };
}
