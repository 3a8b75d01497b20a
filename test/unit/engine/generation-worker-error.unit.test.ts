import { describe, expect, it } from 'vitest';
import { GenerationWorkerError } from '../../../src/engine/generation/worker-pool.js';
import { isTransient } from '../../../src/engine/retry.js';

describe('GenerationWorkerError', () => {
  it('names the worker and the first ten workspaces of its chunk, counting the rest', () => {
    const ids = Array.from({ length: 64 }, (_, i) => 101 + i);
    expect(new GenerationWorkerError('generation worker 2 of 4', ids, 'exited (code 1)').message).toBe(
      'generation worker 2 of 4 exited (code 1) while generating workspaces 101, 102, 103, 104, 105, 106, 107, 108, 109, 110 and 54 more: a bug in generation, not retried',
    );
    expect(new GenerationWorkerError('generation worker 1 of 2', [], 'exited (code 0)').message).toBe(
      'generation worker 1 of 2 exited (code 0) while idle: a bug in generation, not retried',
    );
  });

  it('is never retried, whatever killed the worker: a retry would meet the same stopped pool', () => {
    const causes = [
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      Object.assign(new Error('Worker terminated due to reaching memory limit: JS heap out of memory'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }),
      Object.assign(new Error("Cannot find module '/app/dist/src/engine/generation/generation-worker.js'"), { code: 'ERR_MODULE_NOT_FOUND' }),
      undefined,
    ];
    for (const cause of causes) {
      const error = new GenerationWorkerError('generation worker 1 of 2', [7], 'died', cause);
      expect(error.retriable).toBe(false);
      expect(isTransient(error)).toBe(false);
    }
  });
});
