/**
 * What the engine, sources and sinks log through: a message people read, plus context fields a log
 * collector filters on (topic, partition, offset, workspaceId, rebuildId, attempt, delayMs, err …).
 * The CLI implements it (src/cli/logger.ts, with pino); nothing below the CLI imports a logging library.
 */
export type LogContext = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, context?: LogContext): void;
  info(message: string, context?: LogContext): void;
  warn(message: string, context?: LogContext): void;
  error(message: string, context?: LogContext): void;
  /** A logger whose every line also carries `context`. */
  child(context: LogContext): Logger;
}

/**
 * The `onRetry` of retryTransient (src/engine/retry.ts), as one warning per retry: `what` names the step, the
 * failure's own message ends the line, and attempt, delay and the error are context. `err` is the error
 * itself: the logger serializes it (type, message, code).
 */
export function logRetry(log: Logger, what: string, context: LogContext = {}): (error: unknown, attempt: number, delayMs: number) => void {
  return (error, attempt, delayMs) =>
    log.warn(`${what}: transient failure (attempt ${attempt}), retrying in ${delayMs} ms: ${(error as Error).message}`, { ...context, attempt, delayMs, err: error });
}
