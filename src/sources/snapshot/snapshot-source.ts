/**
 * Reads GitLab's `workspaces` table as one consistent snapshot: a REPEATABLE READ, READ ONLY transaction
 * on a dedicated connection, keyset-paginated by id (`WHERE id > $last ORDER BY id LIMIT n`: every page
 * is an index range scan, where OFFSET would rescan all earlier rows). Each record carries its agent config
 * resolution and, when the source database has `projects`, the project path (spec §1.3).
 */
import type { Session } from '../../sink/postgres/database.js';
import { z } from 'zod';
import {
  AgentConfigResolver,
  type AgentConfigMode,
  type AgentConfigResolution,
} from '../../gitlab/agent-config-resolver.js';
import { loadProjectPaths } from '../../gitlab/project-paths.js';
import { bigintId, workspaceInputSchema, type WorkspaceInput } from '../../../projections/agentk-states/inputs.js';

export interface SnapshotRecord {
  workspaceId: number;
  /** The parsed row, or why it could not be parsed (then it is dead-lettered). */
  workspace: { ok: true; value: WorkspaceInput } | { ok: false; path: string; message: string };
  projectId: number;
  projectPath: string | undefined;
  agentConfig: AgentConfigResolution;
  /** The raw devfile, kept for dead-letter excerpts. */
  processedDevfile: string | null;
  /** Every column of the row as pg returned it (a snapshot handed off to Kafka folds from it). */
  row: Record<string, unknown>;
}

/**
 * Always the whole table: a resumed rebuild re-reads every row too, because no column tells which rows changed
 * since an interrupted snapshot (Rails sets `updated_at` before COMMIT, so a change committed after that
 * snapshot can carry an older `updated_at`). The rebuild then writes only the rows whose content differs.
 */
export interface SnapshotOptions {
  batchSize: number;
  agentConfigMode: AgentConfigMode;
}

const snapshotRowSchema = z.object({
  id: bigintId,
  project_id: bigintId,
  cluster_agent_id: bigintId,
  workspaces_agent_config_version: z.number().int(),
});

export class WorkspaceSnapshot {
  private constructor(
    private readonly client: Session,
    private readonly resolver: AgentConfigResolver,
    /** Number of workspaces in the snapshot, for progress reporting. */
    readonly total: number,
    /** The time the snapshot shows (its transaction's start). */
    readonly takenAt: Date,
    private readonly options: SnapshotOptions,
  ) {}

  /** Opens the snapshot transaction on `client`, which must not be used for anything else until `close`. */
  static async open(client: Session, options: SnapshotOptions): Promise<WorkspaceSnapshot> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      // now() is the transaction's start: the moment this snapshot shows.
      const { rows } = await client.query<{ total: string; taken_at: Date }>(
        'SELECT count(*)::text AS total, now() AS taken_at FROM workspaces',
      );
      return new WorkspaceSnapshot(
        client,
        new AgentConfigResolver(client, options.agentConfigMode),
        Number(rows[0]?.total ?? 0),
        rows[0]!.taken_at,
        options,
      );
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  }

  /** Yields the snapshot's workspaces in id order, `batchSize` at a time. */
  async *batches(): AsyncGenerator<SnapshotRecord[]> {
    let lastId = 0;
    for (;;) {
      const { rows } = await this.client.query<Record<string, unknown>>('SELECT * FROM workspaces WHERE id > $1 ORDER BY id LIMIT $2', [
        lastId,
        this.options.batchSize,
      ]);
      if (rows.length === 0) return;
      const records = await this.toRecords(rows);
      yield records;
      lastId = records[records.length - 1]!.workspaceId;
      if (rows.length < this.options.batchSize) return;
    }
  }

  /** The snapshot's records of these workspaces (those that exist), in id order; one batch, so pass at most `batchSize`. */
  async recordsOf(workspaceIds: readonly number[]): Promise<SnapshotRecord[]> {
    const { rows } = await this.client.query<Record<string, unknown>>('SELECT * FROM workspaces WHERE id = ANY($1::bigint[]) ORDER BY id', [
      [...workspaceIds],
    ]);
    return this.toRecords(rows);
  }

  private async toRecords(rows: Record<string, unknown>[]): Promise<SnapshotRecord[]> {
    const keys = rows.map((row) => snapshotRowSchema.parse(row));
    await this.resolver.preload(keys.map((key) => key.cluster_agent_id));
    const projectPaths = await loadProjectPaths(this.client, keys.map((key) => key.project_id));
    return rows.map((row, index) => this.toRecord(row, keys[index]!, projectPaths));
  }

  private toRecord(
    row: Record<string, unknown>,
    key: z.infer<typeof snapshotRowSchema>,
    projectPaths: ReadonlyMap<number, string>,
  ): SnapshotRecord {
    const parsed = workspaceInputSchema.safeParse(row);
    const processedDevfile = typeof row.processed_devfile === 'string' ? row.processed_devfile : null;
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    return {
      workspaceId: key.id,
      workspace: parsed.success
        ? { ok: true, value: parsed.data }
        : { ok: false, path: issue?.path.map(String).join('.') ?? '', message: issue?.message ?? 'invalid row' },
      projectId: key.project_id,
      projectPath: projectPaths.get(key.project_id),
      agentConfig: this.resolver.resolve(key.cluster_agent_id, key.workspaces_agent_config_version),
      processedDevfile,
      row,
    };
  }

  /** Ends the read-only transaction. */
  async close(): Promise<void> {
    await this.client.query('COMMIT');
  }
}
