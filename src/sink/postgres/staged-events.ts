/**
 * A rebuild's staged events (`rebuild_projection.staged_events_<rebuild id>`, 016). A rebuild from a history
 * (Kafka, a file) appends each transaction's decoded messages here, as the bytes they arrived as, instead of
 * folding them into the shadow's states one batch at a time: a workspace's K updates then cost K small appends
 * instead of K rewrites of its state (about 2 kB each, with its origins). The fold phase (materialize-shadow.ts)
 * reads them back in (workspace, seq) order, folds each workspace's events at once and generates its row.
 *
 * `seq` is the order of staging. A transaction stages only under its workspaces' fold locks
 * (projection-locks.ts), so two transactions that stage events of one workspace are serialized, and `seq`
 * orders them as folding them batch by batch would have. A table per rebuild, dropped with it: no dead rows
 * left behind in a shared table.
 */
import type { WorkspaceMessage } from '../../events/decode.js';
import type { Session } from './database.js';
import { copyRows, type CopyColumn } from './copy-rows.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** The staging table of rebuild `rebuildId`. */
function stagedEventsTable(rebuildId: number): string {
  return `${BOOKKEEPING_SCHEMA}.staged_events_${rebuildId}`;
}

/** Creates the rebuild's staging table unless it exists (a resumed rebuild keeps what it staged). */
export async function createStagedEvents(client: Session, rebuildId: number): Promise<void> {
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${stagedEventsTable(rebuildId)} (
       workspace_id bigint NOT NULL,
       seq bigint GENERATED ALWAYS AS IDENTITY,
       topic text NOT NULL,
       kafka_partition bigint NOT NULL,
       kafka_offset text NOT NULL,
       msg_key bytea,
       msg_value bytea,
       msg_timestamp text NOT NULL,
       PRIMARY KEY (workspace_id, seq)
     )`,
  );
}

/** Drops the rebuild's staging table, if any (its events are folded, or the rebuild abandoned). */
export async function dropStagedEvents(client: Session, rebuildId: number): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${stagedEventsTable(rebuildId)}`);
}

/** How many workspaces have staged events (the fold phase's progress total). */
export async function countStagedWorkspaces(client: Session, rebuildId: number): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(DISTINCT workspace_id)::text AS n FROM ${stagedEventsTable(rebuildId)}`);
  return Number(rows[0]?.n ?? 0);
}

/** A message to stage, with the workspace its decoded event names. */
export interface StagedEvent {
  workspaceId: number;
  message: WorkspaceMessage;
}

const STAGED_COLUMNS: readonly CopyColumn[] = [
  { name: 'workspace_id', type: 'bigint' },
  { name: 'topic', type: 'text' },
  { name: 'kafka_partition', type: 'bigint' },
  { name: 'kafka_offset', type: 'text' },
  { name: 'msg_key', type: 'bytea' },
  { name: 'msg_value', type: 'bytea' },
  { name: 'msg_timestamp', type: 'text' },
];

/** Appends `events`, in order, in the caller's transaction (one COPY). */
export async function stageEvents(client: Session, rebuildId: number, events: readonly StagedEvent[]): Promise<void> {
  await copyRows(
    client,
    stagedEventsTable(rebuildId),
    STAGED_COLUMNS,
    events.map(({ workspaceId, message: m }) => [workspaceId, m.topic, m.partition, m.offset, m.key, m.value, m.timestamp]),
  );
}

/** Where a read of staged events stopped: the last one read. */
export interface StagedCursor {
  workspaceId: number;
  seq: string;
}

/** One read of staged events: at most `rows`, and past the first at most `bytes` of message values. */
export interface StagedReadLimits {
  rows: number;
  bytes: number;
}

/** Staged events after `cursor` (from the first without it), in (workspace, seq) order, within `limits`. */
export async function readStagedEvents(
  client: Session,
  rebuildId: number,
  cursor: StagedCursor | undefined,
  limits: StagedReadLimits,
): Promise<(StagedEvent & { seq: string })[]> {
  const { rows } = await client.query<{
    workspace_id: string; seq: string; topic: string; kafka_partition: number; kafka_offset: string; msg_key: Buffer | null; msg_value: Buffer | null; msg_timestamp: string;
  }>(
    // The running sum of value sizes reads only the values' headers (TOAST pointers), not the values.
    `SELECT workspace_id::text, seq::text, topic, kafka_partition::int, kafka_offset, msg_key, msg_value, msg_timestamp
       FROM (SELECT s.*, sum(coalesce(octet_length(s.msg_value), 0)) OVER (ORDER BY s.workspace_id, s.seq) AS bytes_through
               FROM ${stagedEventsTable(rebuildId)} AS s
              WHERE (s.workspace_id, s.seq) > ($1::bigint, $2::bigint)
              ORDER BY s.workspace_id, s.seq
              LIMIT $3) AS s
      WHERE s.bytes_through - coalesce(octet_length(s.msg_value), 0) < $4
      ORDER BY s.workspace_id, s.seq`,
    [cursor?.workspaceId ?? 0, cursor?.seq ?? '0', limits.rows, limits.bytes],
  );
  return rows.map((row) => ({
    workspaceId: Number(row.workspace_id),
    seq: row.seq,
    message: { topic: row.topic, partition: row.kafka_partition, offset: row.kafka_offset, key: row.msg_key, value: row.msg_value, timestamp: row.msg_timestamp },
  }));
}
