/**
 * The decoded, validated workspace event (contract: ../shared/spec/events.md).
 *
 * Every encoding (Confluent Avro, JSON, Debezium) ends in the zod schemas of this module, so there is one
 * definition of what a valid event is. Column names stay GitLab's snake_case (as in inputs.ts): the
 * workspace record is a `workspaces` row and feeds the generator without a mapping layer.
 */
import { z } from 'zod';
import { agentConfigSchema, bigintId, workspaceInputSchema } from './inputs.js';
import type { AgentConfig } from './inputs.js';

// ---------------------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------------------

/**
 * A timestamp as an encoding carries it: an epoch number or an ISO-8601 string (a Date passes through).
 * The unit of epoch numbers depends on the encoding: milliseconds for Avro timestamp-millis and our JSON,
 * microseconds for Debezium's MicroTimestamp. Output is always a Date (what pg returns for timestamptz,
 * so event-built and snapshot-built rows compare equal).
 */
export function timestampSchema(epochUnit: 'ms' | 'us') {
  return z
    .custom<number | string | Date>(
      (value) => typeof value === 'number' || typeof value === 'string' || value instanceof Date,
      { message: `expected a timestamp (epoch ${epochUnit} number or ISO-8601 string)` },
    )
    .transform((value, ctx) => {
      const date =
        value instanceof Date
          ? value
          : typeof value === 'number'
            ? new Date(epochUnit === 'ms' ? value : Math.trunc(value / 1000))
            : new Date(value);
      if (Number.isNaN(date.getTime())) {
        ctx.addIssue({ code: 'custom', message: `not a valid timestamp: ${String(value)}` });
        return z.NEVER;
      }
      return date;
    });
}
type TimestampSchema = ReturnType<typeof timestampSchema>;

/** Postgres `integer` columns. */
const int32 = z.number().int().min(-2147483648).max(2147483647);

// ---------------------------------------------------------------------------------------------------------
// The `workspaces` row
// ---------------------------------------------------------------------------------------------------------

/**
 * Every `workspaces` column except `id`, without defaults (so `.partial()` of it is exactly "the columns
 * that changed"). The generator's columns reuse workspaceInputSchema so both validate them identically.
 * `desired_config_generator_version` and `project_ref` are NOT NULL only through CHECK constraints in
 * GitLab; they are nullable here so that a column the projection never reads cannot dead-letter a workspace.
 */
function workspaceColumns(timestamp: TimestampSchema) {
  const input = workspaceInputSchema.shape;
  return {
    created_at: timestamp,
    updated_at: timestamp,
    user_id: bigintId,
    project_id: bigintId,
    cluster_agent_id: input.cluster_agent_id,
    desired_state_updated_at: timestamp,
    responded_to_agent_at: timestamp.nullable(),
    name: input.name,
    namespace: input.namespace,
    desired_state: input.desired_state,
    actual_state: z.string(),
    devfile_path: z.string().nullable(),
    devfile: z.string().nullable(),
    processed_devfile: input.processed_devfile,
    url: z.string().nullable(),
    deployment_resource_version: z.string().nullable(),
    personal_access_token_id: bigintId.nullable(),
    force_include_all_resources: z.boolean(),
    url_prefix: z.string().nullable(),
    url_query_string: z.string().nullable(),
    workspaces_agent_config_version: int32,
    desired_config_generator_version: int32.nullable(),
    project_ref: z.string().nullable(),
    actual_state_updated_at: timestamp,
  };
}

/**
 * A full row. A missing nullable column reads as null and a missing defaulted column as its database
 * default (as agentConfigSchema does), so JSON producers that omit nulls and v1 Avro events still parse.
 */
function workspaceRow(timestamp: TimestampSchema) {
  const columns = workspaceColumns(timestamp);
  return z.object({
    id: workspaceInputSchema.shape.id,
    ...columns,
    responded_to_agent_at: columns.responded_to_agent_at.default(null),
    devfile_path: columns.devfile_path.default(null),
    devfile: columns.devfile.default(null),
    processed_devfile: columns.processed_devfile.default(null),
    url: columns.url.default(null),
    deployment_resource_version: columns.deployment_resource_version.default(null),
    personal_access_token_id: columns.personal_access_token_id.default(null),
    force_include_all_resources: columns.force_include_all_resources.default(true),
    url_prefix: columns.url_prefix.default(null),
    url_query_string: columns.url_query_string.default(null),
    desired_config_generator_version: columns.desired_config_generator_version.default(null),
    project_ref: columns.project_ref.default(null),
    actual_state_updated_at: columns.actual_state_updated_at.default(() => new Date(0)),
  });
}

/** Workspace rows whose epoch timestamps are milliseconds (Avro, JSON). */
export const workspaceRowSchema = workspaceRow(timestampSchema('ms'));
/** Workspace rows whose epoch timestamps are microseconds (Debezium). */
export const debeziumWorkspaceRowSchema = workspaceRow(timestampSchema('us'));

