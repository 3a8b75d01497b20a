/**
 * `rebuild-projection agentk-states`: opens the resources the mode needs, runs it, records the run, and
 * maps the outcome to an exit code. Resources are released in reverse order of acquisition, whatever happens.
 */
import { access, constants } from 'node:fs/promises';
import kafkajs, { type Kafka } from 'kafkajs';
import type { Database } from '../sink/postgres/database.js';
import { runKafkaReplay } from '../engine/kafka-replayer.js';
import type { ReplayTotals } from '../engine/batch-loop.js';
import { RetentionGapError, type ReplayStart } from '../sources/kafka/start-positions.js';
import { observeAll, type ConsumerObserver } from '../engine/consumer-observer.js';
import { BatchFailedError, retryTransient } from '../engine/retry.js';
import { SessionPoolingError } from '../sink/postgres/rebuild-lock.js';
import { describeParked, REBUILD_PHASES, type RebuildPlan, type RebuildStream, RebuildInterruptedError, RebuildLockLostError, RebuildRefusedError, runRebuild } from '../engine/rebuild.js';
import { BookkeepingOutdatedError, explainProblems, explainWorkspace, UnknownWorkspaceError } from '../engine/explain.js';
import { previewShadow } from '../engine/impact/preview.js';
import { logRetry } from '../ops/logger.js';
import { rollbackRebuilds, type RollbackResult } from '../engine/rollback.js';
import { isClean, verifyAgentkStates, VerifyInterruptedError } from '../engine/verify.js';
import { withGenerator } from '../engine/generation/worker-pool.js';
import type { Generator } from '../engine/generation/generator.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import { DatabaseUnavailableError, openPool, redactUrl } from '../sink/postgres/connect.js';
import { EmbeddedDatabaseError, openEmbeddedDatabase } from '../sink/postgres/embedded.js';
import { SessionWaitError } from '../sink/postgres/single-session.js';
import { readCheckpoints } from '../sink/postgres/checkpoints.js';
import { countDeadLetters } from '../sink/postgres/dead-letters.js';
import { NotAGitLabDatabaseError, requireGitLabDatabase } from '../sink/postgres/gitlab-tables.js';
import { migrate } from '../sink/postgres/migrate.js';
import { liveAgentkStates } from '../sink/postgres/row-sink.js';
import { finishRun, startRun } from '../sink/postgres/runs.js';
import { withClient } from '../sink/postgres/transaction.js';
import { eventFile, FileSourceError, type EventFile } from '../sources/file/file-source.js';
import { runFileReplay } from '../engine/file-replayer.js';
import { HistoryMissingError } from '../sources/kafka/history-check.js';
import { KafkaConnectError, KafkaTopicMissingError, openKafka } from '../sources/kafka/kafka-client.js';
import { KafkaSecurityFileError, loadKafkaSecurity } from '../sources/kafka/kafka-security.js';
import { DemoDatabaseRefusedError } from '../sink/postgres/demo-tables.js';
import { demoStart, demoSummary, loadDemo } from './demo.js';
import { createWorkspaceDecoder, type WorkspaceDecoder } from '../events/decode.js';
import { loadSchemaCatalog, SchemaCatalogError } from '../events/codec/catalog.js';
import { createSchemaRegistrySource, SchemaRegistryError } from '../events/codec/schema-registry.js';
import { schemaRegistryConfig } from './schema-registry-config.js';
import { DeadLettersBusyError } from '../engine/dead-letter-retry.js';
import { deadLettersInTotal, DeadLetterTablesMissingError, listDeadLetters, workOffDeadLetters } from './dead-letters.js';
import { EXPORT_ERRORS, runExportEvents } from './export-events.js';
import { ExitCode } from './exit-codes.js';
import type { CliArgs } from './options.js';
import { explainJson, explainText } from './explain-report.js';
import type { CliLogger } from './logger.js';
import { createProgressReporter, type StatusLine } from './progress.js';
import { statusReport } from './status.js';
import { UsageError } from './usage-error.js';
import { previewJson, previewText } from './impact-report.js';
import { verifyJson, verifyText } from './verify-report.js';
import { ConsumerState } from '../ops/consumer-state.js';
import { Heartbeat } from '../ops/heartbeat.js';
import type { Metrics } from '../ops/metrics.js';
import { OpsServerError, startOpsServer } from '../ops/http-server.js';

