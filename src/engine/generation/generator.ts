/**
 * Where the pure projection runs: on this thread, or in a pool of worker threads (`--workers N`). The
 * engine hands it the generator's inputs and gets each workspace's row or failure back, in order.
 */
import type { GeneratorInput } from '../../../projections/agentk-states/inputs.js';
import { projectAgentkState, type ProjectionResult } from '../../../projections/agentk-states/projection.js';

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

/** One job through the pure projection: the same code on this thread and in a worker. */
export function generateRow(job: GenerationJob): ProjectionResult {
  return projectAgentkState(job.input, job.projectId);
}

/** Generation on the calling thread: --explain, a dead-letter retry, and the default (a follow batch's too, unless --workers N). */
export const inThreadGenerator: Generator = {
  workers: 1,
  project: async (jobs) => jobs.map(generateRow),
  close: async () => undefined,
};
