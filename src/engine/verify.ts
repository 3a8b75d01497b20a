/**
 * `--verify`: is `workspace_agentk_states` what a snapshot rebuild would write? Recomputes every workspace's
 * row through the snapshot rebuild's own path (snapshot records, agent-config resolution, `projectSnapshotBatch`)
 * and compares it with the stored row, both read in one REPEATABLE READ READ ONLY snapshot, batch by batch.
 *
 * Each workspace id (in `workspaces`, or only in the table) lands in exactly one count:
 * - `failed`: its generation fails (the rebuild dead-letters it and keeps its row, so the row is not compared);
 * - `equal` / `differing`: it generates a row and has one (jsonb equality on desired_config and project_id);
 * - `missing`: it generates a row and has none;
 * - `extra`: a row whose workspace is not in the snapshot.
 * Writes nothing.
 */
import type { Session } from '../sink/postgres/database.js';
import type { AgentkStateRow } from '../../projections/agentk-states/projection.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import {
  readAgentkStatesOf,
  readAgentkStatesPage,
  sampleWorkspaceIds,
  type StoredAgentkState,
} from '../sink/postgres/read-agentk-states.js';
import { WorkspaceSnapshot, type SnapshotRecord } from '../sources/snapshot/snapshot-source.js';
import { DEFAULT_MAX_DIFF_PATHS, jsonDiff, type JsonDiff } from './diff/json-diff.js';
import type { Generator } from './generation/generator.js';
import { projectSnapshotBatch } from './snapshot-backfill.js';

export interface VerifyOptions {
  batchSize: number;
  agentConfigMode: AgentConfigMode;
  /** Check only this many workspace ids drawn at random. */
  sample?: number | undefined;
  /** At most this many drift and failure entries are listed (the counts stay exact). Default 20. */
  maxListed?: number;
  /** At most this many paths per differing row. Default 10. */
  maxPaths?: number;
  /** Stops between batches: the result would be incomplete, so verification fails. */
  signal?: AbortSignal | undefined;
  /** Where rows are generated (default: this thread). */
  generator?: Generator | undefined;
}

export type DriftKind = 'differing' | 'missing' | 'extra';

export interface Drift {
  workspaceId: number;
  kind: DriftKind;
  /** For `differing`: the first differing paths (`desired_config[3].spec.replicas`, `project_id`). */
  paths: string[];
  /** How many paths differ in all. */
  pathsTotal: number;
}

export interface VerifyFailure {
  workspaceId: number;
  kind: string;
  path: string | undefined;
  message: string;
}

export interface VerifyReport {
  /** Set when only a random sample was checked: its size and the number of workspaces in the snapshot. */
  sample: { size: number; ofWorkspaces: number } | undefined;
  /** Workspace ids checked: equal + differing + missing + extra + failed. */
  workspaces: number;
  equal: number;
  differing: number;
  missing: number;
  extra: number;
  failed: number;
  /** The first `maxListed` drifts, in id order. */
  drift: Drift[];
  /** The first `maxListed` failures, in id order. */
  failures: VerifyFailure[];
}

export class VerifyInterruptedError extends Error {
  override readonly name = 'VerifyInterruptedError';
}

export const DEFAULT_MAX_LISTED = 20;

export function isClean(report: VerifyReport): boolean {
  return report.differing + report.missing + report.extra === 0;
}

/** Where a stored row differs from a generated one: `project_id`, then `desired_config…` paths (at most `maxPaths`). */
export function diffAgentkState(expected: AgentkStateRow, stored: StoredAgentkState, maxPaths: number): JsonDiff {
  // Parsed from the very text a rebuild stores, so the comparison sees what jsonb would hold.
  const config = jsonDiff(JSON.parse(expected.desiredConfigJson), stored.desiredConfig, { root: 'desired_config', maxPaths });
  const project = expected.projectId === stored.projectId ? [] : ['project_id'];
  return { paths: [...project, ...config.paths].slice(0, maxPaths), total: config.total + project.length };
}

/** Accumulates counts and bounded lists. */
class Tally {
  readonly report: VerifyReport;

  constructor(
    private readonly maxListed: number,
    private readonly maxPaths: number,
  ) {
    this.report = { sample: undefined, workspaces: 0, equal: 0, differing: 0, missing: 0, extra: 0, failed: 0, drift: [], failures: [] };
  }

  failed(failure: VerifyFailure): void {
    this.report.workspaces++;
    this.report.failed++;
    if (this.report.failures.length < this.maxListed) this.report.failures.push(failure);
  }

