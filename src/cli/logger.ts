/**
 * The CLI's logger: the engine's Logger plus `fatal`, the one line that says why the run ends.
 */
import type { LogContext, Logger } from '../ops/logger.js';

export interface CliLogger extends Logger {
  /** Why the process is about to exit without its result (could not run, wrong command line, a stop that hung). */
  fatal(message: string, context?: LogContext): void;
}

/** One plain line per message on `write` (context is not printed). */
export function plainLogger(write: (line: string) => void): CliLogger {
  const line = (message: string) => write(`${message}\n`);
  const logger: CliLogger = {
    debug: () => undefined,
    info: line,
    warn: line,
    error: line,
    fatal: (message) => line(`rebuild-projection: ${message}`),
    child: () => logger,
  };
  return logger;
}
