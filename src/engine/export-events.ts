/**
 * `--export-events`: GitLab's `workspaces` table as one full-row event per workspace, so that a team can start
 * the Kafka path from an existing installation (bootstrap a topic, then let its own producer go on).
 *
 * One REPEATABLE READ READ ONLY snapshot (snapshot-source.ts, keyset batches) gives a consistent table. Each
 * row becomes a `workspace-created` event of version 1, keyed by the workspace id: the contract's create, so a
 * producer that takes over continues the workspace at version 2. It carries no `agent_config`: the consumer
 * then resolves the pinned agent config from GitLab's tables exactly as a snapshot rebuild does, also after
 * a later update moves `workspaces_agent_config_version` (an embedded copy would stay the exported one).
 */
import { randomUUID } from 'node:crypto';
import type { Session } from '../sink/postgres/database.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { encodeKey } from '../events/encode.js';
import { workspaceRowSchema, type WorkspaceCreated } from '../../projections/agentk-states/events.js';
import { WorkspaceSnapshot } from '../sources/snapshot/snapshot-source.js';

export interface ExportedMessage {
  workspaceId: number;
  key: Buffer;
  value: Buffer;
}

/** Where the events go (a topic, a file); `write` may buffer, `finish` flushes what is left, `discard` cleans up after a failure. */
export interface EventExportSink {
  write(messages: readonly ExportedMessage[]): Promise<void>;
  finish(): Promise<void>;
  discard(): Promise<void>;
}

export interface ExportOptions {
  batchSize: number;
  agentConfigMode: AgentConfigMode;
  encode: (event: WorkspaceCreated) => Buffer;
  sink: EventExportSink;
  signal: AbortSignal;
  onBatch?: (exported: number, total: number) => void;
}

export interface ExportResult {
  workspaces: number;
  takenAt: Date;
}

/** A row the contract cannot carry (a column of the wrong type): named, and the export stops. */
export class ExportRowError extends Error {
  override readonly name = 'ExportRowError';
}

export class ExportInterruptedError extends Error {
  override readonly name = 'ExportInterruptedError';
}

/** Reads the snapshot on `client` (which it holds until done) and writes every workspace's event to the sink. */
export async function exportEvents(client: Session, options: ExportOptions): Promise<ExportResult> {
  const snapshot = await WorkspaceSnapshot.open(client, { batchSize: options.batchSize, agentConfigMode: options.agentConfigMode });
  let exported = 0;
  try {
    try {
      for await (const records of snapshot.batches()) {
        if (options.signal.aborted) throw new ExportInterruptedError(`export interrupted after ${exported} of ${snapshot.total} workspaces`);
        await options.sink.write(records.map((record) => toMessage(fullRowEvent(record.workspaceId, record.row), options.encode)));
        exported += records.length;
        options.onBatch?.(exported, snapshot.total);
      }
    } finally {
      await snapshot.close();
    }
    await options.sink.finish();
  } catch (error) {
    await options.sink.discard();
    throw error;
  }
  return { workspaces: exported, takenAt: snapshot.takenAt };
}

/** The create event of a `workspaces` row as pg returned it. Throws ExportRowError naming the workspace and column. */
export function fullRowEvent(workspaceId: number, row: Record<string, unknown>): WorkspaceCreated {
  const parsed = workspaceRowSchema.safeParse(row);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ExportRowError(`workspace ${workspaceId}: column ${issue?.path.map(String).join('.') || '?'}: ${issue?.message ?? 'invalid'}: the row cannot be exported as an event`);
  }
  return { type: 'workspace-created', eventId: randomUUID(), workspaceId, version: 1, occurredAt: parsed.data.updated_at, workspace: parsed.data };
}

function toMessage(event: WorkspaceCreated, encode: (event: WorkspaceCreated) => Buffer): ExportedMessage {
  return { workspaceId: event.workspaceId, key: encodeKey(event.workspaceId), value: encode(event) };
}
