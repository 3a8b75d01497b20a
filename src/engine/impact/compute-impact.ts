/**
 * The impact of switching a rebuild's shadow in, read from the database on the caller's connection (inside
 * its transaction: a REPEATABLE READ snapshot for `--preview`, the switch transaction itself for the guards).
 */
import type { Session } from '../../sink/postgres/database.js';
import { readShadowLiveRows, readShadowLiveWindow, type StoredRow } from '../../sink/postgres/shadow-live-diff.js';
import { jsonDiff } from '../diff/json-diff.js';
import { classifyWorkspace, objectKey, summarizeObject, summarizeRow, type WorkspaceImpact } from './classify.js';
import { DEFAULT_SAMPLE_SIZE, ImpactAccumulator, type ClassifiedPair, type Impact } from './impact.js';

/** Workspaces classified by an earlier pass, with the row versions they were classified from (see below). */
export type ImpactCache = Map<number, { version: string; classified: ClassifiedPair }>;

export interface ComputeImpactOptions {
  /**
   * Reuse and fill: a pair whose live and shadow row versions are those cached is not summarized again. The
   * switch guards pass over the diff once without locks, then again inside the switch transaction, where
   * only the rows written in between (by the catch-up, a consumer, GitLab) cost a summary.
   */
  cache?: ImpactCache;
  /** Rows per window and table (keyset pages). Default 1000. */
  pageSize?: number;
  /** Workspaces kept for showing. Default 20. */
  sampleSize?: number;
  /** Fetch the shown workspaces' rows whole and name the JSON paths that differ, at most this many per object. Default: no paths. */
  maxPaths?: number;
}

export async function computeImpact(
  client: Session,
  rebuild: { id: number; shadow_projection: string },
  options: ComputeImpactOptions = {},
): Promise<Impact> {
  const accumulator = new ImpactAccumulator(options.sampleSize ?? DEFAULT_SAMPLE_SIZE);
  const cache = options.cache;
  const known = new Map([...(cache ?? [])].map(([id, entry]) => [id, entry.version]));
  let after = 0;
  for (;;) {
    const window = await readShadowLiveWindow(client, rebuild, after, options.pageSize ?? 1000, known);
    for (const { workspaceId, version, pair } of window.pairs) {
      if (!pair) {
        accumulator.addClassified(cache!.get(workspaceId)!.classified);
        continue;
      }
      const classified = accumulator.add(pair);
      if (cache && classified) cache.set(workspaceId, { version, classified });
    }
    accumulator.keep(window.kept);
    if (window.upTo === null) break;
    after = window.upTo;
  }
  const impact = accumulator.result();
  if (options.maxPaths === undefined || impact.sample.length === 0) return impact;
  const rows = await readShadowLiveRows(client, rebuild.id, impact.sample.map((w) => w.workspaceId));
  const maxPaths = options.maxPaths;
  return {
    ...impact,
    sample: impact.sample.map((w) => {
      const pair = rows.get(w.workspaceId);
      // New and removed rows: the side the switch does not write is the one it compares against (none).
      return pair ? withPaths(w, w.change === 'new' ? null : pair.live, w.change === 'removed' ? null : pair.shadow, maxPaths) : w;
    }),
  };
}

/**
 * `impact` with its objects described from the rows themselves: the same classification (from summaries
 * made of the JSON values), each changed object with the paths where it differs.
 */
export function withPaths(impact: WorkspaceImpact, live: StoredRow | null, shadow: StoredRow | null, maxPaths: number): WorkspaceImpact {
  const detailed = classifyWorkspace(
    impact.workspaceId,
    live && summarizeRow(live.projectId, live.desiredConfig),
    shadow && summarizeRow(shadow.projectId, shadow.desiredConfig),
  );
  if (!detailed) return impact;
  const objectsOf = (row: StoredRow | null) => {
    const values = row ? (Array.isArray(row.desiredConfig) ? row.desiredConfig : [row.desiredConfig]) : [];
    const map = new Map<string, unknown>();
    for (const value of values) {
      const key = objectKey(summarizeObject(value));
      if (!map.has(key)) map.set(key, value);
    }
    return map;
  };
  const before = objectsOf(live);
  const after = objectsOf(shadow);
  return {
    ...impact,
    objects: detailed.objects.map((o) => {
      if (o.change !== 'changed') return o;
      const diff = jsonDiff(before.get(objectKey(o)), after.get(objectKey(o)), { maxPaths });
      return { ...o, paths: diff.paths, pathsTotal: diff.total };
    }),
  };
}