export interface CliIo {
  signal: AbortSignal;
  /** Diagnostics (stderr). */
  log: CliLogger;
  /** The result people or scripts read (stdout). */
  report: (line: string) => void;
  /** Progress: redrawn on this status line (a terminal), or else logged. */
  progress: { statusLine: StatusLine | undefined };
}

type Releaser = () => Promise<void>;

/** A finite replay stopped by SIGTERM/SIGINT: what it committed is kept, but it may not have reached its end. */
export class ReplayInterruptedError extends Error {
  override readonly name = 'ReplayInterruptedError';
}

/** Errors that mean "could not run" and are fully explained by their one-line message. */
const OPERATIONAL_ERRORS = [
  DatabaseUnavailableError,
  EmbeddedDatabaseError,
  SessionWaitError,
  NotAGitLabDatabaseError,
  KafkaTopicMissingError,
  HistoryMissingError,
  RebuildRefusedError,
  RebuildInterruptedError,
  VerifyInterruptedError,
  UnknownWorkspaceError,
  BookkeepingOutdatedError,
  BatchFailedError,
  RetentionGapError,
  RebuildLockLostError,
  SessionPoolingError,
  DeadLettersBusyError,
  DeadLetterTablesMissingError,
  SchemaCatalogError,
  OpsServerError,
  KafkaConnectError,
  KafkaSecurityFileError,
  ...EXPORT_ERRORS,
  SchemaRegistryError,
  FileSourceError,
  DemoDatabaseRefusedError,
  ReplayInterruptedError,
  kafkajs.KafkaJSError,
];

