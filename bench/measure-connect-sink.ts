/**
 * Row 8's baseline (issue 12): what a user would otherwise assemble, a Kafka Connect 4.1 standalone worker
 * with Debezium's JDBC sink 3.3.1.Final, upserting the N final rows, already computed, from a topic into an
 * empty `workspace_agentk_states`. bench/connect/README.md says how it is set up and why.
 *
 * Untimed, before: the jars are fetched; the rows of (c)'s COPY CSV (measure-generate.ts) are produced into a
 * fresh topic (keyed by workspace_id) as Connect JSON with schemas; they are COPYed once into a scratch table
 * (measure-copy.ts), which gives the expected checksum and a raw COPY time of the same rows; CHECKPOINT.
 * Timed: from spawning the worker (its connector file given at start, as a user runs it) until count(*) = N,
 * polled every 100 ms. Start-up = spawn → every task RUNNING (REST API); sink = the rest of the wall time.
 * After: the worker is stopped (SIGTERM), the checksum compared, the table emptied again, the topic deleted.
 *
 * On its own (after `npm run build`): node dist/bench/measure-connect-sink.js --n 20000 [--tasks 1,4] …
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import {
  benchKafka,
  cpuSince,
  cpuSnapshot,
  databaseUrl,
  dropDatabase,
  ensureBroker,
  processCpuSeconds,
  recreateDatabase,
  REPO_ROOT,
  waitForKafka,
  type CpuUsage,
} from './environment.js';
import { createBenchTopic, deleteBenchTopics } from './load-kafka.js';
import { loadGitlabDatabase, summarizeReadModel } from './load-postgres.js';
import { COPY_TABLE, dropCopyTable, measureCopy } from './measure-copy.js';
import { measureGenerate } from './measure-generate.js';

const run = promisify(execFile);

const CONNECT_DIR = path.join(REPO_ROOT, 'bench', 'connect');
const CONNECT_SCRIPT = path.join(CONNECT_DIR, 'connect.sh');
const CONNECT_CACHE = path.join(REPO_ROOT, '.cache', 'connect');
const POLL_MS = 100;
/** The sink's sessions' application_name (on its JDBC URL): finds its backends for their CPU. */
const SINK_APPLICATION = 'rebuild-projection bench (connect sink)';
/** About what one produce request carries in load-kafka.ts (batch.size 1 MB). */
const SEND_BYTES = 1024 * 1024;

export class ConnectSinkError extends Error {
  override readonly name = 'ConnectSinkError';
}

export interface ConnectSinkOptions {
  /** Kafka bootstrap servers, `host:port,…`. */
  brokers: string;
  /** A GitLab-shaped database (load-postgres.ts) holding the rows' `workspaces`; `workspace_agentk_states` must be empty. */
  databaseUrl: string;
  /** (c)'s COPY CSV of the N final rows: `workspace_id,project_id,"desired_config",created_at,updated_at`. */
  copyFile: string;
  /** Unique to this measurement: names the topic, the connector and its consumer group. */
  runId: string;
  /** Partitions of the topic (default 4, the benchmark's). */
  partitions?: number;
  /** The connector's tasks.max (default 4: one per partition; measured at least as fast as 1, see bench/connect/README.md). */
  tasks?: number;
  /** The sink's batch.size, and the tasks' consumer max.poll.records so that one poll fills one batch (default 500, both defaults: 2000 was not measurably faster). */
  batchSize?: number;
  /** pgjdbc's reWriteBatchedInserts: a batch of upserts sent as multi-row INSERTs (default true). */
  rewriteBatchedInserts?: boolean;
  /** default_toast_compression = lz4 for the sink's sessions, as the rebuilder sets for its own (default true). */
  lz4Toast?: boolean;
  /** Gives up (and stops the worker) after this long (default 600 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface ConnectSinkResult {
  rows: number;
  /** Spawning the worker → all N rows visible: what a user waits for. */
  wallMs: number;
  /** Spawning the worker → every task RUNNING (JVM start, plugin loading, connector and tasks started). */
  startupMs: number;
  /** Spawning the worker → the first row visible. */
  firstRowMs: number;
  /** The sink's own time: every task RUNNING → all N rows visible (consumer group join included). */
  sinkMs: number;
  /** rows / wall time, and rows / sink time. */
  rowsPerSecond: number;
  sinkRowsPerSecond: number;
  /** md5 over md5(desired_config::text) in workspace order (load-postgres.ts), of the sink's rows and of the CSV's. */
  checksum: string;
  expectedChecksum: string;
  checksumMatches: boolean;
  /** A raw COPY of the same CSV into a scratch table, in the same run (measure-copy.ts): the sink's floor. */
  copyMs: number;
  /** Rows of the sink's result by pg_column_compression(desired_config) ('none': not compressed). */
  toastCompression: Record<string, number>;
  /** Key + value bytes produced into the topic (untimed), and how long producing took. */
  topicBytes: number;
  produceMs: number;
  /**
   * CPU over the wall time: the worker's JVM (and how much of it by the end of start-up); the sink's own PostgreSQL sessions (its backends, found by
   * application_name; exact, where postgresSeconds counts every database's backends, other work's too);
   * and the machine's (all PostgreSQL, the broker when known, all cores).
   */
  cpu: CpuUsage & { jvmSeconds: number; jvmStartupSeconds: number; sinkBackendSeconds: number };
  /** The worker's and the connector's properties as run (no secrets: the database password is masked). */
  workerConfig: Record<string, string>;
  connectorConfig: Record<string, string>;
  versions: { connect: string; debeziumJdbc: string };
}

