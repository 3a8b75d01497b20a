import { describe, expect, it } from 'vitest';
import { isTransient, retryTransient } from '../../../src/engine/retry.js';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('transient failure classification', () => {
  it.each(['08006', '08001', '57P01', '53300', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET'])('retries %s', (code) => {
    expect(isTransient(pgError(code))).toBe(true);
  });

  it.each(['23505', '22P02', '42P01', '23503', '53200'])('does not retry data or schema errors such as %s', (code) => {
    expect(isTransient(pgError(code))).toBe(false);
  });

  it("recognises node-postgres's dropped connection and a transient cause", () => {
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransient(new Error('wrapped', { cause: pgError('08006') }))).toBe(true);
    expect(isTransient(new Error('plain bug'))).toBe(false);
  });
});

describe('retryTransient', () => {
  it('retries a transient failure until it succeeds, with growing delays', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await retryTransient(
      async () => {
        calls++;
        if (calls < 3) throw pgError('08006');
        return 'done';
      },
      { initialDelayMs: 1, onRetry: (_e, _a, delay) => delays.push(delay) },
    );
    expect(result).toBe('done');
    expect(delays).toEqual([1, 2]);
  });

  it('rethrows a permanent failure at once', async () => {
    let calls = 0;
    await expect(
      retryTransient(async () => {
        calls++;
        throw pgError('23505');
      }),
    ).rejects.toThrow('pg 23505');
    expect(calls).toBe(1);
  });
});