export async function runAgentkStates(args: CliArgs, io: CliIo): Promise<ExitCode> {
  const releasers: Releaser[] = [];
  try {
    // First, so that /readyz answers (503) while the run prepares, and /healthz from the start.
    const metrics = args.metrics ? await serveMetrics(args.metrics, io, releasers) : undefined;
    const target = args.databaseUrl ? await openPool(args.databaseUrl, 'target', 4) : await openEmbedded(args.dataDir, io);
    releasers.push(() => target.end());
    // Every mode, before anything is read or created: this must be GitLab's database.
    const database = args.databaseUrl ? redactUrl(args.databaseUrl) : `the embedded database in ${args.dataDir}`;
    await retryTransient(
      () => withClient(target, (client) => requireGitLabDatabase(client, database)),
      { signal: io.signal, onRetry: logRetry(io.log, 'checking the target database') },
    );
    if (args.mode === 'verify') return await verify(args, io, target);
    if (args.mode === 'dead-letters') return await listDeadLetters(args, io, target);
    // Checks the brokers and our credentials before anything else talks to Kafka (one line within seconds).
    const connectKafka = async (): Promise<Kafka> => {
      if (!args.brokers?.length) throw new UsageError('no Kafka brokers: pass --brokers or set KAFKA_BROKERS');
      return openKafka({ brokers: args.brokers, security: await loadKafkaSecurity(args.kafkaSecurity), log: io.log });
    };
    if (args.mode === 'status') return await status(args, io, target, connectKafka);
    if (args.mode === 'export-events') return await runExportEvents(args, io, target, connectKafka);
    const decode = createWorkspaceDecoder({
      ...(args.schemasDir === undefined ? {} : { catalog: loadSchemaCatalog(args.schemasDir) }),
      ...(args.schemaRegistry === undefined ? {} : { registry: createSchemaRegistrySource(schemaRegistryConfig(args.schemaRegistry)) }),
    });
    if (args.mode === 'explain') return await explain(args, io, target);
    // The demo's data first: a database holding anything else is refused before our schema is created in it.
    if (args.mode === 'demo') await loadDemo(target, io.log);
    // Idempotent, so a connection lost meanwhile (a restarting server, pg_terminate_backend) is retried like any other.
    await retryTransient(
      () => withClient(target, migrate),
      { signal: io.signal, onRetry: logRetry(io.log, 'preparing the target database') },
    );
    // Only the modes that use Kafka connect to it (a rollback must not fail because a broker is down).
    const usesKafka = args.brokers?.length && args.source !== 'file' && ['rebuild', 'switch', 'follow', 'replay'].includes(args.mode);
    const kafka = usesKafka ? { kafka: await connectKafka(), topics: args.topics, groupId: args.group } : undefined;
    switch (args.mode) {
      case 'rollback':
        io.report(describeRollback(await rollbackRebuilds(target, AGENTK_STATES_PROJECTION, { to: args.rollbackTo })));
        return ExitCode.ok;
      case 'preview': {
        const preview = await previewShadow(target, AGENTK_STATES_PROJECTION);
        for (const line of args.json ? [previewJson(preview)] : previewText(preview)) io.report(line);
        return ExitCode.ok;
      }
      case 'rebuild':
      case 'switch':
        return await rebuild(args, io, target, kafka, releasers, decode, metrics);
      case 'follow':
      case 'replay': {
        if (args.sourceFile !== undefined) {
          const file = await readableFile(args.sourceFile);
          return await consume(args, io, target, 'file', undefined, (_, generator) => replayFile(args, io, target, file, decode, generator));
        }
        if (!kafka) throw new UsageError('no Kafka brokers: pass --brokers or set KAFKA_BROKERS');
        const start = args.mode === 'follow' ? { kind: 'checkpoints' as const } : replayStart(args);
        return await consume(args, io, target, 'kafka', metrics, (observer, generator) => replayKafka(args, io, target, kafka.kafka, start, decode, observer, generator));
      }
      case 'demo': {
        const start = await demoStart(target);
        const demo: CliArgs = { ...args, source: 'file', sourceFile: start.file.path, mode: start.resume ? 'replay' : 'rebuild', fromCheckpoint: start.resume };
        const code = start.resume
          ? await consume(demo, io, target, 'file', undefined, (_, generator) => replayFile(demo, io, target, start.file, decode, generator))
          : await rebuild(demo, io, target, undefined, releasers, decode, metrics);
        for (const line of await demoSummary(target, start, demoDatabase(args))) io.report(line);
        return code;
      }
      case 'retry-dead-letters':
      case 'purge-dead-letters':
        return await workOffDeadLetters(args, io, target, decode);
      default:
        return args.mode satisfies 'dead-letters' | 'status';
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.log.fatal(`${error.message} (see --help)`, { exitCode: ExitCode.usage });
      return ExitCode.usage;
    }
    if (OPERATIONAL_ERRORS.some((type) => error instanceof type)) {
      io.log.fatal((error as Error).message, { exitCode: ExitCode.couldNotRun, err: error });
      return ExitCode.couldNotRun;
    }
    throw error;
  } finally {
    for (const release of releasers.reverse()) await release();
  }
}

/** No database URL: the embedded PostgreSQL in `dataDir` (created on first use), said on stderr. */
async function openEmbedded(dataDir: string, io: CliIo): Promise<Database> {
  const db = await openEmbeddedDatabase({ dataDir });
  io.log.info(
    `no --database-url or DATABASE_URL: using the embedded PostgreSQL in ${db.dataDir}` +
      `${db.created ? " (created, with GitLab's tables)" : ''}; one process at a time, not for production`,
    { dataDir: db.dataDir, created: db.created },
  );
  return db;
}

async function serveMetrics(options: NonNullable<CliArgs['metrics']>, io: CliIo, releasers: Releaser[]): Promise<Metrics> {
  // Loaded only with --metrics: prom-client is a tenth of the CLI's startup, which every other run would pay.
  const { Metrics } = await import('../ops/metrics.js');
  const metrics = new Metrics({ readyMaxLag: options.readyMaxLag });
  const server = await startOpsServer({ ...options, registry: metrics.registry, readiness: metrics.readiness });
  releasers.push(() => server.close());
  io.log.info(`serving /metrics, /healthz and /readyz on ${server.address.host}:${server.address.port}`, server.address);
  return metrics;
}

