#!/usr/bin/env node
/**
 * The CLI entry point: the only module that touches `process` (argv, env, signals, exit codes, stdout).
 */
import { runAgentkStates } from './run-agentk-states.js';
import { ExitCode } from './exit-codes.js';
import { plainLogger } from './logger.js';
import { HELP, parseCommandLine } from './options.js';
import { UsageError } from './usage-error.js';
import { VERSION } from './version.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseCommandLine(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`rebuild-projection: ${error.message} (see --help)\n`);
      return ExitCode.usage;
    }
    throw error;
  }
  if (args.help || args.version) {
    process.stdout.write(args.help ? HELP : `rebuild-projection ${VERSION}\n`);
    return ExitCode.ok;
  }
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      process.stderr.write(`rebuild-projection: second ${signal}, exiting now\n`);
      process.exit(ExitCode.couldNotRun);
    }
    // On a terminal the progress bar holds the current line: start a new one.
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}rebuild-projection: ${signal} received, finishing the batch in flight…\n`);
    abort.abort();
    // A stop must end within a bound even if a client hangs (a broker or database that stopped answering):
    // every commit is already in PostgreSQL, so exiting now loses nothing (as after a kill -9).
    setTimeout(() => {
      process.stderr.write(`rebuild-projection: still not stopped ${args.shutdownTimeoutS} s after ${signal}, exiting now (committed work is kept)\n`);
      process.exit(ExitCode.couldNotRun);
    }, args.shutdownTimeoutS * 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return runAgentkStates(args, {
    signal: abort.signal,
    log: plainLogger((line) => process.stderr.write(line)),
    report: (line) => process.stdout.write(`${line}\n`),
    progress: { write: (text) => process.stderr.write(text), isTty: process.stderr.isTTY === true },
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
    // Last resort: an unexpected failure still ends as one line, with the cause chain, and exit code 1.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`rebuild-projection: ${message}\n`);
    if (process.env.REBUILD_PROJECTION_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    exitSoon(ExitCode.couldNotRun);
  },
);
