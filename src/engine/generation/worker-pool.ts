/**
 * Generation in worker threads (`--workers N`): a `project` call's jobs are split into chunks, queued in
 * call order, and each idle worker takes the next chunk. Several calls may be in flight (a rebuild generates
 * batch n+1 while batch n is written), so a worker that finishes one call's last chunk starts on the next
 * call's first: none waits while there is work. Results are put back in job order.
 *
 * States: running → (a worker dies) failed: every pending and later call rejects with that
 * GenerationWorkerError, the other workers are terminated; running | failed → (close) closed: pending and
 * later calls reject with GeneratorClosedError. No call is ever left pending.
 *
 * A worker is referenced (keeps the process alive) only while it holds a chunk, so idle workers never keep
 * the process alive or delay its exit; `close()` terminates them.
 */
import { Worker } from 'node:worker_threads';
import type { ProjectionResult } from '../../../projections/agentk-states/projection.js';
import { workspaceInputSchema, type WorkspaceInput } from '../../../projections/agentk-states/inputs.js';
import type { ChunkReply, ChunkRequest } from './generation-worker.js';
import { inThreadGenerator, type GenerationJob, type Generator } from './generator.js';

/**
 * Jobs per chunk, at most. Small enough that two calls' chunks interleave over the workers and a worker is
 * never left with a long tail; large enough that a message (~0.1 ms) is small against its generation.
 */
const MAX_CHUNK_JOBS = 64;
/**
 * A worker's young generation, in MB (V8's default is larger). Generation's garbage dies young, so a smaller
 * one costs no measurable CPU; measured on the bench workload (3 workers, 3,000 rows): about 50 MB of RSS per
 * worker instead of 69.
 */
const YOUNG_GENERATION_MB = 8;
/** Workspace ids named in a crash message; the rest are counted. */
const LISTED_IDS = 10;

/** The worker entry, next to this module once compiled (dist/src/engine/generation/): TypeScript sources cannot run in a worker. */
const WORKER_SCRIPT = new URL('./generation-worker.js', import.meta.url);

export interface GeneratorOptions {
  /** Generation threads; 1 (or fewer) is the calling thread. */
  workers: number;
  /** The worker entry (default generation-worker.js): tests substitute one that crashes. */
  script?: URL | undefined;
}

/** The generator's own columns: a folded state's row carries more (project_id, versions, …) that would be copied for nothing. */
const INPUT_COLUMNS = Object.keys(workspaceInputSchema.shape) as (keyof WorkspaceInput)[];

/** A generation worker died: a bug (the projection catches its own failures), so not retried. */
export class GenerationWorkerError extends Error {
  override readonly name = 'GenerationWorkerError';
  readonly retriable = false;
  constructor(
    /** e.g. `generation worker 2 of 4`. */
    readonly worker: string,
    /** The workspaces of the chunk it held (empty when it died idle). */
    readonly workspaceIds: readonly number[],
    how: string,
    cause?: unknown,
  ) {
    const listed = workspaceIds.slice(0, LISTED_IDS).join(', ');
    const more = workspaceIds.length > LISTED_IDS ? ` and ${workspaceIds.length - LISTED_IDS} more` : '';
    const during = workspaceIds.length === 0 ? 'while idle' : `while generating workspaces ${listed}${more}`;
    super(`${worker} ${how} ${during}: a bug in generation, not retried`, { cause });
  }
}

/** `project` after (or during) `close()`. */
export class GeneratorClosedError extends Error {
  override readonly name = 'GeneratorClosedError';
  readonly retriable = false;
}

interface Call {
  results: ProjectionResult[];
  remaining: number;
  resolve: (results: ProjectionResult[]) => void;
  reject: (error: Error) => void;
}

interface Chunk {
  call: Call;
  /** Index of its first job in the call. */
  offset: number;
  jobs: GenerationJob[];
}

interface Slot {
  name: string;
  worker: Worker;
  chunk: Chunk | undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Only what the generator reads crosses the thread boundary. */
function wireJob({ input, projectId }: GenerationJob): GenerationJob {
  const workspace = Object.fromEntries(INPUT_COLUMNS.map((column) => [column, input.workspace[column]])) as WorkspaceInput;
  return { input: { workspace, agentConfig: input.agentConfig, projectPath: input.projectPath }, projectId };
}

class WorkerPool implements Generator {
  private readonly slots: Slot[];
  private readonly queue: Chunk[] = [];
  private readonly pending = new Set<Call>();
  private stopped: Error | undefined;

