/**
 * Debezium change events for GitLab's `workspaces` table (JSON converter; the `{schema, payload}` envelope
 * is removed by detect.ts). `c`/`r` create from `after`, `u` updates with the columns that differ between
 * `before` and `after` (all of `after` without `before`) and, when `after` holds every column (none
 * unavailable), also carries that full row, which folds like a create on a compacted topic; `d` deletes. The version is `source.lsn`, or the
 * Kafka offset when there is no LSN. Epoch timestamps are microseconds (MicroTimestamp); timestamptz
 * columns arrive as ISO strings (ZonedTimestamp).
 */
import { z } from 'zod';
import { bigintId } from '../../../projections/agentk-states/inputs.js';
import {
  WORKSPACE_CHANGE_COLUMNS,
  debeziumWorkspaceChangesSchema,
  debeziumWorkspaceRowSchema,
} from '../../../projections/agentk-states/events.js';
import type { WorkspaceChanges, WorkspaceColumn, WorkspaceEvent, WorkspaceRow, WorkspaceUpdated } from '../../../projections/agentk-states/events.js';
import { schemaInvalid } from './bad-message.js';
import type { CodecFailure, CodecResult } from './bad-message.js';
import { isObject, readWorkspaceId } from './util.js';
import type { UnknownObject } from './util.js';

/**
 * What Debezium puts in an unchanged TOASTed column of an update when the table's replica identity is not
 * FULL. `processed_devfile` and `devfile` are easily large enough to be TOASTed, so such a column means
 * "not changed", never a new value.
 */
export const DEBEZIUM_UNAVAILABLE_VALUE = '__debezium_unavailable_value';

export interface DebeziumContext {
  topic: string;
  partition: number;
  offset: string;
  /** Kafka message timestamp (epoch ms as a string): the last fallback for `occurredAt`. */
  timestamp: string;
  /** The key's workspace id; identifies the workspace of a delete without `before`. */
  keyWorkspaceId: number | null;
}

const OPERATIONS = ['c', 'r', 'u', 'd'] as const;

const row = z.record(z.string(), z.unknown());

const payloadSchema = z.object({
  op: z.enum(OPERATIONS),
  before: row.nullable().optional(),
  after: row.nullable().optional(),
  source: z
    .object({
      // A topic carrying other tables' changes is not ours to apply.
      table: z.literal('workspaces').optional(),
      lsn: bigintId.nullable().optional(),
      ts_ms: z.number().nullable().optional(),
    })
    .nullable()
    .optional(),
  ts_ms: z.number().nullable().optional(),
});

/** `after` of an update: the changed (available) columns plus the id. */
const updatedRowSchema = debeziumWorkspaceChangesSchema.extend({ id: bigintId });
/** `before` of an update (replica identity FULL); compared column by column, so every column is optional. */
const previousRowSchema = debeziumWorkspaceChangesSchema.extend({ id: bigintId.optional() });
const deletedRowSchema = z.object({ id: bigintId });

