/**
 * Where the pure projection runs: on this thread, or in a pool of worker threads (`--workers N`). The
 * engine hands it the generator's inputs and gets each workspace's row or failure back, in order.
 */
import { jsonbDigest } from '../../../projections/agentk-states/jsonb-digest.js';
import type { GeneratorInput, JsonValue } from '../../../projections/agentk-states/inputs.js';
import { projectAgentkState, type ProjectionResult } from '../../../projections/agentk-states/projection.js';

export interface GenerationJob {
  input: GeneratorInput;
  projectId: number;
}

export interface ProjectOptions {
  /**
   * Also compute each row's `desiredConfigDigest`, where it is generated (in a worker with `--workers N`):
   * for a rebuild's page, which the shadow sink compares with the live rows. Measured at N = 20,000: computed
   * by the sink instead, the digest took about 4 s of a 20 s busy main thread. Default false: other sinks do
   * not compare digests, and a follow batch should not pay for one.
   */
  digests?: boolean | undefined;
}

export interface Generator {
  /** Threads generating: 1 is this thread. */
  readonly workers: number;
  /** One result per job, in the jobs' order. */
  project(jobs: readonly GenerationJob[], options?: ProjectOptions): Promise<ProjectionResult[]>;
  close(): Promise<void>;
}

/** One job through the pure projection, with its row's digest when asked: the same code on this thread and in a worker. */
export function generateRow(job: GenerationJob, digests: boolean): ProjectionResult {
  const result = projectAgentkState(job.input, job.projectId);
  if (!digests || !result.ok) return result;
  // The stored text parsed again rather than the generator's value: that value's type does not rule out what
  // JSON.stringify drops (an undefined property; exactOptionalPropertyTypes is off), which would change the digest.
  const digest = jsonbDigest(JSON.parse(result.row.desiredConfigJson) as JsonValue);
  return { ok: true, row: { ...result.row, desiredConfigDigest: digest ?? null } };
}

/** Generation on the calling thread: small batches (a follow batch, --explain) and the default. */
export const inThreadGenerator: Generator = {
  workers: 1,
  project: async (jobs, options) => jobs.map((job) => generateRow(job, options?.digests ?? false)),
  close: async () => undefined,
};