  compared(expected: AgentkStateRow, stored: StoredAgentkState): void {
    this.report.workspaces++;
    const { paths, total } = diffAgentkState(expected, stored, this.maxPaths);
    if (total === 0) {
      this.report.equal++;
      return;
    }
    this.report.differing++;
    this.drift({ workspaceId: expected.workspaceId, kind: 'differing', paths, pathsTotal: total });
  }

  missingOrExtra(workspaceId: number, kind: 'missing' | 'extra'): void {
    this.report.workspaces++;
    this.report[kind]++;
    this.drift({ workspaceId, kind, paths: [], pathsTotal: 0 });
  }

  private drift(entry: Drift): void {
    if (this.report.drift.length < this.maxListed) this.report.drift.push(entry);
  }
}

/**
 * Classifies one batch: `records` are the snapshot's workspaces, `storedPages` yields every stored row whose
 * workspace id falls in the batch's id range (or set), in pages.
 */
async function checkBatch(
  records: readonly SnapshotRecord[],
  storedPages: AsyncIterable<StoredAgentkState[]>,
  tally: Tally,
  generator: Generator | undefined,
): Promise<void> {
  const projected = await projectSnapshotBatch(records, generator);
  const failedIds = new Set<number>();
  for (const letter of projected.deadLetters) {
    // Every snapshot failure names its workspace (only undecodable Kafka messages have none).
    const workspaceId = letter.workspaceId!;
    failedIds.add(workspaceId);
    tally.failed({ workspaceId, kind: letter.errorKind, path: letter.errorPath, message: letter.message });
  }
  const expected = new Map(projected.rows.map((row) => [row.workspaceId, row]));
  for await (const page of storedPages) {
    for (const stored of page) {
      if (failedIds.has(stored.workspaceId)) continue;
      const row = expected.get(stored.workspaceId);
      if (row === undefined) {
        // Neither generated nor failed: the workspace is not in the snapshot.
        tally.missingOrExtra(stored.workspaceId, 'extra');
        continue;
      }
      expected.delete(stored.workspaceId);
      tally.compared(row, stored);
    }
  }
  for (const row of expected.values()) tally.missingOrExtra(row.workspaceId, 'missing');
}

async function* rowsInRange(client: Session, after: number, upTo: number | null, limit: number): AsyncGenerator<StoredAgentkState[]> {
  for (let from = after; ; ) {
    const page = await readAgentkStatesPage(client, { after: from, upTo, limit });
    if (page.length > 0) yield page;
    if (page.length < limit) return;
    from = page[page.length - 1]!.workspaceId;
  }
}

async function* once<T>(read: () => Promise<T>): AsyncGenerator<T> {
  yield await read();
}

/** Runs the verification on `client`, a dedicated connection it holds in one read-only transaction. */
export async function verifyAgentkStates(client: Session, options: VerifyOptions): Promise<VerifyReport> {
  const tally = new Tally(options.maxListed ?? DEFAULT_MAX_LISTED, options.maxPaths ?? DEFAULT_MAX_DIFF_PATHS);
  const snapshot = await WorkspaceSnapshot.open(client, { batchSize: options.batchSize, agentConfigMode: options.agentConfigMode });
  try {
    await checkAll(client, snapshot, options, tally);
  } catch (error) {
    // The first error is the one to report, not a COMMIT on a broken connection.
    await snapshot.close().catch(() => undefined);
    throw error;
  }
  await snapshot.close();
  return tally.report;
}

async function checkAll(client: Session, snapshot: WorkspaceSnapshot, options: VerifyOptions, tally: Tally): Promise<void> {
  const { batchSize, signal, generator } = options;
  const notInterrupted = () => {
    if (signal?.aborted) throw new VerifyInterruptedError('verification interrupted before it checked every workspace: no result');
  };
  if (options.sample !== undefined) {
    const ids = await sampleWorkspaceIds(client, options.sample);
    tally.report.sample = { size: ids.length, ofWorkspaces: snapshot.total };
    for (let i = 0; i < ids.length; i += batchSize) {
      notInterrupted();
      const chunk = ids.slice(i, i + batchSize);
      await checkBatch(await snapshot.recordsOf(chunk), once(() => readAgentkStatesOf(client, chunk)), tally, generator);
    }
    return;
  }
  // Batch n covers the ids after batch n-1's last id up to its own last id; rows past the last workspace
  // (extras only) are read after the last batch.
  let after = 0;
  for await (const records of snapshot.batches()) {
    notInterrupted();
    const upTo = records[records.length - 1]!.workspaceId;
    await checkBatch(records, rowsInRange(client, after, upTo, batchSize), tally, generator);
    after = upTo;
  }
  notInterrupted();
  await checkBatch([], rowsInRange(client, after, null, batchSize), tally, generator);
}