export function decodeDebezium(payload: UnknownObject | null, context: DebeziumContext): CodecResult<WorkspaceEvent> {
  if (payload === null) return deleteByKey(context, null);

  const workspaceIdHint =
    (isObject(payload.after) ? readWorkspaceId(payload.after.id) : undefined) ??
    (isObject(payload.before) ? readWorkspaceId(payload.before.id) : undefined) ??
    context.keyWorkspaceId ??
    undefined;
  const fail = (failure: CodecFailure): CodecResult<WorkspaceEvent> => ({
    ok: false,
    failure: workspaceIdHint === undefined ? failure : { ...failure, workspaceId: workspaceIdHint },
  });

  if (typeof payload.op === 'string' && !(OPERATIONS as readonly string[]).includes(payload.op)) {
    return fail({ reason: 'unsupported_operation', detail: `Debezium op "${payload.op}" is not c, r, u or d` });
  }
  const parsed = payloadSchema.safeParse(payload);
  if (!parsed.success) return fail(schemaInvalid(parsed.error));
  const { op, before, after, source } = parsed.data;

  const offset = Number(context.offset);
  const version = source?.lsn ?? (Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined);
  if (version === undefined) {
    return fail({ reason: 'schema_invalid', path: 'source.lsn', detail: `no source.lsn and offset "${context.offset}" is not a version` });
  }

  if (op === 'd') {
    if (before === null || before === undefined) return deleteByKey(context, version);
    const deleted = deletedRowSchema.safeParse(before);
    if (!deleted.success) return fail(schemaInvalid(deleted.error, ['before']));
    return { ok: true, value: { type: 'workspace-deleted', workspaceId: deleted.data.id, version } };
  }

  const occurredAtMs = source?.ts_ms ?? parsed.data.ts_ms ?? Number(context.timestamp);
  if (!Number.isFinite(occurredAtMs)) {
    return fail({ reason: 'schema_invalid', path: 'ts_ms', detail: 'no source.ts_ms, ts_ms or Kafka timestamp' });
  }
  if (after === null || after === undefined) {
    return fail({ reason: 'schema_invalid', path: 'after', detail: `op "${op}" needs an "after" row` });
  }
  const header = {
    // Debezium has no event id; the Kafka coordinates identify the change and are stable across redelivery.
    eventId: `${context.topic}/${context.partition}@${context.offset}`,
    version,
    occurredAt: new Date(occurredAtMs),
  };

  if (op === 'c' || op === 'r') {
    const workspace = debeziumWorkspaceRowSchema.safeParse(after);
    if (!workspace.success) return fail(schemaInvalid(workspace.error, ['after']));
    return { ok: true, value: { type: 'workspace-created', ...header, workspaceId: workspace.data.id, workspace: workspace.data } };
  }

  const next = updatedRowSchema.safeParse(withoutUnavailable(after));
  if (!next.success) return fail(schemaInvalid(next.error, ['after']));
  let previous: WorkspaceChanges | null = null;
  if (before !== null && before !== undefined) {
    const parsedBefore = previousRowSchema.safeParse(withoutUnavailable(before));
    if (!parsedBefore.success) return fail(schemaInvalid(parsedBefore.error, ['before']));
    previous = parsedBefore.data;
  }
  const updated: WorkspaceUpdated = { type: 'workspace-updated', ...header, workspaceId: next.data.id, changes: changedColumns(previous, next.data) };
  const row = fullRow(after);
  if (row !== undefined) updated.row = row;
  return { ok: true, value: updated };
}

/** `after` as a whole row, when it names every column and none is an unavailable (unchanged TOASTed) value. */
function fullRow(after: UnknownObject): WorkspaceRow | undefined {
  const complete = ['id', ...WORKSPACE_CHANGE_COLUMNS].every((column) => column in after && after[column] !== DEBEZIUM_UNAVAILABLE_VALUE);
  if (!complete) return undefined;
  const parsed = debeziumWorkspaceRowSchema.safeParse(after);
  return parsed.success ? parsed.data : undefined;
}

function deleteByKey(context: DebeziumContext, version: number | null): CodecResult<WorkspaceEvent> {
  if (context.keyWorkspaceId === null) {
    return { ok: false, failure: { reason: 'missing_key', detail: 'a delete without "before" needs the workspace id in the key' } };
  }
  return { ok: true, value: { type: 'workspace-deleted', workspaceId: context.keyWorkspaceId, version } };
}

function withoutUnavailable(columns: UnknownObject): UnknownObject {
  const out: UnknownObject = {};
  for (const [column, value] of Object.entries(columns)) {
    if (value !== DEBEZIUM_UNAVAILABLE_VALUE) out[column] = value;
  }
  return out;
}

/** The columns of `after` whose value differs from `before` (all of them when there is no `before`). */
function changedColumns(before: WorkspaceChanges | null, after: WorkspaceChanges): WorkspaceChanges {
  const changes: WorkspaceChanges = {};
  for (const column of WORKSPACE_CHANGE_COLUMNS) {
    if (!(column in after)) continue;
    if (before !== null && column in before && sameValue(before[column], after[column])) continue;
    copyColumn(changes, after, column);
  }
  return changes;
}

function copyColumn<K extends WorkspaceColumn>(target: WorkspaceChanges, source: WorkspaceChanges, column: K): void {
  target[column] = source[column];
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return a === b;
}
