/**
 * The generator's inputs, parsed with zod at the boundary (spec ../shared/spec/desired-config.md §1).
 *
 * Field names are GitLab's column names (snake_case) on purpose: rows come from GitLab's tables and from
 * events that carry those rows verbatim, so keeping the names avoids a mapping layer that could drift.
 */
import { z } from 'zod';

/** A JSON value as it comes out of jsonb or an event payload. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.null(), z.boolean(), z.number(), z.string(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);
const jsonObject = z.record(z.string(), jsonValue);

/** pg returns bigint columns as strings; events carry numbers. Both must be safe integers. */
export const bigintId = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform((value, ctx) => {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `not a safe integer: ${String(value)}` });
    return z.NEVER;
  }
  return n;
});

/** The columns of a `workspaces` row that the generator reads (§1.1). Other columns are ignored. */
export const workspaceInputSchema = z.object({
  id: bigintId,
  name: z.string().min(1),
  namespace: z.string().min(1),
  desired_state: z.string(),
  cluster_agent_id: bigintId,
  processed_devfile: z.string().nullable(),
});
export type WorkspaceInput = z.infer<typeof workspaceInputSchema>;

/**
 * A `workspaces_agent_configs` row, or a historical version's `object` (§1.2). A column missing from a
 * version `object` takes its database default; `dns_zone` has none and is required.
 */
export const agentConfigSchema = z.object({
  dns_zone: z.string().min(1),
  annotations: jsonObject.default({}),
  labels: jsonObject.default({}),
  max_resources_per_workspace: jsonObject.default({}),
  default_resources_per_workspace_container: jsonObject.default({}),
  shared_namespace: z
    .string()
    .nullable()
    .default('')
    .transform((value) => value ?? ''),
  allow_privilege_escalation: z.boolean().default(false),
  use_kubernetes_user_namespaces: z.boolean().default(false),
  default_runtime_class: z.string().default(''),
  image_pull_secrets: z.array(jsonValue).default([]),
  network_policy_enabled: z.boolean().default(true),
  network_policy_egress: z
    .array(jsonValue)
    .default([{ allow: '0.0.0.0/0', except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] }]),
  gitlab_workspaces_proxy_namespace: z.string().default('gitlab-workspaces'),
  gitlab_workspaces_proxy_http_enabled: z.boolean().default(true),
  gitlab_workspaces_proxy_ssh_enabled: z.boolean().default(true),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Everything the generator needs for one workspace. */
export interface GeneratorInput {
  workspace: WorkspaceInput;
  agentConfig: AgentConfig;
  /** `projects.path` of the workspace's project, when known (§1.3, §7.4). */
  projectPath?: string | undefined;
}

/** One Kubernetes object of the desired config, as a JSON value. */
export type KubernetesObject = JsonObject;
