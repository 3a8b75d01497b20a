/**
 * The CLI's logger, on pino: one JSON object per line (time, level, msg, then the context fields), or on a
 * terminal the same entries made readable by pino-pretty. Both are formatted in this thread and written
 * synchronously: no transport worker keeps the process alive, and a line logged before process.exit is out.
 */
import { pino, stdSerializers, stdTimeFunctions, type Logger as Pino } from 'pino';
import { createRequire } from 'node:module';
import type { LogContext, Logger } from '../ops/logger.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface CliLogger extends Logger {
  /** Why the process is about to exit without its result (could not run, wrong command line, a stop that hung). */
  fatal(message: string, context?: LogContext): void;
}

export interface CliLoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Receives each finished line, newline included. */
  write: (line: string) => void;
  /** ANSI colours (pretty on a terminal). */
  colors?: boolean;
  /** Errors with their stack and cause chain (REBUILD_PROJECTION_DEBUG); otherwise type, message and code. */
  stacks?: boolean;
}

export function createCliLogger(options: CliLoggerOptions): CliLogger {
  const prettify =
    options.format === 'pretty'
      ? // Loaded only for the pretty format (a terminal): a JSON run does not pay its startup.
        (createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty')).prettyFactory({
          colorize: options.colors ?? false,
          translateTime: 'SYS:HH:MM:ss.l',
          // The message already ends with the error's own text; the serialized error adds only noise here.
          ignore: options.stacks ? 'pid,hostname' : 'pid,hostname,err',
          singleLine: true,
        })
      : undefined;
  const root = pino(
    {
      level: options.level,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: options.stacks ? stdSerializers.err : briefError },
    },
    { write: (line: string) => options.write(prettify ? prettify(line) : line) },
  );
  return wrap(root);
}

function wrap(logger: Pino): CliLogger {
  return {
    debug: (message, context) => logger.debug(context ?? {}, message),
    info: (message, context) => logger.info(context ?? {}, message),
    warn: (message, context) => logger.warn(context ?? {}, message),
    error: (message, context) => logger.error(context ?? {}, message),
    fatal: (message, context) => logger.fatal(context ?? {}, message),
    child: (context) => wrap(logger.child(context)),
  };
}

/** An error as its type, message and code (SQLSTATE, errno, Kafka error type), without the stack. */
function briefError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code, type } = error as { code?: unknown; type?: unknown };
  return { type: error.name, message: error.message, ...(code === undefined ? {} : { code }), ...(typeof type === 'string' ? { kafkaType: type } : {}) };
}
