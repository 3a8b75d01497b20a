/**
 * Loads a workload's final state into a GitLab-shaped database: the tables of
 * schemas/gitlab/gitlab-schema.sql, one `workspaces_agent_configs` row per agent, a minimal `projects`
 * table (GitLab has one; the engine reads `projects.path` when it exists), and every workspace's final row,
 * streamed with COPY in chunks so memory stays flat.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { WorkspaceRow } from '../projections/agentk-states/events.js';
import { REPO_ROOT } from './environment.js';
import { benchAgents, planWorkspace, PROJECT_COUNT, projectPath, type DevfileSource, type WorkloadSpec } from './workload.js';

const CHUNK = 500;

/** One CSV field for COPY … (FORMAT csv): unquoted empty is NULL, everything else quoted when needed. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `"${text.replaceAll('"', '""')}"`;
}

export interface LoadedDatabase {
  /** Bytes of the workspaces rows as streamed to COPY (the snapshot's input size). */
  workspaceBytes: number;
  elapsedMs: number;
}

export async function loadGitlabDatabase(url: string, spec: WorkloadSpec, devfiles: boolean | DevfileSource = true): Promise<LoadedDatabase> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: url, application_name: 'rebuild-projection bench (load)' });
  await client.connect();
  try {
    await client.query(readFileSync(path.join(REPO_ROOT, 'schemas', 'gitlab', 'gitlab-schema.sql'), 'utf8'));
    await client.query('CREATE TABLE IF NOT EXISTS projects (id bigint PRIMARY KEY, name text NOT NULL, path text NOT NULL, namespace_id bigint NOT NULL)');
    await client.query(
      `INSERT INTO projects (id, name, path, namespace_id)
       SELECT id, path, path, 1 + id % 37 FROM unnest($1::bigint[], $2::text[]) AS t(id, path)`,
      [Array.from({ length: PROJECT_COUNT }, (_, i) => i + 1), Array.from({ length: PROJECT_COUNT }, (_, i) => projectPath(i + 1))],
    );
    const agents = benchAgents();
    for (const agent of agents) {
      const columns = ['id', ...Object.keys(agent.row)];
      const values = [agent.configId, ...Object.values(agent.row).map((v) => (typeof v === 'object' ? JSON.stringify(v) : v))];
      await client.query(
        `INSERT INTO workspaces_agent_configs (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        values,
      );
    }

    let workspaceBytes = 0;
    const columns = Object.keys(planWorkspace(spec, agents, 1, false).final) as (keyof WorkspaceRow)[];
    async function* rows(): AsyncGenerator<string> {
      for (let start = 1; start <= spec.n; start += CHUNK) {
        let text = '';
        for (let id = start; id < Math.min(spec.n + 1, start + CHUNK); id++) {
          const row = planWorkspace(spec, agents, id, devfiles).final;
          text += `${columns.map((column) => csvField(row[column])).join(',')}\n`;
        }
        workspaceBytes += Buffer.byteLength(text);
        yield text;
      }
    }
    await pipeline(Readable.from(rows()), client.query(copyFrom(`COPY workspaces (${columns.join(', ')}) FROM STDIN (FORMAT csv)`)));
    await client.query(`SELECT setval(pg_get_serial_sequence('workspaces', 'id'), $1)`, [spec.n]);
    await client.query(`SELECT setval(pg_get_serial_sequence('workspaces_agent_configs', 'id'), $1)`, [agents.length]);
    await client.query('VACUUM (ANALYZE) workspaces');
    await client.query('ANALYZE');
    await client.query('CHECKPOINT');
    return { workspaceBytes, elapsedMs: performance.now() - started };
  } finally {
    await client.end();
  }
}

/**
 * Makes the target as fresh as a new database for the next rebuild, keeping GitLab's tables: the
 * rebuilder's own schema dropped (the CLI migrates it again), the read model emptied, then a CHECKPOINT so
 * that the previous step's dirty pages are not flushed during the next measurement.
 */
export async function resetTarget(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('DROP SCHEMA IF EXISTS rebuild_projection CASCADE');
    await client.query('TRUNCATE workspace_agentk_states');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

export interface ReadModelSummary {
  rows: number;
  /** md5 over the rows' md5(desired_config::text), in workspace id order: equal sets of rows ⇔ equal sums. */
  checksum: string;
  deadLetters: number;
}

/** Summarizes a table shaped like workspace_agentk_states (jsonb text is canonical, so key order does not matter). */
export async function summarizeReadModel(url: string, table = 'workspace_agentk_states'): Promise<ReadModelSummary> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ rows: string; checksum: string | null }>(
      `SELECT count(*)::text AS rows, md5(string_agg(md5(desired_config::text), '' ORDER BY workspace_id)) AS checksum FROM ${table}`,
    );
    const exists = await client.query<{ table: string | null }>(`SELECT to_regclass('rebuild_projection.dead_letters')::text AS table`);
    const dead = exists.rows[0]?.table
      ? Number((await client.query<{ count: string }>('SELECT count(*)::text AS count FROM rebuild_projection.dead_letters')).rows[0]?.count ?? 0)
      : 0;
    return { rows: Number(rows[0]?.rows ?? 0), checksum: rows[0]?.checksum ?? '', deadLetters: dead };
  } finally {
    await client.end();
  }
}
