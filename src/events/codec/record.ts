/** The logical event record shared by Avro and JSON, validated into a WorkspaceEvent. */
import { workspaceEventRecordSchema } from '../../../projections/agentk-states/events.js';
import type { WorkspaceValueEvent } from '../../../projections/agentk-states/events.js';
import { schemaInvalid } from './bad-message.js';
import type { CodecResult } from './bad-message.js';
import { isObject, readWorkspaceId } from './util.js';

export function parseEventRecord(record: unknown): CodecResult<WorkspaceValueEvent> {
  const parsed = workspaceEventRecordSchema.safeParse(record);
  if (parsed.success) return { ok: true, value: parsed.data };
  const workspaceId = isObject(record) ? readWorkspaceId(record.workspace_id) : undefined;
  return { ok: false, failure: schemaInvalid(parsed.error, [], workspaceId) };
}
