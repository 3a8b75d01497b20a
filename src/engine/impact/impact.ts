/**
 * The impact of a whole switch, accumulated one changed row at a time (in workspace id order): counts per
 * kind of change, a bounded sample worth showing an operator, and the fingerprint of the exact diff. Pure.
 *
 * The fingerprint is a SHA-256 over, for every row the switch would change, the workspace id and the digests
 * of its live row and its shadow row (or "-" for no row), in id order. It covers both sides: a --follow
 * consumer or GitLab moving the live table since the preview changes it as surely as a moved shadow does,
 * and two identical diffs (same rows before, same rows after) always give the same fingerprint.
 */
import { createHash, type Hash } from 'node:crypto';
import { canonicalJson, classifyWorkspace, type RowSummary, type WorkspaceChange, type WorkspaceImpact } from './classify.js';

/** A row summary with the digest of the row itself (`project_id` and `desired_config`). */
export interface DigestedRow extends RowSummary {
  digest: string;
}

/** One workspace whose live row and shadow row differ (null: no row on that side). */
export interface RowPair {
  workspaceId: number;
  live: DigestedRow | null;
  shadow: DigestedRow | null;
}

/** What the accumulator keeps of a row pair: its classification and the digests the fingerprint covers. */
export interface ClassifiedPair {
  impact: WorkspaceImpact;
  liveDigest: string | null;
  shadowDigest: string | null;
}

export interface ImpactCounts {
  /** Workspaces whose row would change: the sum of the six kinds below. */
  workspaces: number;
  restart: number;
  /** Of `restart`: pods running now (live replicas ≥ 1), what --max-restarts counts. */
  restartRunning: number;
  start: number;
  stop: number;
  none: number;
  new: number;
  removed: number;
}

export interface Impact {
  counts: ImpactCounts;
  /** Live rows the shadow has no row for and did not see deleted: the switch keeps them (not part of the diff). */
  kept: number;
  /** Hex SHA-256 of the exact diff (see the header). */
  fingerprint: string;
  /** At most `sampleSize` workspaces, the most disruptive first: running restarts, restarts, stops, starts, removed, new, no effect; by id within each. */
  sample: WorkspaceImpact[];
}

export const FINGERPRINT_FORMAT = 'rebuild-projection agentk-states impact v1';

/** Hex SHA-256 of one row as the fingerprint sees it, for rows summarized from JSON (tests, tools). */
export function rowDigest(projectId: number, desiredConfig: unknown): string {
  return createHash('sha256').update(`${projectId} ${canonicalJson(desiredConfig)}`).digest('hex');
}

export class ImpactFingerprint {
  readonly #hash: Hash = createHash('sha256').update(`${FINGERPRINT_FORMAT}\n`);
  #last = -Infinity;

  add(workspaceId: number, liveDigest: string | null, shadowDigest: string | null): void {
    // The same diff must give the same text: pages arrive in id order, and each workspace once.
    if (!(workspaceId > this.#last)) throw new Error(`fingerprint: workspace ${workspaceId} after ${this.#last} (rows must come in ascending id order)`);
    this.#last = workspaceId;
    this.#hash.update(`${workspaceId} ${liveDigest ?? '-'} ${shadowDigest ?? '-'}\n`);
  }

  value(): string {
    return this.#hash.copy().digest('hex');
  }
}

/** Showing order: the most disruptive kinds first. */
const SAMPLE_ORDER: readonly string[] = ['restart-running', 'restart', 'stop', 'start', 'removed', 'new', 'none'];
const sampleBucket = (impact: WorkspaceImpact): string => (impact.change === 'restart' && impact.running ? 'restart-running' : impact.change);

export const DEFAULT_SAMPLE_SIZE = 20;

export class ImpactAccumulator {
  readonly #fingerprint = new ImpactFingerprint();
  readonly #counts: ImpactCounts = { workspaces: 0, restart: 0, restartRunning: 0, start: 0, stop: 0, none: 0, new: 0, removed: 0 };
  readonly #buckets = new Map<string, WorkspaceImpact[]>(SAMPLE_ORDER.map((bucket) => [bucket, []]));
  #kept = 0;

  constructor(readonly sampleSize: number = DEFAULT_SAMPLE_SIZE) {}

  /** A workspace whose rows differ; pairs whose rows are equal (digest and all) are ignored, as the switch ignores them. */
  add(pair: RowPair): ClassifiedPair | undefined {
    if (pair.live && pair.shadow && pair.live.digest === pair.shadow.digest) return undefined;
    const impact = classifyWorkspace(pair.workspaceId, pair.live, pair.shadow);
    // Rows the switch would change always differ in some object, its order or project_id; were they only to
    // differ in a digest collision, they still count (as no effect), so counts and fingerprint stay whole.
    const classified: ClassifiedPair = {
      impact: impact ?? { workspaceId: pair.workspaceId, change: 'none', running: false, objects: [] },
      liveDigest: pair.live?.digest ?? null,
      shadowDigest: pair.shadow?.digest ?? null,
    };
    this.addClassified(classified);
    return classified;
  }

  /** A workspace classified before (the same row versions, see compute-impact.ts), in id order like `add`. */
  addClassified({ impact, liveDigest, shadowDigest }: ClassifiedPair): void {
    this.#fingerprint.add(impact.workspaceId, liveDigest, shadowDigest);
    this.#counts.workspaces++;
    this.#counts[impact.change satisfies WorkspaceChange]++;
    if (impact.running) this.#counts.restartRunning++;
    const bucket = this.#buckets.get(sampleBucket(impact))!;
    if (bucket.length < this.sampleSize) bucket.push(impact);
  }

  keep(rows: number): void {
    this.#kept += rows;
  }

  result(): Impact {
    return {
      counts: { ...this.#counts },
      kept: this.#kept,
      fingerprint: this.#fingerprint.value(),
      sample: SAMPLE_ORDER.flatMap((bucket) => this.#buckets.get(bucket)!).slice(0, this.sampleSize),
    };
  }
}