// ---------------------------------------------------------------------------------------------------------
// The rows: (c)'s COPY CSV → Connect JSON records
// ---------------------------------------------------------------------------------------------------------

interface FinalRow {
  workspaceId: number;
  projectId: number;
  desiredConfig: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * A line of measure-generate.ts's CSV. desired_config is JSON.stringify output, which never holds a raw
 * newline, so one row is one line; a line of any other shape is refused, not skipped.
 */
const CSV_LINE = /^(\d+),(\d+),"((?:[^"]|"")*)",([^,"]+),([^,"]+)$/;

async function* readCopyCsv(file: string): AsyncGenerator<FinalRow> {
  const lines = createInterface({ input: createReadStream(file, { highWaterMark: 1024 * 1024 }), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    const match = CSV_LINE.exec(line);
    if (!match) throw new ConnectSinkError(`${file}:${lineNumber}: not a row of measure-generate.ts's COPY CSV: ${line.slice(0, 80)}`);
    yield {
      workspaceId: Number(match[1]),
      projectId: Number(match[2]),
      desiredConfig: match[3]!.replaceAll('""', '"'),
      createdAt: match[4]!,
      updatedAt: match[5]!,
    };
  }
}

/**
 * Connect's JSON-with-schema envelopes, as the JsonConverter reads them. desired_config is Debezium's
 * `io.debezium.data.Json` with the source column type JSONB, so the sink binds it as `cast(? as jsonb)`
 * (without that parameter it casts to json, and PostgreSQL converts once more); the timestamps are
 * Debezium's ZonedTimestamp (ISO-8601 text), its type for timestamptz.
 */
const KEY_SCHEMA = JSON.stringify({
  type: 'struct',
  name: 'workspace_agentk_states.Key',
  optional: false,
  fields: [{ field: 'workspace_id', type: 'int64', optional: false }],
});
const ZONED_TIMESTAMP = { type: 'string', optional: false, name: 'io.debezium.time.ZonedTimestamp', version: 1 };
const VALUE_SCHEMA = JSON.stringify({
  type: 'struct',
  name: 'workspace_agentk_states.Value',
  optional: false,
  fields: [
    { field: 'workspace_id', type: 'int64', optional: false },
    { field: 'project_id', type: 'int64', optional: false },
    { field: 'desired_config', type: 'string', optional: false, name: 'io.debezium.data.Json', version: 1, parameters: { '__debezium.source.column.type': 'JSONB' } },
    { field: 'created_at', ...ZONED_TIMESTAMP },
    { field: 'updated_at', ...ZONED_TIMESTAMP },
  ],
});

function connectRecord(row: FinalRow): Message {
  const payload = { workspace_id: row.workspaceId, project_id: row.projectId, desired_config: row.desiredConfig, created_at: row.createdAt, updated_at: row.updatedAt };
  return {
    key: `{"schema":${KEY_SCHEMA},"payload":{"workspace_id":${row.workspaceId}}}`,
    value: `{"schema":${VALUE_SCHEMA},"payload":${JSON.stringify(payload)}}`,
  };
}

/** Produces every row of the CSV, keyed by workspace_id with the Java client's partitioner, ~1 MB per awaited send. */
async function produceRows(kafka: Kafka, topic: string, copyFile: string): Promise<{ rows: number; bytes: number }> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  let rows = 0;
  let bytes = 0;
  try {
    let pending: Message[] = [];
    let pendingBytes = 0;
    for await (const row of readCopyCsv(copyFile)) {
      const message = connectRecord(row);
      const size = Buffer.byteLength(message.key as string) + Buffer.byteLength(message.value as string);
      pending.push(message);
      pendingBytes += size;
      bytes += size;
      rows++;
      if (pendingBytes >= SEND_BYTES) {
        await producer.send({ topic, acks: -1, messages: pending });
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pending.length > 0) await producer.send({ topic, acks: -1, messages: pending });
  } finally {
    await producer.disconnect();
  }
  return { rows, bytes };
}

// ---------------------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------------------

/** Fills a template of bench/connect/ (`@UPPER_CASE@` placeholders); every placeholder must have a value. */
function renderTemplate(template: string, values: Record<string, string>): { text: string; properties: Record<string, string> } {
  const file = path.join(CONNECT_DIR, template);
  const text = readFileSync(file, 'utf8').replace(/@([A-Z_]+)@/g, (placeholder, name: string) => {
    const value = values[name];
    if (value === undefined) throw new ConnectSinkError(`${file}: no value for the placeholder ${placeholder}`);
    return value;
  });
  const properties: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([^#=\s][^=]*)=(.*)$/.exec(line);
    if (match) properties[match[1]!.trim()] = match[2]!.trim();
  }
  return { text, properties };
}

/** pgjdbc's URL for a postgres:// URL, with the sink's driver settings. */
function jdbcUrl(url: URL, rewriteBatchedInserts: boolean, lz4Toast: boolean): string {
  const params = new URLSearchParams({ reWriteBatchedInserts: String(rewriteBatchedInserts), ApplicationName: SINK_APPLICATION });
  if (lz4Toast) params.set('options', '-c default_toast_compression=lz4');
  return `jdbc:postgresql://${url.hostname}:${url.port || '5432'}${url.pathname}?${params.toString()}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new ConnectSinkError('could not pick a free port for the worker\'s REST API');
  return address.port;
}

/** The version in the name of the one jar matching `prefix<version>.jar` in a fetched directory. */
function jarVersion(dir: string, prefix: string): string {
  const jar = readdirSync(dir).find((file) => file.startsWith(prefix) && file.endsWith('.jar'));
  if (!jar) throw new ConnectSinkError(`no ${prefix}*.jar in ${dir} (bench/connect/connect.sh fetch)`);
  return jar.slice(prefix.length, -'.jar'.length);
}

const taskState = z.object({ state: z.string(), trace: z.string().optional() });
const connectorStatus = z.object({ connector: taskState, tasks: z.array(taskState.extend({ id: z.number() })) });

/** The connector's status from the REST API; undefined while the worker does not answer or knows no connector yet. */
async function readStatus(port: number, name: string): Promise<z.infer<typeof connectorStatus> | undefined> {
  let response: Response;
  try {
    response = await fetch(`http://127.0.0.1:${port}/connectors/${encodeURIComponent(name)}/status`, { signal: AbortSignal.timeout(2_000) });
  } catch {
    return undefined; // not listening yet (start-up) or too busy to answer within 2 s: asked again next poll
  }
  if (response.status === 404) return undefined;
  if (!response.ok) throw new ConnectSinkError(`the worker's REST API answered ${response.status} for connector ${name}: ${(await response.text()).slice(0, 200)}`);
  const parsed = connectorStatus.safeParse(await response.json());
  if (!parsed.success) throw new ConnectSinkError(`unexpected connector status from the worker's REST API: ${parsed.error.message}`);
  return parsed.data;
}

/** A sink connector's consumer group (Connect names it connect-<connector>), left empty once the worker stopped. */
async function deleteSinkGroup(kafka: Kafka, connectorName: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const group = `connect-${connectorName}`;
    if (groups.some((g) => g.groupId === group)) await admin.deleteGroups([group]);
  } finally {
    await admin.disconnect();
  }
}

/** The worker log's first error line (else its last line): what a failure message shows. */
function firstLogError(file: string): string {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const errors = lines.filter((line) => /ERROR|Exception/.test(line));
  return (errors.at(0) ?? lines.at(-1) ?? '(empty log)').slice(0, 300);
}

async function stopWorker(worker: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return;
  worker.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 30_000)))]);
  clearTimeout(timer); // a pending 30 s timer would keep this process alive after the last run
  if (!stopped) {
    worker.kill('SIGKILL');
    await exited;
  }
}

