/** Hand-written fixtures shared by the event codec tests. */
import type { WorkspaceMessage } from '../../../src/events/decode.js';
import type { WorkspaceCreated, WorkspaceRow, WorkspaceUpdated } from '../../../projections/agentk-states/events.js';

export const EVENT_ID = '6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';

export const DEVFILE = 'schemaVersion: 2.2.0\ncomponents:\n  - name: tooling\n    container:\n      image: alpine\n';

export const workspaceRow: WorkspaceRow = {
  id: 42,
  created_at: new Date('2025-03-01T10:00:00.000Z'),
  updated_at: new Date('2025-03-01T10:00:01.000Z'),
  user_id: 7,
  project_id: 300,
  cluster_agent_id: 11,
  desired_state_updated_at: new Date('2025-03-01T10:00:02.000Z'),
  responded_to_agent_at: null,
  name: 'workspace-11-7-abcdef',
  namespace: 'gl-rd-ns-11-7-abcdef',
  desired_state: 'Running',
  actual_state: 'CreationRequested',
  devfile_path: '.devfile.yaml',
  devfile: DEVFILE,
  processed_devfile: DEVFILE,
  url: null,
  deployment_resource_version: null,
  personal_access_token_id: 99,
  force_include_all_resources: true,
  url_prefix: '60001-workspace-11-7-abcdef',
  url_query_string: 'folder=dir%2Ffile',
  workspaces_agent_config_version: 0,
  desired_config_generator_version: 3,
  project_ref: 'main',
  actual_state_updated_at: new Date('2025-03-01T10:00:03.000Z'),
};

/**
 * The fixture workspace as Debezium's JSON converter writes a `workspaces` row: bigints as numbers,
 * timestamptz as ISO strings (ZonedTimestamp, microsecond fractions) or, for one column here, as a
 * MicroTimestamp number.
 */
export const debeziumRow = {
  id: 42,
  created_at: '2025-03-01T10:00:00.000000Z',
  updated_at: '2025-03-01T10:00:01Z',
  user_id: 7,
  project_id: 300,
  cluster_agent_id: 11,
  desired_state_updated_at: 1740823202000000,
  responded_to_agent_at: null,
  name: 'workspace-11-7-abcdef',
  namespace: 'gl-rd-ns-11-7-abcdef',
  desired_state: 'Running',
  actual_state: 'CreationRequested',
  devfile_path: '.devfile.yaml',
  devfile: DEVFILE,
  processed_devfile: DEVFILE,
  url: null,
  deployment_resource_version: null,
  personal_access_token_id: 99,
  force_include_all_resources: true,
  url_prefix: '60001-workspace-11-7-abcdef',
  url_query_string: 'folder=dir%2Ffile',
  workspaces_agent_config_version: 0,
  desired_config_generator_version: 3,
  project_ref: 'main',
  actual_state_updated_at: '2025-03-01T10:00:03.000000Z',
};

export const createdEvent: WorkspaceCreated = {
  type: 'workspace-created',
  eventId: EVENT_ID,
  workspaceId: 42,
  version: 1,
  occurredAt: new Date('2025-03-01T10:00:04.500Z'),
  workspace: workspaceRow,
  agentConfig: {
    dns_zone: 'workspaces.example.dev',
    annotations: { 'example.com/team': 'ide' },
    labels: { env: 'dev' },
    max_resources_per_workspace: { limits: { cpu: '2', memory: '4Gi' } },
    default_resources_per_workspace_container: {},
    shared_namespace: '',
    allow_privilege_escalation: false,
    use_kubernetes_user_namespaces: false,
    default_runtime_class: '',
    image_pull_secrets: [{ name: 'registry', namespace: 'default' }],
    network_policy_enabled: true,
    network_policy_egress: [{ allow: '0.0.0.0/0', except: ['10.0.0.0/8'] }],
    gitlab_workspaces_proxy_namespace: 'gitlab-workspaces',
    gitlab_workspaces_proxy_http_enabled: true,
    gitlab_workspaces_proxy_ssh_enabled: false,
  },
};

export const updatedEvent: WorkspaceUpdated = {
  type: 'workspace-updated',
  eventId: '0b8e6d1a-2c3f-4e5d-9a7b-1c2d3e4f5a6b',
  workspaceId: 42,
  version: 2,
  occurredAt: new Date('2025-03-01T11:00:00.000Z'),
  changes: {
    desired_state: 'Stopped',
    url: null,
    responded_to_agent_at: new Date('2025-03-01T10:59:59.000Z'),
  },
};

/** A Kafka message as the consumer hands it to the decoder. */
export function message(
  value: Buffer | string | null,
  key: Buffer | string | null = '42',
  offset = '17',
): WorkspaceMessage {
  return {
    topic: 'workspace-events',
    partition: 3,
    offset,
    key: typeof key === 'string' ? Buffer.from(key) : key,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    timestamp: '1740823200000',
  };
}

/** A JSON object value. */
export function jsonMessage(value: unknown, key: string | null = '42', offset = '17'): WorkspaceMessage {
  return message(JSON.stringify(value), key, offset);
}
