/**
 * Builders for workspace event streams in tests: rows, events, and producing them to a real topic.
 * The rows are also inserted into the target database's `workspaces` table, as GitLab would hold them
 * (workspace_agentk_states has a foreign key to it).
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Session } from '../../src/sink/postgres/database.js';
import { encodeAvro, encodeJson, encodeKey } from '../../src/events/encode.js';
import type { WorkspaceChanges, WorkspaceCreated, WorkspaceRow, WorkspaceValueEvent } from '../../projections/agentk-states/events.js';
import { readFixture } from './database.js';
import { testProducerConfig } from './kafka-broker.js';

export const seedDevfile = readFixture('gitlab/seed-processed-devfile.yaml');

const at = new Date('2025-09-03T13:08:01Z');

export function workspaceRow(id: number, overrides: Partial<WorkspaceRow> = {}): WorkspaceRow {
  return {
    id, created_at: at, updated_at: at, user_id: 60, project_id: 100 + (id % 7), cluster_agent_id: 1,
    desired_state_updated_at: at, responded_to_agent_at: null, name: `workspace-${id}`, namespace: `ns-${id}`,
    desired_state: 'Running', actual_state: 'Running', devfile_path: '.devfile.yaml', devfile: null,
    processed_devfile: seedDevfile, url: null, deployment_resource_version: null, personal_access_token_id: null,
    force_include_all_resources: true, url_prefix: null, url_query_string: null, workspaces_agent_config_version: 0,
    desired_config_generator_version: 3, project_ref: 'main', actual_state_updated_at: at,
    ...overrides,
  };
}

export function createdEvent(row: WorkspaceRow, version = 1): WorkspaceCreated {
  return { type: 'workspace-created', eventId: randomUUID(), workspaceId: row.id, version, occurredAt: at, workspace: row };
}

export function updatedEvent(workspaceId: number, version: number, changes: WorkspaceChanges): WorkspaceValueEvent {
  return { type: 'workspace-updated', eventId: randomUUID(), workspaceId, version, occurredAt: at, changes };
}

export interface OutgoingMessage {
  key: Buffer;
  value: Buffer | null;
}

export const asAvro = (event: WorkspaceValueEvent, schemaId?: number): OutgoingMessage => ({
  key: encodeKey(event.workspaceId),
  value: encodeAvro(event, schemaId),
});
export const asJson = (event: WorkspaceValueEvent): OutgoingMessage => ({ key: encodeKey(event.workspaceId), value: encodeJson(event) });
export const tombstone = (workspaceId: number): OutgoingMessage => ({ key: encodeKey(workspaceId), value: null });

export async function createTopic(kafka: Kafka, topic: string, numPartitions = 3, configEntries: { name: string; value: string }[] = []): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Produces in order, keyed (the default partitioner keeps one workspace in one partition). */
export async function produce(kafka: Kafka, topic: string, messages: OutgoingMessage[]): Promise<void> {
  const producer = kafka.producer(testProducerConfig);
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Inserts (or replaces) the rows GitLab's `workspaces` table would hold. */
export async function upsertWorkspaceRows(db: Session, rows: WorkspaceRow[]): Promise<void> {
  const columns = Object.keys(rows[0]!) as (keyof WorkspaceRow)[];
  for (const row of rows) {
    await db.query(
      `INSERT INTO workspaces (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (id) DO UPDATE SET ${columns.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`,
      columns.map((c) => row[c]),
    );
  }
}

/** workspace_id → desired_config of the read model. */
export async function readModel(db: Session): Promise<Map<number, unknown>> {
  const { rows } = await db.query('SELECT workspace_id, desired_config FROM workspace_agentk_states ORDER BY workspace_id');
  return new Map(rows.map((row) => [Number(row.workspace_id), row.desired_config]));
}

/** The folded states (version, deleted, row), without their positions: comparable across topics. */
export interface FoldedState {
  id: number;
  version: string;
  deleted: boolean;
  workspace: unknown;
  processed_devfile: string | null;
}

export async function foldedStates(db: Session): Promise<FoldedState[]> {
  const { rows } = await db.query<FoldedState>('SELECT workspace_id::int AS id, version::text, deleted, workspace, processed_devfile FROM rebuild_projection.workspace_states ORDER BY workspace_id');
  return rows;
}
