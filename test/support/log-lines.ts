/**
 * The CLI's stderr without a terminal: one JSON log entry per line (src/cli/logger.ts). Parsing it is also the
 * check that nothing else (a stack trace, a stray console line) was written there.
 */
export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  time: string;
  msg: string;
  [field: string]: unknown;
}

/** Every stderr line as a log entry; a line that is not one fails, naming it. */
export function logEntries(stderr: string): LogEntry[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        throw new Error(`stderr line is not a JSON log entry: ${line}`);
      }
      const { level, time, msg } = entry as Partial<LogEntry>;
      if (typeof level !== 'string' || typeof time !== 'string' || typeof msg !== 'string') throw new Error(`stderr line lacks level, time or msg: ${line}`);
      return entry as LogEntry;
    });
}

/** The messages of the fatal entries: the one line a run that could not finish ends with. */
export function fatalMessages(stderr: string): string[] {
  return logEntries(stderr)
    .filter((e) => e.level === 'fatal')
    .map((e) => e.msg);
}

/** The messages of every entry except progress samples. */
export function logMessages(stderr: string): string[] {
  return logEntries(stderr)
    .filter((e) => e.progress === undefined)
    .map((e) => e.msg);
}

/** Every entry as `level: message`, for comparing a whole stderr at once. */
export function logLines(stderr: string): string[] {
  return logEntries(stderr).map((e) => `${e.level}: ${e.msg}`);
}
