/**
 * Runs the rebuilder CLI as a subprocess and observes it from outside: wall time (spawn to exit), peak RSS
 * (exact, from the preloaded rss-probe; cross-checked by sampling VmHWM in /proc/<pid>/status every
 * 100 ms), its CPU time, and the CPU that PostgreSQL and Kafka spent meanwhile. Optionally with
 * `node --cpu-prof`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nodeFlagsOf } from '../src/cli/bin-flags.js';
import { cliEnvironment, cliPath } from './cli-invocation.js';
import { cpuSince, cpuSnapshot, type CpuUsage } from './environment.js';

const PROBE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'rss-probe.js')).href;
const OUTPUT_LIMIT = 64 * 1024;

export interface RebuilderRun {
  args: string[];
  wallMs: number;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** ru_maxrss of the rebuilder, in KiB (undefined if the probe did not report, e.g. killed). */
  peakRssKb: number | undefined;
  /** Highest VmHWM seen while sampling, in KiB. */
  sampledHwmKb: number;
  userCpuS: number | undefined;
  systemCpuS: number | undefined;
  /** PostgreSQL's and Kafka's CPU over the same interval, and how busy the machine was. */
  cpu: CpuUsage;
  /** The .cpuprofile written with --cpu-prof, when asked for. */
  cpuProfile: string | undefined;
  /** True when the run was stopped at RebuilderOptions.timeoutMs or for a stall. */
  timedOut: boolean;
  /** Why it was stopped: 'timeout' or 'stalled' (no progress for stallMs). */
  stopReason: 'timeout' | 'stalled' | undefined;
  /** The CLI's progress phases (its JSON progress lines on stderr), with when each was first seen. */
  phases: { phase: string; startMs: number; durationMs: number }[];
}

export interface RunningRebuilder {
  pid: number;
  /** SIGTERM: the CLI finishes the batch in flight and exits. */
  stop: () => void;
  done: Promise<RebuilderRun>;
}

export interface RebuilderOptions {
  /** Directory for `node --cpu-prof` output; no profiling when undefined. */
  cpuProfDir?: string | undefined;
  /**
   * Wall-clock limit: past it the run gets SIGTERM (then SIGKILL 30 s later) and counts as timed out, so a
   * rebuilder stuck in a retry loop cannot hold up the rest of the benchmark. Default: no limit.
   */
  timeoutMs?: number | undefined;
  /**
   * Stop the run (as timed out) when its progress lines show no advance for this long: a rebuilder that
   * retries the same batch forever is stuck, and waiting for `timeoutMs` only burns the benchmark's time.
   */
  stallMs?: number | undefined;
}

function readHwmKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

