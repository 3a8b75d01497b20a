/**
 * Transient vs permanent failures, decided once from a table (graphile-worker / kafkajs style): a transient
 * one (database or broker unreachable, serialization conflict) is retried with capped exponential backoff and
 * is never dead-lettered; anything else propagates.
 */

/**
 * SQLSTATE classes and codes worth retrying: the server or the connection, not the data. Of class 53 only
 * "too many connections": "out of memory/shared memory" would fail the same batch again forever.
 */
const RETRIABLE_SQLSTATE_CLASSES = new Set(['08', '57']);
const RETRIABLE_SQLSTATES = new Set(['40001', '40P01', '55P03', '53300']);
const RETRIABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

export function isTransient(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined) {
    if (RETRIABLE_NODE_CODES.has(code) || RETRIABLE_SQLSTATES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && RETRIABLE_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
  }
  // node-postgres reports a dropped connection without a code.
  if (error instanceof Error && /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message)) {
    return true;
  }
  // kafkajs marks its own transient errors.
  if (typeof error === 'object' && error !== null && 'retriable' in error && (error as { retriable: unknown }).retriable === true) return true;
  return error instanceof Error && error.cause !== undefined && isTransient(error.cause);
}

export interface RetryOptions {
  /** First delay; doubles each attempt up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stop retrying (and rethrow) once this is aborted. */
  signal?: AbortSignal | undefined;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `work` until it succeeds, a permanent error occurs, or `signal` aborts. */
export async function retryTransient<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { initialDelayMs = 200, maxDelayMs = 10_000, signal, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error) || signal?.aborted) throw error;
      const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
      onRetry?.(error, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
