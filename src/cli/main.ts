#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * The CLI entry point: the only module that touches `process` (argv, env, signals, exit codes, stdout).
 */
import { runAgentkStates } from './run-agentk-states.js';
import { ExitCode } from './exit-codes.js';
import { createCliLogger, type CliLogger, type LogFormat, type LogLevel } from './logger.js';
import { createStatusLine } from './progress.js';
import { HELP, parseCommandLine } from './options.js';
import { UsageError } from './usage-error.js';
import { VERSION } from './version.js';
import { boundHeapGrowth } from '../ops/memory.js';

boundHeapGrowth();

const stderrIsTty = process.stderr.isTTY === true;
/** stderr's last line: the progress bar on a terminal, which log lines print above. */
const statusLine = createStatusLine((text) => process.stderr.write(text));

/** JSON lines, or pretty on a terminal, unless the command line chose; before it is parsed, the default. */
function createLogger(choice: { level: LogLevel; format: LogFormat | undefined } = { level: 'info', format: undefined }): CliLogger {
  const format = choice.format ?? (stderrIsTty ? 'pretty' : 'json');
  return createCliLogger({
    level: choice.level,
    format,
    write: (line) => statusLine.print(line),
    colors: stderrIsTty && format === 'pretty',
    stacks: Boolean(process.env.REBUILD_PROJECTION_DEBUG),
  });
}

let log = createLogger();

async function main(): Promise<number> {
  let args;
  try {
    args = parseCommandLine(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      log.fatal(`${error.message} (see --help)`, { exitCode: ExitCode.usage });
      return ExitCode.usage;
    }
    throw error;
  }
  if (args.help || args.version) {
    process.stdout.write(args.help ? HELP : `rebuild-projection ${VERSION}\n`);
    return ExitCode.ok;
  }
  log = createLogger({ level: args.logLevel, format: args.logFormat });
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      log.fatal(`second ${signal}, exiting now`, { signal, exitCode: ExitCode.couldNotRun });
      process.exit(ExitCode.couldNotRun);
    }
    log.info(`${signal} received, finishing the batch in flight…`, { signal, shutdownTimeoutS: args.shutdownTimeoutS });
    abort.abort();
    // A stop must end within a bound even if a client hangs (a broker or database that stopped answering):
    // every commit is already in PostgreSQL, so exiting now loses nothing (as after a kill -9).
    setTimeout(() => {
      log.fatal(`still not stopped ${args.shutdownTimeoutS} s after ${signal}, exiting now (committed work is kept)`, { signal, exitCode: ExitCode.couldNotRun });
      process.exit(ExitCode.couldNotRun);
    }, args.shutdownTimeoutS * 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return runAgentkStates(args, {
    signal: abort.signal,
    log,
    report: (line) => process.stdout.write(`${line}\n`),
    // A bar only where a person reads pretty lines; otherwise progress is logged like everything else.
    progress: { statusLine: stderrIsTty && (args.logFormat ?? 'pretty') === 'pretty' ? statusLine : undefined },
  });
}

/**
 * The work is done and its result printed: a library handle left open (a client's retry timer) must not keep
 * the process alive without a word. Unreferenced, so a clean exit is not delayed.
 */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref();
}

main().then(
  (code) => {
    exitSoon(code);
  },
  (error: unknown) => {
    // Last resort: an unexpected failure still ends as one line and exit code 1 (REBUILD_PROJECTION_DEBUG adds
    // the stack and cause chain to it).
    log.fatal(error instanceof Error ? error.message : String(error), { exitCode: ExitCode.couldNotRun, err: error });
    exitSoon(ExitCode.couldNotRun);
  },
);