export function startRebuilder(args: string[], options: RebuilderOptions = {}): RunningRebuilder {
  const probeDir = mkdtempSync(path.join(os.tmpdir(), 'bench-probe-'));
  const probeFile = path.join(probeDir, 'usage.json');
  // The bin's own node flags first (its shebang): the benchmark runs the V8 configuration users get.
  const nodeArgs = [...nodeFlagsOf(cliPath()), '--import', PROBE];
  if (options.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir);
  const before = cpuSnapshot();
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, cliPath(), ...args], {
    env: cliEnvironment({ BENCH_PROBE_FILE: probeFile }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const keep = (text: string, chunk: string) => {
    const joined = text + chunk;
    return joined.length > OUTPUT_LIMIT ? joined.slice(-OUTPUT_LIMIT) : joined;
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = keep(stdout, chunk)));
  const phaseStarts: { phase: string; startMs: number }[] = [];
  let lastProgress = '';
  let lastAdvanceAt = performance.now();
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = keep(stderr, chunk);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const progress = progressOf(line);
      const phase = progress?.phase;
      if (phase && phaseStarts[phaseStarts.length - 1]?.phase !== phase) phaseStarts.push({ phase, startMs: performance.now() - started });
      if (progress && `${progress.phase}:${progress.done}` !== lastProgress) {
        lastProgress = `${progress.phase}:${progress.done}`;
        lastAdvanceAt = performance.now();
      }
    }
  });
  const pid = child.pid ?? -1;
  let sampledHwmKb = 0;
  const sampler = setInterval(() => {
    sampledHwmKb = Math.max(sampledHwmKb, readHwmKb(pid));
  }, 100);
  let timedOut = false;
  let stopReason: RebuilderRun['stopReason'];
  let killer: NodeJS.Timeout | undefined;
  const stopFor = (reason: NonNullable<RebuilderRun['stopReason']>) => {
    if (timedOut) return;
    timedOut = true;
    stopReason = reason;
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  };
  const deadline = options.timeoutMs === undefined ? undefined : setTimeout(() => stopFor('timeout'), options.timeoutMs);
  const stallWatch =
    options.stallMs === undefined
      ? undefined
      : setInterval(() => {
          if (performance.now() - lastAdvanceAt > options.stallMs!) stopFor('stalled');
        }, 5_000);

  const done = new Promise<RebuilderRun>((resolve, reject) => {
    child.on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      const wallMs = performance.now() - started;
      clearInterval(sampler);
      clearTimeout(deadline);
      clearInterval(stallWatch);
      clearTimeout(killer);
      const cpu = cpuSince(before);
      let usage: { maxRssKb?: number; userCpuUs?: number; systemCpuUs?: number } = {};
      if (existsSync(probeFile)) usage = JSON.parse(readFileSync(probeFile, 'utf8')) as typeof usage;
      rmSync(probeDir, { recursive: true, force: true });
      let cpuProfile: string | undefined;
      if (options.cpuProfDir && existsSync(options.cpuProfDir)) {
        const profiles = readdirSync(options.cpuProfDir).filter((f) => f.endsWith('.cpuprofile'));
        cpuProfile = profiles.length > 0 ? path.join(options.cpuProfDir, profiles.sort().pop()!) : undefined;
      }
      resolve({
        args,
        wallMs,
        exitCode,
        signal,
        stdout,
        stderr,
        peakRssKb: usage.maxRssKb,
        sampledHwmKb,
        userCpuS: usage.userCpuUs === undefined ? undefined : usage.userCpuUs / 1e6,
        systemCpuS: usage.systemCpuUs === undefined ? undefined : usage.systemCpuUs / 1e6,
        cpu,
        cpuProfile,
        timedOut,
        stopReason,
        phases: phaseStarts.map((p, i) => ({ ...p, durationMs: (phaseStarts[i + 1]?.startMs ?? wallMs) - p.startMs })),
      });
    });
  });
  return { pid, stop: () => child.kill('SIGTERM'), done };
}

export async function runRebuilder(args: string[], options: RebuilderOptions = {}): Promise<RebuilderRun> {
  return startRebuilder(args, options).done;
}

/** Why a run did not succeed, in the CLI's own words; undefined when it did. */
export function failureOf(run: RebuilderRun, what: string): string | undefined {
  if (run.exitCode === 0 && !run.timedOut) return undefined;
  const why = run.stopReason === 'stalled' ? 'no progress for the stall limit' : 'timeout';
  const how = run.timedOut ? `was stopped after ${(run.wallMs / 1000).toFixed(0)} s (${why}; exit ${run.exitCode ?? run.signal})` : `exited with ${run.exitCode ?? run.signal}`;
  // Its own words first: the last lines of stderr that are not progress lines (retries, the final error).
  const said = run.stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && progressOf(line) === undefined)
    .slice(-4)
    .join(' ⏎ ');
  return `${what}: the rebuilder ${how}: ${said || '(nothing on stderr)'}\n--- stdout ---\n${run.stdout.slice(-4000)}\n--- stderr ---\n${run.stderr.slice(-4000)}`;
}

/** A progress entry of the CLI's JSON log lines (src/cli/progress.ts): its phase and count; undefined for any other line. */
function progressOf(line: string): { phase: string; done: number } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { progress?: unknown; done?: unknown };
    return typeof entry.progress === 'string' && typeof entry.done === 'number' ? { phase: entry.progress, done: entry.done } : undefined;
  } catch {
    return undefined;
  }
}

/** Throws {@link failureOf}'s message when the run did not succeed. */
export function assertSucceeded(run: RebuilderRun, what: string): void {
  const failure = failureOf(run, what);
  if (failure !== undefined) throw new Error(failure);
}