/** Only the columns that changed; a key present with null means "changed to null". `id` never changes. */
export const workspaceChangesSchema = z.object(workspaceColumns(timestampSchema('ms'))).partial();
export const debeziumWorkspaceChangesSchema = z.object(workspaceColumns(timestampSchema('us'))).partial();

/** A `workspaces` row; assignable to the generator's WorkspaceInput. */
export type WorkspaceRow = z.output<typeof workspaceRowSchema>;
export type WorkspaceChanges = z.output<typeof workspaceChangesSchema>;
export type WorkspaceColumn = keyof WorkspaceChanges;

/** The changeable columns, in table order (the Avro `changes` record has one field per entry). */
export const WORKSPACE_CHANGE_COLUMNS = Object.keys(workspaceChangesSchema.shape) as WorkspaceColumn[];

// ---------------------------------------------------------------------------------------------------------
// The agent config
// ---------------------------------------------------------------------------------------------------------

/** jsonb columns travel as JSON text in Avro (and Debezium); JSON events may also carry them as values. */
const jsonbColumn = z.unknown().transform((value, ctx) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not JSON text: ${(error as Error).message}` });
    return z.NEVER;
  }
});

/**
 * A `workspaces_agent_configs` row as an event carries it, parsed into the generator's AgentConfig. Other
 * columns (id, quotas, …) are accepted and dropped: the generator does not read them.
 */
export const agentConfigColumnsSchema = z
  .looseObject({
    network_policy_egress: jsonbColumn.optional(),
    default_resources_per_workspace_container: jsonbColumn.optional(),
    max_resources_per_workspace: jsonbColumn.optional(),
    annotations: jsonbColumn.optional(),
    labels: jsonbColumn.optional(),
    image_pull_secrets: jsonbColumn.optional(),
  })
  .pipe(agentConfigSchema);

// ---------------------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------------------

export interface WorkspaceCreated {
  type: 'workspace-created';
  eventId: string;
  workspaceId: number;
  /** 1 for a native create; the source LSN (or Kafka offset) for Debezium. */
  version: number;
  occurredAt: Date;
  workspace: WorkspaceRow;
  /** Absent: the projection resolves the pinned agent config from the database. */
  agentConfig?: AgentConfig;
}

export interface WorkspaceUpdated {
  type: 'workspace-updated';
  eventId: string;
  workspaceId: number;
  version: number;
  occurredAt: Date;
  changes: WorkspaceChanges;
  /**
   * The whole row after the update, when the event carries it (a Debezium `u` with every column in
   * `after`): it can stand in for a create that log compaction removed.
   */
  row?: WorkspaceRow;
}

/** A Kafka tombstone (version null: a tombstone carries none; its offset orders it) or a Debezium `op: d`. */
export interface WorkspaceDeleted {
  type: 'workspace-deleted';
  workspaceId: number;
  version: number | null;
}

export type WorkspaceEvent = WorkspaceCreated | WorkspaceUpdated | WorkspaceDeleted;
/** The events that have a message value (everything but a delete). */
export type WorkspaceValueEvent = WorkspaceCreated | WorkspaceUpdated;

const positiveId = bigintId.pipe(z.number().min(1));

/** Fields shared by both native event types (Avro and JSON), snake_case as on the wire. */
const recordHeader = {
  // Opaque: used for deduplication only, so any non-empty id is accepted even though producers send UUIDs.
  event_id: z.string().min(1),
  workspace_id: positiveId,
  version: positiveId,
  occurred_at: timestampSchema('ms'),
};

const createdRecord = z.object({
  type: z.literal('workspace-created'),
  ...recordHeader,
  workspace: workspaceRowSchema,
  // A create that also carries changes or an update with a workspace is a producer bug: reject, don't guess.
  changes: z.null().optional(),
  agent_config: agentConfigColumnsSchema.nullable().optional(),
});

const updatedRecord = z.object({
  type: z.literal('workspace-updated'),
  ...recordHeader,
  workspace: z.null().optional(),
  changes: workspaceChangesSchema,
  agent_config: z.null().optional(),
});

/**
 * The logical event record shared by the Avro and JSON encodings (the Avro `changes` wrappers are
 * unwrapped before this), validated and mapped to a WorkspaceEvent.
 */
export const workspaceEventRecordSchema = z
  .discriminatedUnion('type', [createdRecord, updatedRecord])
  .superRefine((record, ctx) => {
    if (record.type === 'workspace-created' && record.workspace.id !== record.workspace_id) {
      ctx.addIssue({
        code: 'custom',
        path: ['workspace', 'id'],
        message: `workspace.id ${record.workspace.id} differs from workspace_id ${record.workspace_id}`,
      });
    }
  })
  .transform((record): WorkspaceValueEvent => {
    const header = {
      eventId: record.event_id,
      workspaceId: record.workspace_id,
      version: record.version,
      occurredAt: record.occurred_at,
    };
    if (record.type === 'workspace-updated') {
      return { type: record.type, ...header, changes: record.changes };
    }
    const created: WorkspaceCreated = { type: record.type, ...header, workspace: record.workspace };
    if (record.agent_config) created.agentConfig = record.agent_config;
    return created;
  });
