/**
 * `--explain WORKSPACE_ID`: everything the rebuilder knows about one workspace, read in one REPEATABLE READ
 * READ ONLY snapshot: its folded state with the origin of each kept version, its parked updates, its dead
 * letters, the agent config it is pinned to and why, its live row, and how that row differs from what the
 * generator makes now, from the folded state and from GitLab's `workspaces` row (the snapshot rebuild's own
 * path, as `--verify` uses). Writes nothing and runs no migration.
 */
import type { Session } from '../sink/postgres/database.js';
import { emptyFold, type EventPosition, type OversizedDevfile, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { AgentkStateRow } from '../../projections/agentk-states/projection.js';
import { workspaceRowSchema, type WorkspaceRow } from '../../projections/agentk-states/events.js';
import { AgentConfigResolver, type AgentConfigFailure, type AgentConfigMode, type AgentConfigSource } from '../gitlab/agent-config-resolver.js';
import { readWorkspaceDeadLetters, type DeadLetter, type WorkspaceDeadLetter } from '../sink/postgres/dead-letters.js';
import { readAppliedMigrations } from '../sink/postgres/migrate.js';
import { readAgentkStatesOf, type StoredAgentkState } from '../sink/postgres/read-agentk-states.js';
import { readFold, readOrigins, type StoredOrigins } from '../sink/postgres/workspace-states.js';
import { WorkspaceSnapshot, type SnapshotRecord } from '../sources/snapshot/snapshot-source.js';
import { DEFAULT_MAX_DIFF_PATHS, jsonDiff, type JsonDiff } from './diff/json-diff.js';
import { projectFolds } from './project-folds.js';
import { projectSnapshotBatch } from './snapshot-backfill.js';
import { diffAgentkState } from './verify.js';

/**
 * The migration that moved the version origins into the folded states' rows (015; 009 recorded them first):
 * older bookkeeping cannot be explained (run any other mode once to migrate).
 */
const ORIGINS_MIGRATION = 15;

/** At most this many dead letters are read; the count stays exact. */
export const EXPLAIN_MAX_DEAD_LETTERS = 20;

export class UnknownWorkspaceError extends Error {
  override readonly name = 'UnknownWorkspaceError';
}

export class BookkeepingOutdatedError extends Error {
  override readonly name = 'BookkeepingOutdatedError';
}

/** How a generated row compares with the live one; or why nothing could be generated. */
export type Generated =
  | { ok: true; liveRow: 'equal' | 'differing' | 'missing'; diff: JsonDiff }
  | { ok: false; kind: string; path: string | undefined; message: string };

export type AgentConfigPin =
  | { clusterAgentId: number; pinnedVersion: number; from: 'event' }
  | { clusterAgentId: number; pinnedVersion: number; from: 'gitlab'; source: AgentConfigSource }
  | { clusterAgentId: number; pinnedVersion: number; from: 'gitlab'; failure: AgentConfigFailure };

export interface ExplainReport {
  workspaceId: number;
  agentConfigMode: AgentConfigMode;
  /** Null: this projection has no folded state of the workspace (never consumed, or a snapshot rebuild without Kafka). */
  folded: {
    version: number;
    deleted: boolean;
    offsets: Record<string, string>;
    oversizedDevfile: OversizedDevfile | null;
  } | null;
  origins: StoredOrigins;
  parked: { version: number; position: EventPosition }[];
  deadLetters: { letters: WorkspaceDeadLetter[]; total: number };
  /** The pin of the workspace row generation uses: the live folded state's, else GitLab's row's; null when neither exists. */
  agentConfig: AgentConfigPin | null;
  liveRow: { projectId: number; updatedAt: Date } | null;
  inGitlab: boolean;
  /** What the generator makes now from the live folded state; null when there is none (absent or deleted). */
  fromFolded: Generated | null;
  /** What it makes now from GitLab's `workspaces` row; null when the workspace is not there. */
  fromGitlab: Generated | null;
  /** The `workspaces` columns where the live folded state and GitLab's row disagree; null unless both exist. */
  foldedVsGitlab: JsonDiff | null;
}

export interface ExplainOptions {
  projection: string;
  workspaceId: number;
  agentConfigMode: AgentConfigMode;
}

/** Explains on `client`, a dedicated connection it holds in one read-only transaction. */
export async function explainWorkspace(client: Session, options: ExplainOptions): Promise<ExplainReport> {
  const snapshot = await WorkspaceSnapshot.open(client, { batchSize: 1, agentConfigMode: options.agentConfigMode });
  let report: ExplainReport;
  try {
    report = await explainIn(client, snapshot, options);
  } catch (error) {
    // The first error is the one to report, not a COMMIT on a broken connection.
    await snapshot.close().catch(() => undefined);
    throw error;
  }
  await snapshot.close();
  return report;
}

async function explainIn(client: Session, snapshot: WorkspaceSnapshot, options: ExplainOptions): Promise<ExplainReport> {
  const { projection, workspaceId, agentConfigMode } = options;
  const bookkeeping = await readBookkeeping(client, projection, workspaceId);
  const { fold } = bookkeeping;
  const [stored] = await readAgentkStatesOf(client, [workspaceId]);
  const [record] = await snapshot.recordsOf([workspaceId]);
  const state = fold.state;
  if (state === undefined && fold.parked.length === 0 && bookkeeping.deadLetters.total === 0 && stored === undefined && record === undefined) {
    throw new UnknownWorkspaceError(
      `workspace ${workspaceId} is unknown: no folded state, parked update or dead letter, no workspace_agentk_states row, no workspaces row`,
    );
  }
  const liveFold = state && !state.deleted && state.workspace ? fold : undefined;
  const parsedRow = record ? workspaceRowSchema.safeParse(record.row) : undefined;
  const gitlabRow = parsedRow?.success ? parsedRow.data : undefined;
  return {
    workspaceId,
    agentConfigMode,
    folded: state ? { version: state.version, deleted: state.deleted, offsets: state.offsets, oversizedDevfile: state.oversizedDevfile } : null,
    origins: bookkeeping.origins,
    parked: fold.parked.map(({ version, position }) => ({ version, position })),
    deadLetters: bookkeeping.deadLetters,
    agentConfig: await agentConfigPin(client, agentConfigMode, liveFold, record && gitlabRow ? { record, row: gitlabRow } : undefined),
    liveRow: stored ? { projectId: stored.projectId, updatedAt: stored.updatedAt } : null,
    inGitlab: record !== undefined,
    fromFolded: liveFold ? compare(await projectFolds(client, new Map([[workspaceId, liveFold]]), agentConfigMode), stored) : null,
    fromGitlab: record ? compare(await projectSnapshotBatch([record]), stored) : null,
    // Through JSON, as the rows are stored: timestamps compare as their ISO text.
    foldedVsGitlab:
      liveFold?.state?.workspace && gitlabRow
        ? jsonDiff(JSON.parse(JSON.stringify(gitlabRow)), JSON.parse(JSON.stringify(liveFold.state.workspace)), { maxPaths: DEFAULT_MAX_DIFF_PATHS })
        : null,
  };
}

/** Our bookkeeping of the workspace; none at all when our schema was never created in this database. */
async function readBookkeeping(client: Session, projection: string, workspaceId: number) {
  const applied = await readAppliedMigrations(client);
  if (applied === undefined) {
    return { fold: emptyFold(), origins: { origins: [], dropped: 0 }, deadLetters: { letters: [], total: 0 } };
  }
  if (!applied.has(ORIGINS_MIGRATION)) {
    throw new BookkeepingOutdatedError(
      `the rebuild_projection schema predates migration ${String(ORIGINS_MIGRATION).padStart(3, '0')} (version origins): a writing run migrates it (e.g. rebuild-projection agentk-states --from-checkpoint)`,
    );
  }
  return {
    fold: await readFold(client, projection, workspaceId),
    origins: await readOrigins(client, projection, workspaceId),
    deadLetters: await readWorkspaceDeadLetters(client, projection, workspaceId, EXPLAIN_MAX_DEAD_LETTERS),
  };
}

function compare(projected: { rows: AgentkStateRow[]; deadLetters: DeadLetter[] }, stored: StoredAgentkState | undefined): Generated {
  const [row] = projected.rows;
  if (row === undefined) {
    // One workspace in, so no row means exactly one failure out.
    const failure = projected.deadLetters[0]!;
    return { ok: false, kind: failure.errorKind, path: failure.errorPath, message: failure.message };
  }
  if (stored === undefined) return { ok: true, liveRow: 'missing', diff: { paths: [], total: 0 } };
  const diff = diffAgentkState(row, stored, DEFAULT_MAX_DIFF_PATHS);
  return { ok: true, liveRow: diff.total === 0 ? 'equal' : 'differing', diff };
}

/** The agent config generation uses, and why: carried by the create event, or resolved from GitLab's tables. */
async function agentConfigPin(
  client: Session,
  mode: AgentConfigMode,
  liveFold: WorkspaceFold | undefined,
  gitlab: { record: SnapshotRecord; row: WorkspaceRow } | undefined,
): Promise<AgentConfigPin | null> {
  const workspace = liveFold?.state?.workspace;
  if (workspace) {
    const pin = { clusterAgentId: workspace.cluster_agent_id, pinnedVersion: workspace.workspaces_agent_config_version };
    if (liveFold?.state?.agentConfig) return { ...pin, from: 'event' };
    const resolver = new AgentConfigResolver(client, mode);
    await resolver.preload([pin.clusterAgentId]);
    const resolved = resolver.resolve(pin.clusterAgentId, pin.pinnedVersion);
    return resolved.ok ? { ...pin, from: 'gitlab', source: resolved.source } : { ...pin, from: 'gitlab', failure: resolved.failure };
  }
  if (!gitlab) return null;
  const pin = { clusterAgentId: gitlab.row.cluster_agent_id, pinnedVersion: gitlab.row.workspaces_agent_config_version };
  const resolved = gitlab.record.agentConfig;
  return resolved.ok ? { ...pin, from: 'gitlab', source: resolved.source } : { ...pin, from: 'gitlab', failure: resolved.failure };
}

/** What an operator should look at, one phrase each; none means the workspace is projected as it should be. */
export function explainProblems(report: ExplainReport): string[] {
  const problems: string[] = [];
  if (report.deadLetters.total > 0) problems.push(`${report.deadLetters.total} dead letters`);
  if (report.parked.length > 0 && (report.folded === null || report.folded.deleted)) {
    problems.push(`${report.parked.length} parked updates wait for the workspace's create`);
  }
  const generated = (what: string, g: Generated | null) => {
    if (g === null) return;
    if (!g.ok) problems.push(`${what} does not generate a row (${g.kind})`);
    else if (g.liveRow === 'missing') problems.push(`no live row, though ${what} generates one`);
    else if (g.liveRow === 'differing') problems.push(`the live row differs from what ${what} generates (${g.diff.total} paths)`);
  };
  generated('the folded state', report.fromFolded);
  generated("GitLab's workspaces row", report.fromGitlab);
  if (report.foldedVsGitlab && report.foldedVsGitlab.total > 0) {
    problems.push(`the folded state and GitLab's workspaces row disagree (${report.foldedVsGitlab.total} columns)`);
  }
  if (report.folded?.deleted && report.liveRow) problems.push('the folded state is deleted, but a live row exists');
  return problems;
}
