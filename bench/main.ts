/**
 * `npm run bench [-- options]`: the rebuilder's benchmark (issues 5 and 12). A measurement, not a test: it
 * prints a table and writes bench/results/latest.{md,json}; targets are reported, never enforced.
 *
 * Steps, in this order, in one run on one machine:
 *   load  the workload (workload.ts) into a fresh topic and a fresh GitLab-shaped database
 *   (a)   kafkajs consume + decode of the topic                        measure-kafka-decode.ts
 *   (c)   generation of the N final rows, in process                   measure-generate.ts (also writes (b)'s input)
 *   (b)   raw COPY of those rows, with the rebuilder's session settings measure-copy.ts
 *   (c/w) (c) through the engine's Generator with 1 and 2 worker threads measure-generate.ts
 *   (d)   the CLI's rebuild from Kafka into a fresh target              measure-rebuild.ts
 *   (d2)  the same again over (d)'s table, a share of its rows changed  measure-rebuild.ts
 *   (f)   the CLI in --follow mode on that result: latency at a rate   measure-follow.ts
 *   (f5)  --follow through a backlog of config-changing events         measure-follow.ts
 *   (f6)  --follow through a backlog of events that touch no input      measure-follow.ts
 *   (e)   the CLI's snapshot rebuild into a fresh target              measure-rebuild.ts
 *   (e2)  the same again over (e)'s table, a share of its rows changed  measure-rebuild.ts
 *   (g)   d, d2, f5, f6, e, e2 again at N/10, for peak RSS vs size (its own topic and database)
 *   --profile: (d) and (e) at N/10 once more under node --cpu-prof, summarized by profile.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freezeCli, type KafkaTarget } from './cli-invocation.js';
import {
  benchKafka,
  codeVersion,
  cpuSince,
  cpuSnapshot,
  databaseUrl,
  describeMachine,
  dropDatabase,
  ensureBroker,
  foreignActivity,
  logStatements,
  recreateDatabase,
  REPO_ROOT,
  waitForKafka,
  type Broker,
} from './environment.js';
import { DevfileRecorder, DevfileReplayer } from './devfile-cache.js';
import { createBenchTopic, deleteBenchTopics, produceWorkload } from './load-kafka.js';
import { loadGitlabDatabase, summarizeReadModel } from './load-postgres.js';
import { COPY_TABLE, dropCopyTable, measureCopy } from './measure-copy.js';
import { measureFollowBacklog, measureFollowLatency } from './measure-follow.js';
import { FollowWorkload } from './follow-workload.js';
import { measureConnectSink } from './measure-connect-sink.js';
import { measureGenerate, measureWorkerGeneration } from './measure-generate.js';
import { measureKafkaDecode } from './measure-kafka-decode.js';
import { measureRebuild, type MeasureOptions, type RebuildResult, type RebuildSource } from './measure-rebuild.js';
import { totalWrites } from './pg-stats.js';
import type { RebuilderRun } from './rebuilder-process.js';
import { summarizeProfile } from './profile.js';
import { renderMarkdown, renderSummary, type BenchResults, type ModeRuns, type WorkloadFacts } from './report.js';
import { eventCount, updateLag, type WorkloadSpec } from './workload.js';

const DEFAULT_DATABASE = 'rebuild_projection_bench';
/** (c/w): the worker counts issue 12 asks for on this 2-core machine. */
const CW_WORKERS = [1, 2] as const;