/**
 * `--status`: read-only (no migration). When Kafka is configured but could not be read, the report still comes
 * (without the lag), and the reason is the one line on stderr of an exit 1.
 */
async function status(args: CliArgs, io: CliIo, target: Database, connectKafka: () => Promise<Kafka>): Promise<ExitCode> {
  const report = await statusReport(target, AGENTK_STATES_PROJECTION, args.brokers?.length ? { connect: connectKafka, topics: args.topics } : undefined);
  for (const line of report.lines) io.report(line);
  if (report.kafkaError === undefined) return ExitCode.ok;
  io.log.fatal(report.kafkaError.message, { exitCode: ExitCode.couldNotRun, err: report.kafkaError });
  return ExitCode.couldNotRun;
}

/** `--verify`: read-only, so no migration and no table creation; one dedicated connection, one snapshot. */
async function verify(args: CliArgs, io: CliIo, target: Database): Promise<ExitCode> {
  const report = await withGenerator({ workers: args.workers }, (generator) =>
    withClient(target, (client) =>
      verifyAgentkStates(client, { batchSize: args.batchSize, agentConfigMode: args.agentConfigMode, sample: args.sample, signal: io.signal, generator }),
    ),
  );
  for (const line of args.json ? [verifyJson(report)] : verifyText(report)) io.report(line);
  return isClean(report) ? ExitCode.ok : ExitCode.finishedWithDeadLetters;
}

/** `--explain`: read-only like --verify; exit 2 when it names problems (dead letters, drift, disagreement). */
async function explain(args: CliArgs, io: CliIo, target: Database): Promise<ExitCode> {
  const workspaceId = args.explainWorkspaceId!;
  const report = await withClient(target, (client) =>
    explainWorkspace(client, { projection: AGENTK_STATES_PROJECTION, workspaceId, agentConfigMode: args.agentConfigMode }),
  );
  for (const line of args.json ? [explainJson(report)] : explainText(report)) io.report(line);
  return explainProblems(report).length === 0 ? ExitCode.ok : ExitCode.finishedWithDeadLetters;
}

function describeRollback(result: RollbackResult): string {
  const ids = result.undone.map((u) => `#${u.rebuild.id}`);
  const oldest = result.undone.at(-1)!.rebuild.id;
  const what =
    result.undone.length === 1
      ? `restored ${result.restored} rows changed by rebuild ${ids[0]}`
      : `restored ${result.restored} rows changed by rebuilds ${ids.join(', ')} (undone latest first): the table is as it was before rebuild #${oldest} switched`;
  const left = result.remaining.length > 0 ? `; earlier switches that can still be undone: ${result.remaining.map((id) => `#${id}`).join(', ')}` : '';
  return `agentk-states rollback: ${what}${left}`;
}

function replayStart(args: CliArgs): ReplayStart {
  if (args.fromOffset) return { kind: 'offsets', offsets: args.fromOffset };
  if (args.fromTimestamp !== undefined) return { kind: 'timestamp', timestampMs: args.fromTimestamp };
  if (args.fromBeginning) return { kind: 'beginning' };
  return { kind: 'checkpoints' };
}

/** What the rebuild reads: --switch lets the built rebuild's own source decide (it may catch up with Kafka). */
function rebuildPlan(
  args: CliArgs,
  inputs: { sourceDb: Database; kafka: RebuildStream | undefined; handoff: boolean; file: EventFile | undefined },
): RebuildPlan {
  if (args.mode === 'switch') return { from: 'built', stream: inputs.kafka };
  if (args.source === 'snapshot') return { from: 'snapshot', sourceDb: inputs.sourceDb, handoff: inputs.handoff ? inputs.kafka : undefined };
  if (args.source === 'file') return { from: 'file', file: inputs.file };
  if (!inputs.kafka) throw new UsageError('no Kafka brokers: pass --brokers or set KAFKA_BROKERS (or rebuild with --source snapshot)');
  return { from: 'kafka', stream: inputs.kafka };
}