  constructor(
    readonly workers: number,
    private readonly script: URL,
  ) {
    this.slots = Array.from({ length: workers }, (_, index) => this.start(`generation worker ${index + 1} of ${workers}`));
  }

  project(jobs: readonly GenerationJob[]): Promise<ProjectionResult[]> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (jobs.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const call: Call = { results: new Array<ProjectionResult>(jobs.length), remaining: jobs.length, resolve, reject };
      this.pending.add(call);
      const size = Math.max(1, Math.min(MAX_CHUNK_JOBS, Math.ceil(jobs.length / this.workers)));
      for (let offset = 0; offset < jobs.length; offset += size) {
        this.queue.push({ call, offset, jobs: jobs.slice(offset, offset + size).map(wireJob) });
      }
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.stop(this.stopped ?? new GeneratorClosedError('the generation workers were closed'));
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private start(name: string): Slot {
    const worker = new Worker(this.script, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    worker.unref();
    const slot: Slot = { name, worker, chunk: undefined };
    worker.on('message', (reply: ChunkReply) => this.done(slot, reply));
    worker.on('error', (error: unknown) => this.crashed(slot, `died of an uncaught ${describe(error)}`, error));
    worker.on('messageerror', (error) => this.crashed(slot, `sent a message that could not be read (${describe(error)})`, error));
    // After 'error', or alone (process.exit in the worker, terminate from outside).
    worker.on('exit', (code) => this.crashed(slot, `exited (code ${code})`));
    return slot;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      const chunk = slot.chunk === undefined ? this.queue.shift() : undefined;
      if (chunk === undefined) continue;
      slot.chunk = chunk;
      slot.worker.ref();
      const request: ChunkRequest = { jobs: chunk.jobs };
      try {
        slot.worker.postMessage(request);
      } catch (error) {
        this.crashed(slot, `could not be sent its chunk (${describe(error)})`, error);
        return;
      }
    }
  }

  private done(slot: Slot, reply: ChunkReply): void {
    const chunk = slot.chunk;
    if (chunk === undefined || reply.results.length !== chunk.jobs.length) {
      this.crashed(slot, `answered ${reply.results.length} results for ${chunk?.jobs.length ?? 'no'} jobs`);
      return;
    }
    slot.chunk = undefined;
    slot.worker.unref();
    const { call } = chunk;
    reply.results.forEach((result, index) => (call.results[chunk.offset + index] = result));
    call.remaining -= chunk.jobs.length;
    if (call.remaining === 0) {
      this.pending.delete(call);
      call.resolve(call.results);
    }
    this.dispatch();
  }

  private crashed(slot: Slot, how: string, cause?: unknown): void {
    if (this.stopped) return;
    const ids = slot.chunk?.jobs.map((job) => job.input.workspace.id) ?? [];
    this.stop(new GenerationWorkerError(slot.name, ids, how, cause));
    // The pool is unusable after a bug: the other workers must not keep running (or keep the process alive).
    for (const other of this.slots) void other.worker.terminate();
  }

  private stop(error: Error): void {
    this.stopped ??= error;
    this.queue.length = 0;
    for (const call of this.pending) call.reject(error);
    this.pending.clear();
    for (const slot of this.slots) slot.chunk = undefined;
  }
}

/** `workers` threads generating; 1 (or fewer) generates on the calling thread, without a pool. */
export function createGenerator(options: GeneratorOptions): Generator {
  return options.workers <= 1 ? inThreadGenerator : new WorkerPool(options.workers, options.script ?? WORKER_SCRIPT);
}

/** Runs `work` with a generator of `options.workers` threads, closed however `work` ends. */
export async function withGenerator<T>(options: GeneratorOptions, work: (generator: Generator) => Promise<T>): Promise<T> {
  const generator = createGenerator(options);
  try {
    return await work(generator);
  } finally {
    await generator.close();
  }
}
