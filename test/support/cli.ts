/** Runs the built CLI (dist/) as a subprocess, the way operators run it. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nodeFlagsOf } from '../../src/cli/bin-flags.js';

export const CLI_PATH = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
let nodeFlags: string[] | undefined;
/** The node flags of the bin's shebang (read once dist/ exists): the tests run the V8 configuration users get. */
const cliNodeFlags = (): string[] => (nodeFlags ??= nodeFlagsOf(CLI_PATH));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...cliNodeFlags(), CLI_PATH, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface SpawnedCli {
  child: ChildProcess;
  /** Resolves when the process exits, with everything it printed. */
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** The whole lines it has written to stderr so far (a line still on its way is left out). */
  stderrSoFar: () => string;
}

/**
 * Starts the CLI in the background (a --follow consumer, a rebuild to kill), capturing its output. With `env`,
 * the process gets only that environment (and PATH); without, this process's.
 */
export function spawnCli(args: string[], env?: Record<string, string>): SpawnedCli {
  const child = spawn(process.execPath, [...cliNodeFlags(), CLI_PATH, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env === undefined ? {} : { env: { PATH: process.env.PATH ?? '', ...env } }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return {
    child,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr }))),
    stderrSoFar: () => stderr.slice(0, stderr.lastIndexOf('\n') + 1),
  };
}

/**
 * Polls until `condition` holds; throws after `timeoutMs`. Until the CLI has run its migrations, the
 * bookkeeping tables do not exist (42P01): that counts as "not yet".
 */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const check = () => condition().catch((error: { code?: string }) => (error.code === '42P01' ? false : Promise.reject(error)));
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
