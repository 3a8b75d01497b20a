/**
 * Where the pure projection runs: on this thread, or in a pool of worker threads (`--workers N`). The
 * engine hands it the generator's inputs and gets each workspace's row or failure back, in order.
 */
import { projectAgentkState, type ProjectionResult } from '../../../projections/agentk-states/projection.js';
import type { GeneratorInput } from '../../../projections/agentk-states/inputs.js';

export interface GenerationJob {
  input: GeneratorInput;
  projectId: number;
}

export interface Generator {
  /** Threads generating: 1 is this thread. */
  readonly workers: number;
  /** One result per job, in the jobs' order. */
  project(jobs: readonly GenerationJob[]): Promise<ProjectionResult[]>;
  close(): Promise<void>;
}

/** Generation on the calling thread: small batches (a follow batch, --explain) and the default. */
export const inThreadGenerator: Generator = {
  workers: 1,
  project: async (jobs) => jobs.map((job) => projectAgentkState(job.input, job.projectId)),
  close: async () => undefined,
};
