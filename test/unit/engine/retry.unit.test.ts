import { describe, expect, it } from 'vitest';
import { asBatchFailure, BatchFailedError, backoffDelay, findBatchFailure, isTransient, retryTransient } from '../../../src/engine/retry.js';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('transient failure classification', () => {
  it.each(['08006', '08001', '57P01', '53300', '40001', '40P01', 'ECONNREFUSED', 'ECONNRESET'])('retries %s', (code) => {
    expect(isTransient(pgError(code))).toBe(true);
  });

  it.each(['57014', '55P03'])('retries statement and lock timeouts (%s)', (code) => {
    expect(isTransient(pgError(code))).toBe(true);
  });

  it("retries pg's connect timeout (`timeout expired`, no code): a database that stops answering during a failover", () => {
    expect(isTransient(new Error('timeout expired'))).toBe(true);
    expect(isTransient(new Error('statement: timeout expired while parsing'))).toBe(false);
  });

  it.each(['23505', '22P02', '42P01', '23503', '23514', '53200'])('does not retry data or schema errors such as %s', (code) => {
    expect(isTransient(pgError(code))).toBe(false);
  });

  it("retries a violation of GitLab's workspace foreign key (a race with a workspace's deletion), not of any other", () => {
    const race = Object.assign(pgError('23503'), { constraint: 'workspace_agentk_states_workspace_id_fkey' });
    const other = Object.assign(pgError('23503'), { constraint: 'some_other_fkey' });
    expect(isTransient(race)).toBe(true);
    expect(isTransient(other)).toBe(false);
  });

  it('retries kafkajs errors that mean the cluster is unreachable, although kafkajs gives up on them', () => {
    const named = (name: string) => Object.assign(new Error(name), { name, retriable: false });
    expect(isTransient(named('KafkaJSGroupCoordinatorNotFound'))).toBe(true);
    expect(isTransient(named('KafkaJSConnectionError'))).toBe(true);
    expect(isTransient(named('KafkaJSNonRetriableError'))).toBe(false);
  });

  it("recognises node-postgres's dropped connection and a transient cause", () => {
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransient(new Error('wrapped', { cause: pgError('08006') }))).toBe(true);
    expect(isTransient(new Error('plain bug'))).toBe(false);
  });
});

describe('retryTransient', () => {
  it('retries a transient failure until it succeeds, with jittered delays within [50 %, 100 %] of 1, 2 ms', async () => {
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
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(0.5);
    expect(delays[0]).toBeLessThanOrEqual(1);
    expect(delays[1]).toBeGreaterThanOrEqual(1);
    expect(delays[1]).toBeLessThanOrEqual(2);
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

describe('backoffDelay', () => {
  it('doubles from the initial delay, is capped, and jitters between half and all of it', () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffDelay(a, 200, 1_000, () => 0.999999))).toEqual([200, 400, 800, 1000, 1000]);
    expect([1, 2, 3, 4, 10].map((a) => backoffDelay(a, 200, 1_000, () => 0))).toEqual([100, 200, 400, 500, 500]);
  });
});

describe('BatchFailedError', () => {
  it('is one line naming topic, partition, offsets and the cause, and is not retriable to kafkajs', () => {
    const cause = Object.assign(new Error('new row violates check constraint "c"\nDETAIL: x'), { code: '23514' });
    const error = new BatchFailedError('workspace-events', 2, '10', '19', cause);
    expect(error.message).toBe('workspace-events[2] offsets 10..19: Error 23514: new row violates check constraint "c" DETAIL: x');
    expect(error.retriable).toBe(false);
    expect(isTransient(error)).toBe(false);
    // kafkajs wraps what eachBatch threw; the run still reports ours.
    expect(findBatchFailure(new Error('wrapped', { cause: error }))).toBe(error);
  });
});

describe('what a batch failure is thrown as', () => {
  const batch = { topic: 'events', partition: 2, firstOffset: '10', lastOffset: '19' };

  it('keeps a transient failure as it is while the run goes on, for its caller to retry', () => {
    const error = pgError('08006');
    expect(asBatchFailure(error, batch, new AbortController().signal)).toBe(error);
  });

  it('names the batch of a permanent failure, and of a transient one once the run is stopping', () => {
    const stopping = new AbortController();
    stopping.abort();
    for (const [error, signal] of [
      [pgError('23514'), new AbortController().signal],
      [pgError('08006'), stopping.signal],
    ] as const) {
      const failure = asBatchFailure(error, batch, signal);
      expect(failure).toBeInstanceOf(BatchFailedError);
      expect((failure as BatchFailedError).message).toMatch(/^events\[2\] offsets 10\.\.19: Error \d+/);
      expect((failure as BatchFailedError).cause).toBe(error);
    }
  });

  it('keeps the BatchFailedError already in the cause chain (the engine named the batch first)', () => {
    const inner = new BatchFailedError('events', 2, '12', '12', pgError('23514'));
    expect(asBatchFailure(new Error('kafkajs wrapped it', { cause: inner }), batch, new AbortController().signal)).toBe(inner);
  });
});
