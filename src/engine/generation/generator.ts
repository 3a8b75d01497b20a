/**
 * Where the pure projection runs: on this thread, or in a pool of worker threads (`--workers N`). The
 * engine hands it the generator's inputs and gets each workspace's row or failure back, in order.
 */
import { jsonTextDigest } from '../../../projections/agentk-states/jsonb-digest.js';
import type { GeneratorInput } from '../../../projections/agentk-states/inputs.js';
import { projectAgentkState, type ProjectionResult } from '../../../projections/agentk-states/projection.js';

export interface GenerationJob {
  input: GeneratorInput;
  projectId: number;
  /**
   * Also compute the row's `desiredConfigDigest`, where it is generated (in a worker with `--workers N`): for
   * a rebuild's page, whose sink compares it with the workspace's live row. Measured at N = 20,000: computed by
   * the sink on the main thread, the digest took about 4 s of its 20 s busy. Default false: only a row that has
   * a live row to be compared with needs one (not a first install's, not a follow batch's).
   */
  digest?: boolean | undefined;
}

export interface Generator {
  /** Threads generating: 1 is this thread. */
  readonly workers: number;
  /** One result per job, in the jobs' order. */
  project(jobs: readonly GenerationJob[]): Promise<ProjectionResult[]>;
  close(): Promise<void>;
}

/** One job through the pure projection, with its row's digest when asked: the same code on this thread and in a worker. */
export function generateRow(job: GenerationJob): ProjectionResult {
  const result = projectAgentkState(job.input, job.projectId);
  if (!job.digest || !result.ok) return result;
  const digest = jsonTextDigest(result.row.desiredConfigJson);
  return { ok: true, row: { ...result.row, desiredConfigDigest: digest ?? null } };
}

/** Generation on the calling thread: --explain, a dead-letter retry, and the default (a follow batch's too, unless --workers N). */
export const inThreadGenerator: Generator = {
  workers: 1,
  project: async (jobs) => jobs.map(generateRow),
  close: async () => undefined,
};