const OPTIONS = {
  n: { type: 'string', help: 'workspaces (default: $BENCH_N or 100000)' },
  k: { type: 'string', help: 'updates per workspace (default: $BENCH_K or 3)' },
  partitions: { type: 'string', help: 'partitions of the topic (default: 4)' },
  seed: { type: 'string', help: 'workload seed (default: 1)' },
  'small-n': { type: 'string', help: 'the second size for (g) (default: N/10)' },
  'kafka-mode': { type: 'string', help: '(d) as the CLI\'s default rebuild (shadow + switch: "rebuild", default) or "replay" (--from-beginning)' },
  database: { type: 'string', help: `the benchmark's database; (g) uses <name>_small (default: ${DEFAULT_DATABASE})` },
  'differ-share': { type: 'string', help: 'share of the rows made to differ before (d2) and (e2) (default: 0.01)' },
  'follow-rate': { type: 'string', help: 'events/s produced in (f) (default: 500)' },
  'follow-seconds': { type: 'string', help: 'measured seconds of (f) (default: 30)' },
  'follow-warmup': { type: 'string', help: 'warm-up seconds of (f) before measuring (default: 5)' },
  'config-backlog': { type: 'string', help: 'M of (f5): config-changing events in the backlog (default: min(N, max(2000, N/5)); at most N, so that each workspace gets one)' },
  'no-input-backlog': { type: 'string', help: 'M of (f6): events that touch no generator input, at both sizes (default: max(10000, N))' },
  'skip-a': { type: 'boolean', help: 'skip (a) Kafka consume + decode' },
  'skip-b': { type: 'boolean', help: 'skip (b) raw COPY' },
  'skip-c': { type: 'boolean', help: 'skip (c) generation (still run, unreported, when (b) needs its rows)' },
  'skip-connect': { type: 'boolean', help: "skip (8) Kafka Connect + Debezium's JDBC sink upserting (c)'s rows (bench/connect/)" },
  'skip-cw': { type: 'boolean', help: "skip (c/w) generation through the engine's worker pool with 1 and 2 workers" },
  'skip-d': { type: 'boolean', help: 'skip (d) rebuild from Kafka (also skips d2, f, f5, f6, which run on its result)' },
  'skip-d2': { type: 'boolean', help: 'skip (d2) Kafka rebuild over a table right except --differ-share' },
  'skip-e': { type: 'boolean', help: 'skip (e) snapshot backfill (also skips e2)' },
  'skip-e2': { type: 'boolean', help: 'skip (e2) snapshot rebuild over a table right except --differ-share' },
  'skip-f': { type: 'boolean', help: 'skip (f) follow latency' },
  'skip-f5': { type: 'boolean', help: 'skip (f5) follow throughput, config-changing events' },
  'skip-f6': { type: 'boolean', help: 'skip (f6) follow throughput, events that touch no generator input' },
  'skip-g': { type: 'boolean', help: 'skip (g) the runs at the second size' },
  profile: { type: 'boolean', help: 'also profile (d) and (e) at the second size with node --cpu-prof' },
  'cli-timeout': { type: 'string', help: 'seconds after which a rebuilder run is stopped and reported as timed out (default: 1800)' },
  'stall-timeout': { type: 'string', help: 'seconds without progress after which a rebuild is stopped as stalled (default: 180)' },
  keep: { type: 'boolean', help: 'keep the databases and topics afterwards' },
  'no-write': { type: 'boolean', help: 'do not write the results files' },
  'results-name': { type: 'string', help: 'name of the results files in bench/results/ (default: latest)' },
  help: { type: 'boolean', help: 'print this help' },
} as const;

function usage(): string {
  return `Usage: npm run bench -- [options]\n\n${Object.entries(OPTIONS)
    .map(([name, spec]) => `  --${name}${spec.type === 'string' ? ' N' : ''}`.padEnd(24) + spec.help)
    .join('\n')}\n\nQuick mode for development: npm run bench -- --n 10000 (quicker: --n 2000 --skip-g)\n`;
}

function positiveInt(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`--${flag} must be a positive integer, got "${text}"`);
  return Number(text);
}

function share(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(value > 0 && value <= 1)) throw new Error(`--${flag} must be a number in (0, 1], got "${text}"`);
  return value;
}

