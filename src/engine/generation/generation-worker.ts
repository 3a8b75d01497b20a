/**
 * A generation worker thread (started by worker-pool.ts): runs the pure projection (generator.ts
 * `generateRow`) on each job of a chunk and posts back the results, in the chunk's order. Everything outside
 * `projectAgentkState`'s own try (a message it cannot read, an out-of-memory) ends the thread, and the pool
 * reports that as a crash.
 */
import { parentPort } from 'node:worker_threads';
import type { ProjectionResult } from '../../../projections/agentk-states/projection.js';
import { generateRow, type GenerationJob } from './generator.js';

/** Main thread → worker: one chunk of a `project` call. */
export interface ChunkRequest {
  jobs: GenerationJob[];
}

/** Worker → main thread: one result per job of the chunk, in its order. */
export interface ChunkReply {
  results: ProjectionResult[];
}

if (parentPort === null) throw new Error('generation-worker.js runs in a worker thread started by worker-pool.ts, not on its own');
const port = parentPort;
// Not parsed again with zod: the jobs are the engine's own already-validated inputs, structured-cloned.
port.on('message', ({ jobs }: ChunkRequest) => {
  const reply: ChunkReply = { results: jobs.map(generateRow) };
  port.postMessage(reply);
});