interface TimedRun {
  wallMs: number;
  startupMs: number;
  firstRowMs: number;
  cpu: CpuUsage & { jvmSeconds: number; jvmStartupSeconds: number; sinkBackendSeconds: number };
}

/**
 * Spawns the worker and polls every 100 ms, the REST API (task states) and count(*), until all rows are
 * visible; then stops the worker. A task that fails, a worker that exits and the deadline end it with an error.
 */
async function runWorkerUntil(
  workerFile: string,
  connectorFile: string,
  logFile: string,
  target: { restPort: number; name: string; tasks: number; rows: number; timeoutMs: number; count: () => Promise<number>; sinkBackendPids: () => Promise<number[]> },
  log: (line: string) => void,
): Promise<TimedRun> {
  const logFd = openSync(logFile, 'w');
  const before = cpuSnapshot();
  const spawnedAt = performance.now();
  // connect.sh execs the JVM: the child's pid is the worker's, for its CPU.
  const child = spawn('bash', [CONNECT_SCRIPT, 'run', workerFile, connectorFile], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let startupMs: number | undefined;
  let jvmStartupSeconds: number | undefined;
  let firstRowMs: number | undefined;
  try {
    for (;;) {
      const tick = performance.now();
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new ConnectSinkError(`the Connect worker exited (${child.exitCode ?? child.signalCode}) before the rows were in: ${firstLogError(logFile)} (log: ${logFile})`);
      }
      if (tick - spawnedAt > target.timeoutMs) {
        throw new ConnectSinkError(`${target.rows} rows not in after ${target.timeoutMs / 1000} s (${await target.count()} are; log: ${logFile})`);
      }
      const [status, rows] = await Promise.all([readStatus(target.restPort, target.name), target.count()]);
      const failed = status?.tasks.find((task) => task.state === 'FAILED') ?? (status?.connector.state === 'FAILED' ? status.connector : undefined);
      if (failed) throw new ConnectSinkError(`the connector failed: ${failed.trace?.split('\n')[0] ?? 'no trace'} (log: ${logFile})`);
      const now = performance.now() - spawnedAt;
      if (startupMs === undefined && status?.tasks.length === target.tasks && status.tasks.every((task) => task.state === 'RUNNING')) {
        startupMs = now;
        jvmStartupSeconds = child.pid === undefined ? undefined : processCpuSeconds(child.pid);
      }
      if (firstRowMs === undefined && rows > 0) firstRowMs = now;
      if (rows >= target.rows) {
        const cpu = cpuSince(before);
        const jvmSeconds = child.pid === undefined ? undefined : processCpuSeconds(child.pid);
        if (jvmSeconds === undefined) throw new ConnectSinkError('the Connect worker\'s CPU could not be read from /proc');
        const sinkBackendSeconds = (await target.sinkBackendPids()).reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
        // Tasks RUNNING and every row in within one poll: start-up ended within that poll.
        return { wallMs: now, startupMs: startupMs ?? now, firstRowMs: firstRowMs ?? now, cpu: { ...cpu, jvmSeconds, jvmStartupSeconds: jvmStartupSeconds ?? jvmSeconds, sinkBackendSeconds } };
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (performance.now() - tick))));
    }
  } finally {
    const stopping = performance.now();
    await stopWorker(child, exited);
    log(`  worker stopped in ${((performance.now() - stopping) / 1000).toFixed(1)} s`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The measurement
// ---------------------------------------------------------------------------------------------------------

export async function measureConnectSink(options: ConnectSinkOptions): Promise<ConnectSinkResult> {
  const log = options.log ?? (() => undefined);
  const partitions = options.partitions ?? 4;
  const tasks = options.tasks ?? 4;
  const batchSize = options.batchSize ?? 500;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const name = `bench-connect-sink-${options.runId}`;
  const topic = name;
  const url = new URL(options.databaseUrl);

  await run('bash', [CONNECT_SCRIPT, 'fetch'], { timeout: 15 * 60_000 }).catch((error: Error & { stderr?: string }) => {
    throw new ConnectSinkError(`bench/connect/connect.sh fetch failed: ${error.stderr?.trim().split('\n').at(-1) ?? error.message}`, { cause: error });
  });
  const pluginPath = path.join(CONNECT_CACHE, 'plugins');
  const versions = {
    connect: jarVersion(path.join(CONNECT_CACHE, 'worker'), 'connect-runtime-'),
    debeziumJdbc: jarVersion(path.join(pluginPath, 'debezium-connector-jdbc'), 'debezium-connector-jdbc-'),
  };

  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'rebuild-projection bench (connect sink poll)' });
  await client.connect();
  const kafka = benchKafka(options.brokers, `rebuild-projection-bench-${name}`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'rebuild-projection-connect-'));
  let keepWork = false;
  try {
    const count = async () => Number((await client.query<{ n: string }>('SELECT count(*)::text AS n FROM workspace_agentk_states')).rows[0]?.n ?? 0);
    // The sink's pool keeps its sessions open while the worker runs: their backends' CPU is the sink's PostgreSQL work.
    const sinkBackendPids = async () =>
      (await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [SINK_APPLICATION])).rows.map((row) => row.pid);
    if ((await count()) !== 0) throw new ConnectSinkError('workspace_agentk_states is not empty: the sink must start from an empty table');

    log(`  producing the rows into ${topic} (${partitions} partitions, Connect JSON with schemas) …`);
    const produceStarted = performance.now();
    await createBenchTopic(kafka, topic, partitions);
    const produced = await produceRows(kafka, topic, options.copyFile);
    const produceMs = performance.now() - produceStarted;

    const copy = await measureCopy(options.databaseUrl, options.copyFile, statSync(options.copyFile).size);
    const expected = await summarizeReadModel(options.databaseUrl, COPY_TABLE);
    await dropCopyTable(options.databaseUrl);
    if (copy.rows !== produced.rows) throw new ConnectSinkError(`the CSV gave ${produced.rows} records but COPY read ${copy.rows} rows`);
    await client.query('CHECKPOINT');

    const restPort = await freePort();
    const workerFile = path.join(work, 'worker.properties');
    const connectorFile = path.join(work, 'jdbc-sink.properties');
    const logFile = path.join(work, 'worker.log');
    const worker = renderTemplate('worker.properties.template', {
      BROKERS: options.brokers,
      OFFSETS_FILE: path.join(work, 'connect.offsets'),
      PLUGIN_PATH: pluginPath,
      REST_PORT: String(restPort),
    });
    const connector = renderTemplate('jdbc-sink.properties.template', {
      NAME: name,
      TASKS: String(tasks),
      TOPIC: topic,
      JDBC_URL: jdbcUrl(url, options.rewriteBatchedInserts ?? true, options.lz4Toast ?? true),
      DB_USER: decodeURIComponent(url.username) || 'postgres',
      BATCH_SIZE: String(batchSize),
    });
    if (url.password) {
      connector.text += `connection.password=${decodeURIComponent(url.password)}\n`;
      connector.properties['connection.password'] = '****';
    }
    writeFileSync(workerFile, worker.text);
    writeFileSync(connectorFile, connector.text);

    log(`  starting the Connect worker (tasks.max=${tasks}, batch.size=${batchSize}) …`);
    let timed: TimedRun;
    try {
      timed = await runWorkerUntil(workerFile, connectorFile, logFile, { restPort, name, tasks, rows: produced.rows, timeoutMs, count, sinkBackendPids }, log);
    } catch (error) {
      keepWork = true;
      throw error;
    }

    const summary = await summarizeReadModel(options.databaseUrl);
    // Proves what the sink's sessions really wrote with (lz4 asked on the JDBC URL; null = stored inline, uncompressed).
    const compression = await client.query<{ method: string | null; rows: string }>(
      'SELECT pg_column_compression(desired_config) AS method, count(*)::text AS rows FROM workspace_agentk_states GROUP BY 1 ORDER BY 1',
    );
    await client.query('TRUNCATE workspace_agentk_states');
    await client.query('CHECKPOINT');
    const { wallMs, startupMs } = timed;
    return {
      rows: summary.rows,
      wallMs,
      startupMs,
      firstRowMs: timed.firstRowMs,
      sinkMs: wallMs - startupMs,
      rowsPerSecond: summary.rows / (wallMs / 1000),
      sinkRowsPerSecond: summary.rows / ((wallMs - startupMs) / 1000),
      checksum: summary.checksum,
      expectedChecksum: expected.checksum,
      checksumMatches: summary.checksum === expected.checksum && summary.rows === expected.rows,
      copyMs: copy.elapsedMs,
      toastCompression: Object.fromEntries(compression.rows.map((row) => [row.method ?? 'none', Number(row.rows)])),
      topicBytes: produced.bytes,
      produceMs,
      cpu: timed.cpu,
      workerConfig: worker.properties,
      connectorConfig: connector.properties,
      versions,
    };
  } finally {
    await client.end();
    await deleteBenchTopics(kafka, [topic]).catch((error: Error) => log(`  deleting topic ${topic}: ${error.message}`));
    await deleteSinkGroup(kafka, name).catch((error: Error) => log(`  deleting the consumer group connect-${name}: ${error.message}`));
    if (keepWork) log(`  the worker's files are kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// On its own: node dist/bench/measure-connect-sink.js --n 20000 [--tasks 1,4] [--batch-size 500,2000] …
// ---------------------------------------------------------------------------------------------------------

const CLI_OPTIONS = {
  n: { type: 'string', help: 'workspaces (default: 20000)' },
  k: { type: 'string', help: 'updates per workspace of the workload, whose final rows are measured (default: 3)' },
  seed: { type: 'string', help: 'workload seed (default: 1)' },
  csv: { type: 'string', help: '(c)\'s COPY CSV of the same --n/--k/--seed (default: generated here with measure-generate.ts)' },
  partitions: { type: 'string', help: 'partitions of the topic (default: 4)' },
  tasks: { type: 'string', help: 'tasks.max, or a comma list to try each (default: 4)' },
  'batch-size': { type: 'string', help: 'batch.size = max.poll.records, or a comma list (default: 500)' },
  rewrite: { type: 'string', help: 'reWriteBatchedInserts: true, false or true,false (default: true)' },
  lz4: { type: 'string', help: 'default_toast_compression=lz4 for the sink: true, false or true,false (default: true)' },
  json: { type: 'boolean', help: 'print the results as JSON on stdout' },
  help: { type: 'boolean', help: 'print this help' },
} as const;

function list<T>(text: string | undefined, fallback: T, parse: (item: string) => T | undefined, flag: string): T[] {
  if (text === undefined) return [fallback];
  return text.split(',').map((item) => {
    const value = parse(item.trim());
    if (value === undefined) throw new ConnectSinkError(`--${flag}: "${item}" is not valid (got "${text}")`);
    return value;
  });
}
const positive = (item: string) => (/^\d+$/.test(item) && Number(item) > 0 ? Number(item) : undefined);
const bool = (item: string) => (item === 'true' ? true : item === 'false' ? false : undefined);

function describe(result: ConnectSinkResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const c = result.connectorConfig;
  return [
    `tasks.max=${c['tasks.max']} batch.size=${c['batch.size']} url=${c['connection.url']}`,
    `  wall ${s(result.wallMs)} (${result.rowsPerSecond.toFixed(0)} rows/s) = start-up ${s(result.startupMs)} + sink ${s(result.sinkMs)} (${result.sinkRowsPerSecond.toFixed(0)} rows/s); first row at ${s(result.firstRowMs)}`,
    `  raw COPY of the same rows ${s(result.copyMs)}: wall ${(result.wallMs / result.copyMs).toFixed(2)}×, sink ${(result.sinkMs / result.copyMs).toFixed(2)}× the COPY`,
    `  CPU: JVM ${result.cpu.jvmSeconds.toFixed(1)} s (${result.cpu.jvmStartupSeconds.toFixed(1)} s of it in start-up), the sink's PostgreSQL sessions ${result.cpu.sinkBackendSeconds.toFixed(1)} s (all PostgreSQL ${result.cpu.postgresSeconds.toFixed(1)} s), machine busy ${(result.cpu.machineBusy * 100).toFixed(0)}% of 2 cores`,
    `  desired_config compression: ${Object.entries(result.toastCompression).map(([method, rows]) => `${method} ${rows}`).join(', ')}`,
    `  rows ${result.rows}, checksum ${result.checksum} ${result.checksumMatches ? 'equals the CSV\'s' : `DIFFERS from the CSV's ${result.expectedChecksum}`}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({ args: process.argv.slice(2), options: CLI_OPTIONS, strict: true });
  if (values.help) {
    process.stdout.write(`Usage: node dist/bench/measure-connect-sink.js [options]\n\n${Object.entries(CLI_OPTIONS)
      .map(([flag, spec]) => `  --${flag}${spec.type === 'string' ? ' V' : ''}`.padEnd(20) + spec.help)
      .join('\n')}\n`);
    return 0;
  }
  const [n = 20_000] = list(values.n, 20_000, positive, 'n');
  const [k = 3] = list(values.k, 3, positive, 'k');
  const [seed = 1] = list(values.seed, 1, positive, 'seed');
  const [partitions = 4] = list(values.partitions, 4, positive, 'partitions');
  const runs = list(values.tasks, 4, positive, 'tasks').flatMap((tasks) =>
    list(values['batch-size'], 500, positive, 'batch-size').flatMap((batchSize) =>
      list(values.rewrite, true, bool, 'rewrite').flatMap((rewriteBatchedInserts) =>
        list(values.lz4, true, bool, 'lz4').map((lz4Toast) => ({ tasks, batchSize, rewriteBatchedInserts, lz4Toast })),
      ),
    ),
  );
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[connect-sink ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
  const runId = Date.now().toString(36);
  const database = `rebuild_projection_connect_${runId}`;
  const broker = await ensureBroker(log);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rebuild-projection-connect-rows-'));
  try {
    await waitForKafka(benchKafka(broker.brokers, 'rebuild-projection-bench-connect'));
    log(`creating database ${database} and loading ${n} workspaces …`);
    await recreateDatabase(database);
    const url = databaseUrl(database);
    const spec = { n, k, seed };
    await loadGitlabDatabase(url, spec);
    let copyFile = values.csv;
    if (copyFile === undefined) {
      copyFile = path.join(tmp, 'final-rows.csv');
      log('generating the final rows (measure-generate.ts) …');
      const generated = measureGenerate(spec, copyFile);
      if (generated.failures > 0) log(`  ${generated.failures} workspaces could not be generated: they have no row`);
    }
    const results: ConnectSinkResult[] = [];
    for (const [i, config] of runs.entries()) {
      log(`run ${i + 1}/${runs.length}: ${JSON.stringify(config)}`);
      const result = await measureConnectSink({ brokers: broker.brokers, databaseUrl: url, copyFile, runId: `${runId}-${i}`, partitions, log, ...config });
      results.push(result);
      if (!values.json) process.stdout.write(`${describe(result)}\n`);
    }
    if (values.json) process.stdout.write(`${JSON.stringify({ n, k, seed, partitions, results }, null, 2)}\n`);
    return results.every((result) => result.checksumMatches) ? 0 : 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await dropDatabase(database).catch((error: Error) => log(`dropping ${database}: ${error.message}`));
    await broker.stop().catch((error: Error) => log(`stopping the broker: ${error.message}`));
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`measure-connect-sink: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