const startedClock = Date.now();
function log(line: string): void {
  const seconds = ((Date.now() - startedClock) / 1000).toFixed(1).padStart(7);
  process.stderr.write(`[bench ${seconds}s] ${line}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const n = positiveInt(values.n ?? process.env.BENCH_N, 100_000, 'n');
  const k = positiveInt(values.k ?? process.env.BENCH_K, 3, 'k');
  const partitions = positiveInt(values.partitions, 4, 'partitions');
  const seed = positiveInt(values.seed, 1, 'seed');
  const smallN = positiveInt(values['small-n'], Math.max(1, Math.round(n / 10)), 'small-n');
  const database = values.database ?? DEFAULT_DATABASE;
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error(`--database must be a plain lower-case identifier, got "${database}"`);
  const smallDatabase = `${database}_small`;
  const differShare = share(values['differ-share'], 0.01, 'differ-share');
  const followRate = positiveInt(values['follow-rate'], 500, 'follow-rate');
  const followSeconds = positiveInt(values['follow-seconds'], 30, 'follow-seconds');
  const followWarmup = positiveInt(values['follow-warmup'], 5, 'follow-warmup');
  const backlogs = (size: number) => ({
    config: positiveInt(values['config-backlog'], Math.min(size, Math.max(2000, Math.round(size / 5))), 'config-backlog'),
    // The same at both sizes: row 7 compares memory by the number of workspaces, and a follower's heap grows
    // with the length of its run until it levels off (at N = 20,000: 241 MB after 40,000 events, 259 MB after 200,000).
    noInput: positiveInt(values['no-input-backlog'], Math.max(10_000, n), 'no-input-backlog'),
  });
  const resultsName = values['results-name'] ?? 'latest';
  if (!/^[\w.-]+$/.test(resultsName)) throw new Error(`--results-name must be a plain file name, got "${resultsName}"`);
  const cliTimeoutMs = positiveInt(values['cli-timeout'], 1800, 'cli-timeout') * 1000;
  const stallMs = positiveInt(values['stall-timeout'], 180, 'stall-timeout') * 1000;
  const kafkaMode = values['kafka-mode'] ?? 'rebuild';
  if (kafkaMode !== 'rebuild' && kafkaMode !== 'replay') throw new Error(`--kafka-mode must be "rebuild" or "replay", got "${kafkaMode}"`);
  const skip = (step: string) => values[`skip-${step}` as keyof typeof values] === true;
  const spec: WorkloadSpec = { n, k, seed };
  const smallSpec: WorkloadSpec = { n: smallN, k, seed };
  const runId = Date.now().toString(36);
  const notes: string[] = [];

  const startedAt = new Date();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rebuild-projection-bench-'));
  const copyFile = path.join(tmp, 'final-rows.csv');
  const devfileCache = path.join(tmp, 'devfiles.bin');
  const url = databaseUrl(database);
  const smallUrl = databaseUrl(smallDatabase);
  const topics: string[] = [];
  let broker: Broker | undefined;
  let kafka: ReturnType<typeof benchKafka> | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  try {
    const code = await codeVersion();
    const removeFrozenCli = freezeCli(runId);
    cleanups.push(async () => removeFrozenCli());
    broker = await ensureBroker(log);
    kafka = benchKafka(broker.brokers, 'rebuild-projection-bench');
    await waitForKafka(kafka);

    log(`creating database ${database} and loading ${n} workspaces …`);
    await recreateDatabase(database);
    if (!values.keep) cleanups.push(() => dropDatabase(database));
    const recorder = new DevfileRecorder(devfileCache);
    const pgLoad = await loadGitlabDatabase(url, spec, recorder);
    recorder.close();
    const replay = async <T>(work: (devfiles: DevfileReplayer) => T | Promise<T>): Promise<T> => {
      const devfiles = new DevfileReplayer(devfileCache);
      try {
        return await work(devfiles);
      } finally {
        devfiles.close();
      }
    };
    log(`  loaded in ${(pgLoad.elapsedMs / 1000).toFixed(1)} s (${(pgLoad.workspaceBytes / 2 ** 20).toFixed(0)} MB of rows)`);

    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const machine = await describeMachine(pool, !!process.env.KAFKA_BROKERS?.trim());
    await pool.end();

    const topic = `bench-workspace-events-${runId}`;
    log(`producing ${eventCount(spec)} events into ${topic} (${partitions} partitions) …`);
    await createBenchTopic(kafka, topic, partitions);
    topics.push(topic);
    const loaded = await replay((devfiles) =>
      produceWorkload(kafka!, topic, spec, devfiles, (sent) => {
        if (sent % 50_000 < 200) log(`  … ${sent} sent`);
      }),
    );
    log(`  produced ${loaded.messages} messages, ${(loaded.bytes / 2 ** 20).toFixed(0)} MB in ${(loaded.elapsedMs / 1000).toFixed(1)} s`);

    const workload: WorkloadFacts = {
      n,
      k,
      partitions,
      seed,
      events: loaded.messages,
      updateLag: updateLag(spec),
      topicBytes: loaded.bytes,
      workspaceTableBytes: pgLoad.workspaceBytes,
      loadKafkaMs: loaded.elapsedMs,
      loadPostgresMs: pgLoad.elapsedMs,
    };
    const results: BenchResults = {
      startedAt: startedAt.toISOString(),
      finishedAt: '',
      totalSeconds: 0,
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine,
      workload,
      code,
      kafkaMode,
      differShare,
      cpu: {},
      foreignActivity: [],
      notes,
    };
    const target = (group: string): KafkaTarget => ({ brokers: broker!.brokers, topic, group, databaseUrl: url });
    const foreign = new Set<string>();
    const lookAround = () => foreignActivity().forEach((line) => foreign.add(line));
    lookAround();
    /** Runs one measurement; a failure is reported in the results and the other steps still run. */
    const step = async (name: string, work: () => Promise<void>): Promise<boolean> => {
      lookAround();
      try {
        await work();
        return true;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`${name} FAILED: ${message}`);
        notes.push(`${name} failed: ${message.split('\n')[0]}`);
        return false;
      } finally {
        lookAround();
      }
    };

    if (!skip('a')) {
      await step('(a)', async () => {
        log('(a) consuming and decoding the topic with kafkajs …');
        const before = cpuSnapshot();
        results.a = await measureKafkaDecode(kafka!, topic, `bench-raw-${runId}`);
        results.cpu.a = cpuSince(before);
        log(`  ${(results.a.elapsedMs / 1000).toFixed(2)} s`);
      });
    }
    if (!skip('c') || !skip('b')) {
      await step('(c)', async () => {
        log('(c) generating the final rows in process …');
        const before = cpuSnapshot();
        const generated = await replay((devfiles) => measureGenerate(spec, copyFile, devfiles));
        if (!skip('c')) {
          results.c = generated;
          results.cpu.c = cpuSince(before);
        }
        log(`  ${(generated.elapsedMs / 1000).toFixed(2)} s, ${generated.failures} failures`);
        if (!skip('b')) {
          await step('(b)', async () => {
            log('(b) COPY of the final rows …');
            const beforeCopy = cpuSnapshot();
            results.b = await measureCopy(url, copyFile, generated.copyFileBytes);
            results.cpu.b = cpuSince(beforeCopy);
            log(`  ${(results.b.elapsedMs / 1000).toFixed(2)} s`);
            results.bSummary = await summarizeReadModel(url, COPY_TABLE);
            await dropCopyTable(url);
          });
        }
        // Row 8: the same final rows through the tool a user would otherwise assemble, into the still empty table.
        if (!skip('connect')) {
          await step('(8)', async () => {
            log("(8) Kafka Connect + Debezium's JDBC sink upserting the final rows …");
            results.connect = await measureConnectSink({ brokers: broker!.brokers, databaseUrl: url, copyFile, runId, partitions, log });
            log(`  ${(results.connect.wallMs / 1000).toFixed(2)} s`);
          });
        }
      });
      rmSync(copyFile, { force: true });
    }
    if (!skip('cw')) {
      await step('(c/w)', async () => {
        results.cWorkers = [];
        for (const workers of CW_WORKERS) {
          log(`(c/w) generating the final rows through the engine's generator, ${workers} worker(s) …`);
          const measured = await replay((devfiles) => measureWorkerGeneration(spec, workers, devfiles));
          results.cWorkers.push(measured);
          log(`  ${(measured.elapsedMs / 1000).toFixed(2)} s`);
        }
      });
    }
    const runOptions = { timeoutMs: cliTimeoutMs, stallMs };
    const rss = (run: RebuilderRun) => `peak RSS ${((run.peakRssKb ?? run.sampledHwmKb) / 1024).toFixed(0)} MB`;
    const logRebuild = (result: RebuildResult) => {
      const live = result.writes ? `; rows written: live ${totalWrites(result.writes.live)}, shadow ${totalWrites(result.writes.shadow)}, undo log ${totalWrites(result.writes.undo)}` : '';
      const differing = result.differing === undefined ? '' : ` (${result.differing} rows made to differ)`;
      log(`  ${(result.run.wallMs / 1000).toFixed(2)} s, ${rss(result.run)}${live}${differing}`);
    };
    /** One CLI rebuild as a step: a failed run is kept in the results (its RSS, its output) and fails the step. */
    const rebuildStep = async (name: string, put: (result: RebuildResult) => void, source: RebuildSource, options: MeasureOptions = {}) =>
      step(name, async () => {
        log(`${name} ${source.from === 'kafka' ? 'rebuild from Kafka' : 'snapshot rebuild'}${options.differShare === undefined ? '' : ` over a table right except ${options.differShare * 100}% of its rows`} with the CLI …`);
        const result = await measureRebuild(source, { ...runOptions, ...options });
        put(result);
        if (result.error) throw new Error(result.error);
        logRebuild(result);
      });
    /**
     * The CLI's modes at one size, in this order: (d) into a fresh target, (d2) over its result with a
     * share of rows made to differ, the follow steps on that result ((f) latency only when `latency`), then
     * (e) the snapshot rebuild into a fresh target and (e2) over its result.
     */
    const modeSteps = async (size: string, runs: ModeRuns, kafkaTarget: (group: string) => KafkaTarget, sizeN: number, sizeUrl: string, workload: FollowWorkload, latency: boolean) => {
      const name = (step: string) => `(${size}${step})`;
      const kafkaSource: RebuildSource = { from: 'kafka', target: kafkaTarget(`bench-rebuild-${size.replace('/', '')}${runId}`), mode: kafkaMode };
      const snapshotSource: RebuildSource = { from: 'snapshot', databaseUrl: sizeUrl };
      const followTarget = kafkaTarget(`bench-follow-${size.replace('/', '')}${runId}`);
      const needsD = (step: string) => notes.push(`${name(step)} was skipped: it runs on the result of (d), which was skipped or failed.`);
      const dRight = !skip('d') && (await rebuildStep(name('d'), (r) => (runs.d = r), kafkaSource));
      const logged = Boolean(process.env.BENCH_FOLLOW_LOG_STATEMENTS);
      if (logged) {
        log(`${name('f')} BENCH_FOLLOW_LOG_STATEMENTS: PostgreSQL logs every statement of the follow steps`);
        await logStatements(sizeUrl, true);
      }
      if (!skip('d2')) {
        if (dRight) await rebuildStep(name('d2'), (r) => (runs.d2 = r), kafkaSource, { differShare });
        else needsD('d2');
      }
      if (latency && !skip('f')) {
        if (dRight)
          await step(name('f'), async () => {
            log(`${name('f')} follow mode at ${followRate} events/s for ${followSeconds} s …`);
            runs.f = await measureFollowLatency(kafka!, followTarget, workload, sizeN, {
              rate: followRate,
              seconds: followSeconds,
              warmupSeconds: followWarmup,
              drainSeconds: 15,
              stallMs,
              cpuProfDir: process.env.BENCH_FOLLOW_CPU_PROF,
            });
            log(`  p50 ${runs.f.latencyMs.p50.toFixed(1)} ms, p99 ${runs.f.latencyMs.p99.toFixed(1)} ms at ${runs.f.achievedRate.toFixed(0)} events/s, ${rss(runs.f.run)}`);
          });
        else needsD('f');
      }
      for (const [stepName, kind, events] of [['f5', 'config', backlogs(sizeN).config], ['f6', 'no-input', backlogs(sizeN).noInput]] as const) {
        if (skip(stepName)) continue;
        if (!dRight) {
          needsD(stepName);
          continue;
        }
        await step(name(stepName), async () => {
          log(`${name(stepName)} follow mode through a backlog of ${events} ${kind === 'config' ? 'config-changing events' : 'events that touch no generator input'} …`);
          const result = await measureFollowBacklog(kafka!, followTarget, workload, sizeN, { kind, events, stallMs });
          runs[stepName] = result;
          log(
            `  ${(result.sustainedEvents / (result.sustainedMs / 1000)).toFixed(0)} events/s sustained (${(result.totalMs / 1000).toFixed(2)} s from spawn); ` +
              `live rows written ${totalWrites(result.writes.live)}; ${rss(result.run)}`,
          );
        });
      }
      if (logged) await logStatements(sizeUrl, false);
      const eRight = !skip('e') && (await rebuildStep(name('e'), (r) => (runs.e = r), snapshotSource));
      if (!skip('e2')) {
        if (eRight) await rebuildStep(name('e2'), (r) => (runs.e2 = r), snapshotSource, { differShare });
        else notes.push(`${name('e2')} was skipped: it runs on the result of (e), which was skipped or failed.`);
      }
    };

    await modeSteps('', results, target, n, url, new FollowWorkload(spec, url), true);

    if (!skip('g') || values.profile) {
      await step('(g)', async () => {
        log(`(g) second size: N = ${smallN} …`);
        await recreateDatabase(smallDatabase);
        if (!values.keep) cleanups.push(() => dropDatabase(smallDatabase));
        const smallLoad = await replay((devfiles) => loadGitlabDatabase(smallUrl, smallSpec, devfiles));
        const smallTopic = `bench-workspace-events-small-${runId}`;
        await createBenchTopic(kafka!, smallTopic, partitions);
        topics.push(smallTopic);
        const smallLoaded = await replay((devfiles) => produceWorkload(kafka!, smallTopic, smallSpec, devfiles));
        const smallTarget = (group: string): KafkaTarget => ({ brokers: broker!.brokers, topic: smallTopic, group, databaseUrl: smallUrl });
        const small: NonNullable<BenchResults['small']> = {
          n: smallN,
          workload: {
            n: smallN,
            k,
            partitions,
            seed,
            events: smallLoaded.messages,
            updateLag: updateLag(smallSpec),
            topicBytes: smallLoaded.bytes,
            workspaceTableBytes: smallLoad.workspaceBytes,
            loadKafkaMs: smallLoaded.elapsedMs,
            loadPostgresMs: smallLoad.elapsedMs,
          },
        };
        results.small = small;
        if (!skip('g')) await modeSteps('g/', small, smallTarget, smallN, smallUrl, new FollowWorkload(smallSpec, smallUrl), false);
        if (values.profile) {
          await step('(profile)', async () => {
            const profileDir = mkdtempSync(path.join(os.tmpdir(), 'rebuild-projection-profiles-'));
            log(`profiling (d) and (e) at N = ${smallN} (profiles kept in ${profileDir}) …`);
            const profiled = { verify: false, ...runOptions };
            const dRun = await measureRebuild({ from: 'kafka', target: smallTarget(`bench-profile-${runId}`), mode: kafkaMode }, { cpuProfDir: path.join(profileDir, 'kafka'), ...profiled });
            const eRun = await measureRebuild({ from: 'snapshot', databaseUrl: smallUrl }, { cpuProfDir: path.join(profileDir, 'snapshot'), ...profiled });
            results.profiles = [];
            if (dRun.run.cpuProfile)
              results.profiles.push({ label: `(d) rebuild from Kafka, N = ${smallN} (profiled run ${(dRun.run.wallMs / 1000).toFixed(1)} s)`, summary: summarizeProfile(dRun.run.cpuProfile) });
            if (eRun.run.cpuProfile)
              results.profiles.push({ label: `(e) snapshot backfill, N = ${smallN} (profiled run ${(eRun.run.wallMs / 1000).toFixed(1)} s)`, summary: summarizeProfile(eRun.run.cpuProfile) });
            notes.push(`CPU profiles (.cpuprofile, open in Chrome DevTools) were kept in ${profileDir}.`);
          });
        }
      });
    }
    results.foreignActivity = [...foreign];

    const finishedAt = new Date();
    results.finishedAt = finishedAt.toISOString();
    results.totalSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    process.stdout.write(`\n${renderSummary(results)}\n`);
    if (!values['no-write']) {
      const dir = path.join(REPO_ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const name = resultsName;
      writeFileSync(path.join(dir, `${name}.md`), renderMarkdown(results));
      writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
      log(`results written to bench/results/${name}.md and ${name}.json`);
    }
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => log(`cleanup: ${error.message}`));
    if (kafka && !values.keep && broker && !broker.startedHere) await deleteBenchTopics(kafka, topics).catch((error: Error) => log(`deleting topics: ${error.message}`));
    if (broker?.startedHere && values.keep) log('--keep: the broker this run started is left running (scripts/kafka-broker.sh stop)');
    else if (broker?.startedHere) {
      log('stopping the broker this run started …');
      await broker.stop().catch((error: Error) => log(`stopping the broker: ${error.message}`));
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