async function rebuild(
  args: CliArgs,
  io: CliIo,
  target: Database,
  kafka: { kafka: Kafka; topics: string[]; groupId: string } | undefined,
  releasers: Releaser[],
  decode: WorkspaceDecoder,
  metrics: Metrics | undefined,
): Promise<ExitCode> {
  if (args.follow && !kafka) throw new UsageError('--follow hands off to Kafka: pass --brokers or set KAFKA_BROKERS');
  const sourceDb = args.source === 'snapshot' && args.sourceDatabaseUrl ? await openPool(args.sourceDatabaseUrl, 'source', 2) : target;
  if (sourceDb !== target) releasers.push(() => sourceDb.end());
  // A snapshot rebuild hands off to Kafka when asked to follow, or when a consumer has been applying events
  // to the live table (it has checkpoints): the switched-in table must then contain what that consumer applied.
  const handoff =
    args.source === 'kafka' || (args.source === 'snapshot' && (args.follow || (kafka !== undefined && (await readCheckpoints(target, AGENTK_STATES_PROJECTION, kafka.topics)).length > 0)));
  const file = args.sourceFile === undefined ? undefined : await readableFile(args.sourceFile);
  const plan = rebuildPlan(args, { sourceDb, kafka, handoff, file });
  const runId = await recordRunStart(target, io, { projection: AGENTK_STATES_PROJECTION, mode: args.mode, source: args.source });
  const progress = createProgressReporter({ statusLine: io.progress.statusLine, log: io.log, phases: REBUILD_PHASES });
  try {
    const guard = args.fingerprint !== undefined || args.maxRestarts !== undefined ? { fingerprint: args.fingerprint, maxRestarts: args.maxRestarts } : undefined;
    // Closed once the rebuild ends: a --follow hand-off opens its own (consume), of --workers' follow default.
    // A --switch builds nothing: no workers for it.
    const result = await withGenerator({ workers: plan.from === 'built' ? 1 : args.workers }, (generator) =>
      runRebuild({
        db: target,
        projection: AGENTK_STATES_PROJECTION,
        plan,
        batchSize: args.batchSize,
        agentConfigMode: args.agentConfigMode,
        decode,
        signal: io.signal,
        log: io.log,
        onProgress: (sample) => {
          progress.update(sample);
          metrics?.rebuildProgress(sample);
        },
        until: args.noSwitch ? 'built' : 'switched',
        guard,
        rollbackHistory: args.rollbackHistory,
        generator,
      }),
    );
    progress.finish();
    metrics?.rebuildEnded(result.outcome);
    if (result.outcome === 'built') {
      const problems = result.failed + result.parked.workspaces;
      await finishRun(target, runId, problems > 0 ? 'succeeded_with_dead_letters' : 'succeeded', { written: 0, unchanged: 0, failed: result.failed });
      if (result.parked.workspaces > 0) {
        io.log.warn(`${describeParked(result.parked)}; they have no rebuilt row, and a switch would keep their live rows`, { rebuildId: result.rebuild.id });
      }
      // The preview of the shadow just built, read after the rebuild lock is released (it takes none).
      const preview = await previewShadow(target, AGENTK_STATES_PROJECTION);
      const build = { resumed: result.resumed, failed: result.failed, parked: result.parked.workspaces, build_s: Number((result.buildMs / 1000).toFixed(1)) };
      if (args.json) io.report(previewJson(preview, { build }));
      else {
        io.report(
          `agentk-states rebuild #${result.rebuild.id} from ${result.rebuild.source}${result.resumed ? ' (resumed)' : ''}: shadow built, not switched (--no-switch); ` +
            `${result.failed} failed (dead letters); build ${build.build_s.toFixed(1)} s`,
        );
        for (const line of previewText(preview)) io.report(line);
      }
      return problems > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
    }
    const { rebuild: r, switched } = result;
    const written = switched.inserted + switched.updated;
    const rows = switched.unchanged + written;
    const { parked } = result;
    // Exit 2 while any dead letter is left (also older ones this rebuild did not clear), or workspaces stay parked.
    const deadLetters = await countDeadLetters(target, AGENTK_STATES_PROJECTION);
    const problems = deadLetters + parked.workspaces;
    await finishRun(target, runId, problems > 0 ? 'succeeded_with_dead_letters' : 'succeeded', { written, unchanged: switched.unchanged, failed: result.failed });
    const buildS = result.buildMs / 1000;
    io.report(
      `agentk-states rebuild #${r.id} from ${r.source}${plan.from === 'built' ? ' (switched as previewed)' : result.resumed ? ' (resumed)' : ''}: ${rows + result.failed} workspaces, ` +
        `${written} written, ${switched.unchanged} unchanged, ${switched.deleted} deleted, ${result.failed} failed (dead letters), ` +
        `${switched.kept} live rows kept without a rebuilt row; ` +
        `build ${buildS.toFixed(1)} s (${buildRate(result.generated, buildS, result.resumed)}), switch ${(result.switchMs / 1000).toFixed(1)} s` +
        (result.impact ? `; ${result.impact.counts.restartRunning} running workspaces restarted, fingerprint ${result.impact.fingerprint}` : '') +
        (deadLetters > 0 ? `; ${await deadLettersInTotal(target, deadLetters)}` : ''),
    );
    if (parked.workspaces > 0) {
      io.log.warn(`${describeParked(parked)}; they have no rebuilt row and their live rows were kept. Rebuild with --source snapshot`, { rebuildId: r.id });
    }
    if (args.follow && kafka) {
      return await consume(args, io, target, 'kafka', metrics, (observer, generator) => replayKafka(args, io, target, kafka.kafka, { kind: 'checkpoints' }, decode, observer, generator));
    }
    return problems > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
  } catch (error) {
    progress.finish({ complete: false });
    await recordFailedRun(target, runId, error, io.log);
    throw error;
  }
}

