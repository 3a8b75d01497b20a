/** Inserts GitLab-shaped rows with the columns a test does not care about filled with plausible values. */
import type { Session } from '../../src/sink/postgres/database.js';

export interface AgentConfigRow {
  cluster_agent_id: number;
  dns_zone?: string;
  [column: string]: unknown;
}

export async function insertAgentConfig(db: Session, row: AgentConfigRow): Promise<number> {
  const values: Record<string, unknown> = {
    created_at: '2025-09-01T00:00:00Z',
    updated_at: '2025-09-01T00:00:00Z',
    project_id: 1,
    enabled: true,
    dns_zone: 'test.workspace.me',
    ...row,
  };
  return insertRow(db, 'workspaces_agent_configs', values);
}

export interface WorkspaceRow {
  name: string;
  cluster_agent_id?: number;
  processed_devfile?: string | null;
  [column: string]: unknown;
}

export async function insertWorkspace(db: Session, row: WorkspaceRow): Promise<number> {
  const values: Record<string, unknown> = {
    created_at: '2025-09-03T13:08:01Z',
    updated_at: '2025-09-03T13:08:01Z',
    user_id: 60,
    project_id: 60,
    cluster_agent_id: 1,
    desired_state_updated_at: '2025-09-03T13:08:01Z',
    namespace: `${row.name}-namespace`,
    desired_state: 'Running',
    actual_state: 'Running',
    workspaces_agent_config_version: 0,
    desired_config_generator_version: 3,
    project_ref: 'main',
    ...row,
  };
  return insertRow(db, 'workspaces', values);
}

async function insertRow(db: Session, table: string, values: Record<string, unknown>): Promise<number> {
  const columns = Object.keys(values);
  const params = Object.values(values).map((value) =>
    value !== null && typeof value === 'object' ? JSON.stringify(value) : value,
  );
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
    params,
  );
  return Number(rows[0]?.id);
}
