/**
 * Rows flattened by Debezium's `io.debezium.transforms.ExtractNewRecordState` ("unwrap") SMT: the `after`
 * columns at the top level, optionally with the metadata `add.fields` copies in (`__op`, `__table`, `__lsn`
 * or `__source_lsn`, `__ts_ms`, `__source_ts_ms`; the default `__` prefix), and, with
 * `delete.tombstone.handling.mode=rewrite` (formerly `delete.handling.mode`), a delete as the `before` row
 * with `__deleted: "true"`. Each row is rewritten into the change event it was flattened from and decoded by
 * debezium.ts, so both forms follow one set of rules. Without `__op` a row is an update with no `before`:
 * all of its columns changed, and a complete row also stands in for a create (a full row).
 * The JSON-text `null` and tombstone deletes are decode.ts's (deletes by key).
 */
import { z } from 'zod';
import { bigintId } from '../../../projections/agentk-states/inputs.js';
import type { WorkspaceEvent } from '../../../projections/agentk-states/events.js';
import { schemaInvalid } from './bad-message.js';
import type { CodecResult } from './bad-message.js';
import { decodeDebezium } from './debezium.js';
import type { DebeziumContext } from './debezium.js';
import { readWorkspaceId } from './util.js';
import type { UnknownObject } from './util.js';

/** The `add.fields.prefix` default; GitLab's `workspaces` has no column starting with it. */
const METADATA_PREFIX = '__';

/** Epoch milliseconds; the JSON converter writes int64 metadata as numbers, Debezium's docs show strings. */
const epochMs = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]);

const metadataSchema = z.object({
  // Any other operation (`t`, `m`) is debezium.ts's `unsupported_operation`.
  __op: z.string().nullable().optional(),
  __deleted: z.union([z.enum(['true', 'false']), z.boolean()]).nullable().optional(),
  __table: z.literal('workspaces').nullable().optional(),
  __source_table: z.literal('workspaces').nullable().optional(),
  __lsn: bigintId.nullable().optional(),
  __source_lsn: bigintId.nullable().optional(),
  __ts_ms: epochMs.nullable().optional(),
  __source_ts_ms: epochMs.nullable().optional(),
});

export function decodeDebeziumRow(flattened: UnknownObject, context: DebeziumContext): CodecResult<WorkspaceEvent> {
  const meta = metadataSchema.safeParse(flattened);
  if (!meta.success) return { ok: false, failure: schemaInvalid(meta.error, [], readWorkspaceId(flattened.id)) };
  const m = meta.data;
  const row: UnknownObject = {};
  for (const [column, value] of Object.entries(flattened)) if (!column.startsWith(METADATA_PREFIX)) row[column] = value;

  const deleted = m.__deleted === true || m.__deleted === 'true' || m.__op === 'd';
  const op = deleted ? 'd' : (m.__op ?? 'u');
  const change = {
    op,
    before: deleted ? row : null,
    after: deleted ? null : row,
    source: { lsn: m.__lsn ?? m.__source_lsn ?? null, ts_ms: m.__source_ts_ms ?? null },
    ts_ms: m.__ts_ms ?? null,
  };
  const decoded = decodeDebezium(change, context);
  if (decoded.ok || decoded.failure.path === undefined) return decoded;
  // The row is the message's top level, not the envelope's `after`/`before` that debezium.ts reports.
  return { ok: false, failure: { ...decoded.failure, path: decoded.failure.path.replace(/^(after|before)\./, '') } };
}