/** This run's own build rate: a resumed run's earlier work (or a --switch's, which builds nothing) is not in it. */
function buildRate(generated: number, buildS: number, resumed: boolean): string {
  return generated === 0 && resumed ? 'built by an earlier run' : `${Math.round(generated / Math.max(buildS, 0.001))} workspaces/s`;
}

/**
 * Records a failed run without replacing why it failed. When the failure was lost database connections, the
 * first attempt can get one the pool has not discarded yet, so a transient failure is tried once more.
 */
async function recordFailedRun(target: Database, runId: number, error: unknown, log: CliLogger): Promise<void> {
  const record = () => finishRun(target, runId, 'failed', { written: 0, unchanged: 0, failed: 0 }, (error as Error).message);
  try {
    // The failure may have been the database dropping our connections: the pool's other clients can be
    // broken too, so retry (transient only) for a few seconds rather than once.
    await retryTransient(record, { initialDelayMs: 50, signal: AbortSignal.timeout(10_000) });
  } catch (recordError) {
    log.error(`could not record run ${runId} as failed: ${(recordError as Error).message}`, { runId, err: recordError });
  }
}

function replayKafka(
  args: CliArgs,
  io: CliIo,
  target: Database,
  kafka: Kafka,
  start: ReplayStart,
  decode: WorkspaceDecoder,
  observer: ConsumerObserver | undefined,
  generator: Generator,
): Promise<ReplayTotals> {
  return runKafkaReplay({
    kafka,
    db: target,
    projection: AGENTK_STATES_PROJECTION,
    topics: args.topics,
    groupId: args.group,
    follow: args.follow,
    start,
    agentConfigMode: args.agentConfigMode,
    sink: liveAgentkStates,
    decode,
    signal: io.signal,
    log: io.log,
    observer,
    generator,
  });
}

/** `--source file:PATH` with --from-checkpoint or --from-beginning: the file's records past (or from) the checkpoints. */
function replayFile(args: CliArgs, io: CliIo, target: Database, file: EventFile, decode: WorkspaceDecoder, generator: Generator): Promise<ReplayTotals> {
  const start = args.fromBeginning ? 'beginning' : 'checkpoints';
  return runFileReplay({
    db: target, projection: AGENTK_STATES_PROJECTION, file, start, agentConfigMode: args.agentConfigMode, sink: liveAgentkStates, decode, batchSize: args.batchSize, signal: io.signal, log: io.log, generator,
  });
}

