/**
 * Transient vs permanent failures, decided once, here, from a table (graphile-worker / kafkajs style).
 * Transient (the database, the broker or the schema registry unreachable or restarting, a serialization
 * conflict, a deadlock, a lock or statement timeout, an administrator's shutdown of our backend) is retried
 * with capped, jittered exponential backoff, logged each time, never dead-lettered. Everything else (bad data in our own tables, a
 * constraint violation, a bug) is permanent: retrying would fail the same way for ever, so it stops the run.
 */
import { SchemaRegistryError } from '../events/codec/schema-registry.js';

/**
 * SQLSTATE classes and codes worth retrying: the server or the connection, not the data. Class 08 is the
 * connection, 57 operator intervention (57P01 admin shutdown, 57014 statement timeout). Of class 53 only
 * "too many connections": "out of memory/shared memory" would fail the same batch again forever.
 */
const RETRIABLE_SQLSTATE_CLASSES = new Set(['08', '57']);
const RETRIABLE_SQLSTATES = new Set(['40001', '40P01', '55P03', '53300']);
const RETRIABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/**
 * kafkajs errors that mean "the cluster is unreachable for now" although kafkajs gives up on them (it marks
 * them non-retriable once its own retries are spent): a broker outage must not end a follower that runs for
 * months. Seen in the fault suite: a 5 s broker restart ended --follow with "Failed to find group coordinator".
 */
const RETRIABLE_KAFKAJS_ERRORS = new Set([
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
]);

/**
 * A schema registry's answers worth retrying (restarting, overloaded), besides no answer at all (refused,
 * reset, DNS, a timeout). Others (401/403: credentials; a refused TLS certificate) fail the same way every
 * time.
 */
const RETRIABLE_HTTP_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * GitLab's foreign key from workspace_agentk_states to workspaces. Our writes skip rows whose workspace is
 * missing, but GitLab may delete a workspace between that check and the insert (READ COMMITTED): a race, not
 * bad data, and a retry sees the workspace gone. Seen in the fault suite (23503 ended a follower).
 */
const RACING_FOREIGN_KEYS = new Set(['workspace_agentk_states_workspace_id_fkey']);

function constraintOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('constraint' in error)) return undefined;
  const { constraint } = error as { constraint: unknown };
  return typeof constraint === 'string' ? constraint : undefined;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

export function isTransient(error: unknown): boolean {
  if (error instanceof SchemaRegistryError) {
    return error.failure === 'no-answer' || (error.httpStatus !== undefined && RETRIABLE_HTTP_STATUSES.has(error.httpStatus));
  }
  const code = codeOf(error);
  if (code !== undefined) {
    if (RETRIABLE_NODE_CODES.has(code) || RETRIABLE_SQLSTATES.has(code)) return true;
    if (code === '23503' && RACING_FOREIGN_KEYS.has(constraintOf(error) ?? '')) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && RETRIABLE_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
  }
  // node-postgres reports a dropped connection without a code.
  if (error instanceof Error && /Connection terminated|connection timeout|^timeout expired$|Client has encountered a connection error|Client was closed/i.test(error.message)) {
    return true;
  }
  if (error instanceof Error && RETRIABLE_KAFKAJS_ERRORS.has(error.name)) return true;
  // kafkajs marks its own transient errors.
  if (typeof error === 'object' && error !== null && 'retriable' in error && (error as { retriable: unknown }).retriable === true) return true;
  return error instanceof Error && error.cause !== undefined && isTransient(error.cause);
}

/**
 * A batch that failed permanently. `retriable = false` is what kafkajs reads (its retrier and its
 * restart-on-crash both skip such errors), so the consumer stops instead of re-fetching the batch for ever.
 */
export class BatchFailedError extends Error {
  override readonly name = 'BatchFailedError';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly firstOffset: string,
    readonly lastOffset: string,
    cause: unknown,
  ) {
    super(`${topic}[${partition}] offsets ${firstOffset}..${lastOffset}: ${describeCause(cause)}`, { cause });
  }
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = codeOf(error);
  // A ZodError's message is a multi-line JSON dump: keep the first issue, on one line.
  const issues = (error as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
  const text = Array.isArray(issues) && issues[0] ? `${issues[0].path.map(String).join('.') || '(root)'}: ${issues[0].message}` : error.message;
  return `${error.name}${code === undefined ? '' : ` ${code}`}: ${text}`.replace(/\s*\n\s*/g, ' ');
}

/** The BatchFailedError in an error's cause chain (kafkajs wraps what eachBatch threw). */
export function findBatchFailure(error: unknown): BatchFailedError | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof BatchFailedError) return e;
  return undefined;
}

/**
 * kafkajs' word that this consumer lost its place in the group (a rebalance, or a session that expired while
 * a batch ran): kafkajs re-joins when eachBatch throws it as it is (consumer/runner.js), and the PostgreSQL
 * checkpoints make the re-delivered batch a no-op. kafkajs marks two of them non-retriable all the same.
 */
const GROUP_MEMBERSHIP_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

function isGroupMembershipLoss(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'type' in error && GROUP_MEMBERSHIP_ERRORS.has(String((error as { type: unknown }).type));
}

/**
 * What a batch's failure is thrown as: a transient one, or a lost group membership, while the run is not
 * stopping, as it is (its caller retries it, or kafkajs re-joins); anything else as a BatchFailedError (the
 * one already in its cause chain).
 */
export function asBatchFailure(error: unknown, batch: { topic: string; partition: number; firstOffset: string; lastOffset: string }, signal: AbortSignal): unknown {
  if ((isTransient(error) || isGroupMembershipLoss(error)) && !signal.aborted) return error;
  return findBatchFailure(error) ?? new BatchFailedError(batch.topic, batch.partition, batch.firstOffset, batch.lastOffset, error);
}

export interface RetryOptions {
  /** First delay; doubles each attempt up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stop retrying (and rethrow) once this is aborted. */
  signal?: AbortSignal | undefined;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** The delay before retry `attempt`: exponential, capped, with jitter in [50 %, 100 %] so that restarted peers do not retry in lockstep. */
export function backoffDelay(attempt: number, initialDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Runs `work` until it succeeds, a permanent error occurs, or `signal` aborts. */
export async function retryTransient<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const { initialDelayMs = 200, maxDelayMs = 10_000, signal, onRetry } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!isTransient(error) || signal?.aborted) throw error;
      const delayMs = backoffDelay(attempt, initialDelayMs, maxDelayMs);
      onRetry?.(error, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
