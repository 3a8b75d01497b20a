/**
 * Encodes WorkspaceEvents into message values, for tests and the benchmark (the rebuilder only decodes).
 * The output is exactly what decode.ts accepts: Confluent-framed Avro or JSON, keyed by the workspace id.
 * A delete has no value (a tombstone), so only creates and updates are encodable.
 */
import type { AgentConfig } from '../../projections/agentk-states/inputs.js';
import { defaultSchemaCatalog } from './codec/catalog.js';
import type { SchemaCatalog } from './codec/catalog.js';
import { frameConfluent } from './codec/confluent-avro.js';
import { WORKSPACE_CHANGE_COLUMNS } from '../../projections/agentk-states/events.js';
import type { WorkspaceChanges, WorkspaceRow, WorkspaceValueEvent } from '../../projections/agentk-states/events.js';

export class EncodeError extends Error {
  override readonly name = 'EncodeError';
}

type Scalar = string | number | boolean | null;
type ColumnValue = Scalar | Date;

/** The Avro record as avsc writes it (timestamps as epoch ms, jsonb as JSON text). */
interface AvroEventRecord {
  type: WorkspaceValueEvent['type'];
  event_id: string;
  workspace_id: number;
  version: number;
  occurred_at: number;
  workspace: Record<string, Scalar> | null;
  /** One entry per column: null = not changed, `{value}` = changed to value (see the .avsc doc). */
  changes: Record<string, { value: Scalar } | null> | null;
  agent_config: Record<string, Scalar> | null;
}

/** The message key: the workspace id as a decimal string. */
export function encodeKey(workspaceId: number): Buffer {
  return Buffer.from(String(workspaceId), 'utf8');
}

/**
 * Confluent wire format with the given schema id (default: the catalog's current one). Writing with an
 * older id drops the fields that schema lacks (e.g. `agent_config` in v1), as an old producer would.
 * Throws EncodeError when the event does not fit the schema (a bug in the caller).
 */
export function encodeAvro(
  event: WorkspaceValueEvent,
  schemaId?: number,
  catalog: SchemaCatalog = defaultSchemaCatalog(),
): Buffer {
  const id = schemaId ?? catalog.currentId;
  const entry = catalog.entries.get(id);
  if (entry === undefined) throw new EncodeError(`schema id ${id} is not in the catalog`);
  const record = toAvroRecord(event);
  const problems: string[] = [];
  const valid = entry.writerType.isValid(record, {
    errorHook: (path) => problems.push(path.join('.')),
  });
  if (!valid) {
    throw new EncodeError(`event ${event.eventId} does not fit schema id ${id} (${entry.file}) at ${problems.join(', ')}`);
  }
  return frameConfluent(id, entry.writerType.toBuffer(record));
}

/** The JSON encoding: snake_case fields, ISO-8601 timestamps, only the changed columns in `changes`. */
export function encodeJson(event: WorkspaceValueEvent): Buffer {
  const header = {
    type: event.type,
    event_id: event.eventId,
    workspace_id: event.workspaceId,
    version: event.version,
    occurred_at: event.occurredAt.toISOString(),
  };
  const body =
    event.type === 'workspace-created'
      ? {
          ...header,
          workspace: mapColumns(event.workspace, toIso),
          ...(event.agentConfig === undefined ? {} : { agent_config: event.agentConfig }),
        }
      : { ...header, changes: mapColumns(event.changes, toIso) };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function toAvroRecord(event: WorkspaceValueEvent): AvroEventRecord {
  const header = {
    type: event.type,
    event_id: event.eventId,
    workspace_id: event.workspaceId,
    version: event.version,
    occurred_at: event.occurredAt.getTime(),
  };
  if (event.type === 'workspace-updated') {
    return { ...header, workspace: null, changes: wrapChanges(event.changes), agent_config: null };
  }
  return {
    ...header,
    workspace: mapColumns(event.workspace, toEpochMs),
    changes: null,
    agent_config: event.agentConfig === undefined ? null : agentConfigToAvro(event.agentConfig),
  };
}

function wrapChanges(changes: WorkspaceChanges): Record<string, { value: Scalar } | null> {
  const wrapped: Record<string, { value: Scalar } | null> = {};
  const values: Partial<Record<string, ColumnValue>> = changes;
  for (const column of WORKSPACE_CHANGE_COLUMNS) {
    const value = values[column];
    wrapped[column] = value === undefined ? null : { value: toEpochMs(value) };
  }
  return wrapped;
}

function agentConfigToAvro(config: AgentConfig): Record<string, Scalar> {
  return {
    ...config,
    network_policy_egress: JSON.stringify(config.network_policy_egress),
    default_resources_per_workspace_container: JSON.stringify(config.default_resources_per_workspace_container),
    max_resources_per_workspace: JSON.stringify(config.max_resources_per_workspace),
    annotations: JSON.stringify(config.annotations),
    labels: JSON.stringify(config.labels),
    image_pull_secrets: JSON.stringify(config.image_pull_secrets),
  };
}

function mapColumns(
  columns: WorkspaceRow | WorkspaceChanges,
  convert: (value: ColumnValue) => Scalar,
): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const [column, value] of Object.entries(columns) as [string, ColumnValue | undefined][]) {
    if (value !== undefined) out[column] = convert(value);
  }
  return out;
}

function toEpochMs(value: ColumnValue): Scalar {
  return value instanceof Date ? value.getTime() : value;
}

function toIso(value: ColumnValue): Scalar {
  return value instanceof Date ? value.toISOString() : value;
}