/** Where the demo's data is, and the flags that reach it again. */
function demoDatabase(args: CliArgs): { description: string; flags: string } {
  if (args.databaseUrl === undefined) return { description: `the embedded PostgreSQL in ${args.dataDir}`, flags: `--data-dir ${args.dataDir}` };
  // Printed: the password and any other query parameter (sslpassword, …) left out, as in every message.
  const url = redactUrl(args.databaseUrl);
  return { description: `the database ${url}`, flags: `--database-url ${url}` };
}

/** `--source file:PATH`: refused at once (exit 1, one line) when it cannot be read, before any run is recorded. */
async function readableFile(path: string): Promise<EventFile> {
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new FileSourceError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  return eventFile(path);
}

/** Records a run's start, retried like the statements after it: a lost connection must not end a run before it starts. */
function recordRunStart(target: Database, io: CliIo, run: Parameters<typeof startRun>[1]): Promise<number> {
  return retryTransient(() => startRun(target, run), { signal: io.signal, onRetry: logRetry(io.log, 'recording the run') });
}

/**
 * Follow or replay (Kafka, or a file) into the live table, recorded as a run; the result is one line. Its
 * batches generate through a generator of `args.followWorkers` threads, opened here and closed however the run
 * ends. A worker that dies fails the batch it held, or the next one (the pool stays failed: GenerationWorkerError,
 * not retried), and so stops the run with one line naming the worker and the batch (exit 1).
 */
async function consume(
  args: CliArgs,
  io: CliIo,
  target: Database,
  source: 'kafka' | 'file',
  metrics: Metrics | undefined,
  run: (observer: ConsumerObserver | undefined, generator: Generator) => Promise<ReplayTotals>,
): Promise<ExitCode> {
  const mode = args.follow ? 'follow' : 'replay';
  const runId = await recordRunStart(target, io, { projection: AGENTK_STATES_PROJECTION, mode, source });
  const started = performance.now();
  // A follower says it is alive (lag, rate, totals) every --heartbeat-interval; a replay that ends needs none.
  // It reads the lag of the metrics' ConsumerState when they are served: one copy of where the consumer stands.
  const consumer = args.follow && args.heartbeatIntervalS > 0 ? (metrics?.consumer ?? new ConsumerState()) : undefined;
  const heartbeat = consumer && new Heartbeat(io.log, consumer);
  const beating = heartbeat && setInterval(() => heartbeat.beat(), args.heartbeatIntervalS * 1000);
  beating?.unref();
  try {
    const observer = observeAll(metrics?.observer ?? consumer, heartbeat);
    const totals = await withGenerator({ workers: args.followWorkers }, (generator) => run(observer, generator));
    // A follower's stop is its normal end. A replay (or a file) stopped by a signal returns what it committed,
    // which need not reach the end offsets read at start: never report that as done.
    if (!args.follow && io.signal.aborted) {
      throw new ReplayInterruptedError(
        `${source} replay stopped by a signal after ${totals.consumed} events, before it was known to reach the end: ` +
          'what it applied is committed; run again with --from-checkpoint to finish',
      );
    }
    const deadLetters = await countDeadLetters(target, AGENTK_STATES_PROJECTION);
    // Exit 2 while any dead letter is left (README, exit codes): not this run's count, which also holds letters
    // a later event cleared (a workspace deleted from GitLab before its tombstone arrived), nor only new ones.
    const unresolved = deadLetters;
    await finishRun(target, runId, unresolved > 0 ? 'succeeded_with_dead_letters' : 'succeeded', totals);
    const seconds = (performance.now() - started) / 1000;
    io.report(
      `agentk-states ${source} ${mode}: ${totals.consumed} events, ${totals.written} written, ${totals.unchanged} unchanged, ` +
        `${totals.deleted} deleted, ${totals.parked} parked, ${totals.failed} failed, ${totals.held} held, ${totals.skipped} already applied, ` +
        `${seconds.toFixed(1)} s; ${await deadLettersInTotal(target, deadLetters)}`,
    );
    return unresolved > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
  } catch (error) {
    await recordFailedRun(target, runId, error, io.log);
    throw error;
  } finally {
    clearInterval(beating);
  }
}
