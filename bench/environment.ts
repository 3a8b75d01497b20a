/**
 * The benchmark's surroundings: the Kafka broker (started with scripts/kafka-broker.sh when KAFKA_BROKERS is
 * unset, stopped at the end only if we started it), the dedicated databases, the machine's description, and
 * CPU accounting of the processes that share the machine (rebuilder, PostgreSQL, Kafka).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BROKER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'kafka-broker.sh');
const KAFKA_CACHE = path.join(REPO_ROOT, '.cache', 'kafka');

// ---------------------------------------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------------------------------------

export interface Broker {
  brokers: string;
  /** True when this run started the broker (and so stops it at the end). */
  startedHere: boolean;
  stop: () => Promise<void>;
}

export async function ensureBroker(log: (line: string) => void): Promise<Broker> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    log(`using the Kafka cluster at ${external} (KAFKA_BROKERS)`);
    return { brokers: external, startedHere: false, stop: async () => undefined };
  }
  // `start` is idempotent: it reuses a running broker (and says so on stderr) and prints the address either way.
  const started = await run('bash', [BROKER_SCRIPT, 'start'], { timeout: 15 * 60_000 });
  const brokers = started.stdout.trim().split('\n').pop() ?? '';
  if (started.stderr.includes('already running')) {
    log(`reusing the broker already started by scripts/kafka-broker.sh at ${brokers} (it is left running)`);
    return { brokers, startedHere: false, stop: async () => undefined };
  }
  log(`started a broker with scripts/kafka-broker.sh at ${brokers}`);
  return {
    brokers,
    startedHere: true,
    stop: async () => {
      await run('bash', [BROKER_SCRIPT, 'stop'], { timeout: 120_000 });
    },
  };
}

export function benchKafka(brokers: string, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
    // kafkajs logs retried broker errors (coordinator loading, …) at ERROR; real failures reject the call.
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    requestTimeout: 60_000,
    retry: { initialRetryTime: 200, retries: 10 },
  });
}

/** Waits until the cluster answers metadata requests (an open port is not enough right after start). */
export async function waitForKafka(kafka: Kafka, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error('Kafka did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The Kafka version: from the jars of the broker script, else unknown (an external cluster). */
function kafkaVersion(external: boolean): string {
  if (external) return `the cluster at $KAFKA_BROKERS (version not reported by the Kafka protocol; scripts/kafka-broker.sh pins ${pinnedKafkaVersion()})`;
  const lib = path.join(KAFKA_CACHE, 'lib');
  if (!existsSync(lib)) return 'unknown';
  const jar = readdirSync(lib).find((file) => /^kafka_2\.13-.*\.jar$/.test(file));
  return jar ? `Apache Kafka ${jar.replace(/^kafka_2\.13-/, '').replace(/\.jar$/, '')} (single-node KRaft, scripts/kafka-broker.sh, JVM -Xmx512m)` : 'unknown';
}

/** The Kafka version test/kafka/pom.xml pins for scripts/kafka-broker.sh. */
function pinnedKafkaVersion(): string {
  const pom = path.join(REPO_ROOT, 'test', 'kafka', 'pom.xml');
  const version = existsSync(pom) ? /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'))?.[1] : undefined;
  return version ? `Apache Kafka ${version}` : 'an unknown version';
}

/** The pid of the broker's JVM, for CPU accounting: $BENCH_KAFKA_PID, else scripts/kafka-broker.sh's broker. */
function kafkaPid(): number | undefined {
  const override = Number(process.env.BENCH_KAFKA_PID);
  if (Number.isInteger(override) && override > 0) return existsSync(`/proc/${override}`) ? override : undefined;
  if (process.env.KAFKA_BROKERS?.trim()) return undefined;
  const file = path.join(KAFKA_CACHE, 'broker.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && existsSync(`/proc/${pid}`) ? pid : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------

export const ADMIN_DATABASE_URL = process.env.BENCH_ADMIN_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function recreateDatabase(name: string): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  });
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * BENCH_FOLLOW_LOG_STATEMENTS=1: the server logs every statement of the sessions opened on the bench's own
 * database while on (`log_min_duration_statement = 0`, parameters left out), for a per-statement breakdown
 * of the follow steps from PostgreSQL's log (Debian: /var/log/postgresql/). A database setting, so only
 * sessions opened afterwards log, and nothing else on a shared server.
 */
export async function logStatements(url: string, on: boolean): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  await withAdmin(async (admin) => {
    for (const setting of ['log_min_duration_statement', 'log_parameter_max_length']) {
      await admin.query(on ? `ALTER DATABASE "${name}" SET ${setting} = 0` : `ALTER DATABASE "${name}" RESET ${setting}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------------------

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  kafka: string;
  java: string;
}

export async function describeMachine(pool: pg.Pool, externalKafka: boolean): Promise<MachineDescription> {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  const settingNames = ['shared_buffers', 'work_mem', 'maintenance_work_mem', 'synchronous_commit', 'fsync', 'wal_level', 'max_wal_size', 'checkpoint_timeout', 'wal_compression', 'default_toast_compression', 'autovacuum'];
  const settings = await pool.query<{ name: string; setting: string; unit: string | null }>(
    'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name',
    [settingNames],
  );
  const java = await run('java', ['-version']).then(
    (r) => (r.stderr || r.stdout).split('\n')[0]?.trim() ?? 'unknown',
    () => 'not found',
  );
  return {
    cpuModel,
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: `PostgreSQL ${rows[0]?.server_version ?? 'unknown'}`,
    postgresSettings: Object.fromEntries(settings.rows.map((s) => [s.name, s.unit ? `${s.setting} (${s.unit})` : s.setting])),
    kafka: kafkaVersion(externalKafka),
    java,
  };
}

/** The code under measurement: the commit, and how many files under src/, projections/, schemas/ differ from it. */
export async function codeVersion(): Promise<{ commit: string; uncommittedFiles: number }> {
  const commit = await run('git', ['-C', REPO_ROOT, 'log', '-1', '--format=%h %s']).then(
    (r) => r.stdout.trim(),
    () => 'unknown',
  );
  const dirty = await run('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src', 'projections', 'schemas']).then(
    (r) => r.stdout.split('\n').filter(Boolean).length,
    () => -1,
  );
  return { commit, uncommittedFiles: dirty };
}

// ---------------------------------------------------------------------------------------------------------
// CPU accounting
// ---------------------------------------------------------------------------------------------------------

/** Clock ticks per second of /proc times (USER_HZ); 100 on every Linux we run on. */
const CLOCK_TICKS = 100;

export interface CpuSnapshot {
  /** PostgreSQL: live server processes plus the children the postmaster has reaped (exited backends). */
  postgresTicks: number;
  kafkaTicks: number;
  /** This (benchmark) process, in microseconds. */
  benchUs: number;
  /** The whole machine, from /proc/stat. */
  machineBusyTicks: number;
  machineTotalTicks: number;
}

export interface CpuUsage {
  /** The benchmark process itself (the measured code for (a) and (c); the producer and listener in (f)). */
  benchSeconds: number;
  /** Every PostgreSQL process of the server (other databases' activity included). */
  postgresSeconds: number;
  kafkaSeconds: number;
  /** CPU seconds all cores were busy over the interval. */
  machineBusySeconds: number;
  /** Busy share of all cores over the interval (1 = every core busy all the time). */
  machineBusy: number;
}

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  ticks: number;
  childTicks: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    // fields[0] is field 3 (state): utime = field 14, stime = 15, cutime = 16, cstime = 17, ppid = field 4.
    const at = (field: number) => Number(fields[field - 3]);
    return { pid, comm, ppid: at(4), ticks: at(14) + at(15), childTicks: at(16) + at(17) };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a live process has used so far (e.g. a JVM the benchmark started); undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  const stat = readProcStat(pid);
  return stat === undefined ? undefined : stat.ticks / CLOCK_TICKS;
}

export function cpuSnapshot(): CpuSnapshot {
  let postgresTicks = 0;
  const stats: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) stats.push(stat);
  }
  const postgresPids = new Set(stats.filter((s) => s.comm === 'postgres').map((s) => s.pid));
  for (const stat of stats) {
    if (!postgresPids.has(stat.pid)) continue;
    postgresTicks += stat.ticks;
    // The postmaster (parent is not postgres) accumulates the CPU of the backends it has reaped.
    if (!postgresPids.has(stat.ppid)) postgresTicks += stat.childTicks;
  }
  const kafka = kafkaPid();
  const kafkaTicks = kafka === undefined ? 0 : (readProcStat(kafka)?.ticks ?? 0);
  const cpuLine = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (cpuLine[3] ?? 0) + (cpuLine[4] ?? 0);
  const total = cpuLine.slice(0, 8).reduce((sum, v) => sum + v, 0);
  const bench = process.cpuUsage();
  return { postgresTicks, kafkaTicks, benchUs: bench.user + bench.system, machineBusyTicks: total - idle, machineTotalTicks: total };
}

export function cpuSince(before: CpuSnapshot, after: CpuSnapshot = cpuSnapshot()): CpuUsage {
  const total = after.machineTotalTicks - before.machineTotalTicks;
  const busy = after.machineBusyTicks - before.machineBusyTicks;
  return {
    benchSeconds: (after.benchUs - before.benchUs) / 1e6,
    postgresSeconds: (after.postgresTicks - before.postgresTicks) / CLOCK_TICKS,
    kafkaSeconds: (after.kafkaTicks - before.kafkaTicks) / CLOCK_TICKS,
    machineBusySeconds: busy / CLOCK_TICKS,
    machineBusy: total > 0 ? busy / total : 0,
  };
}

/** Processes of other work sharing the machine (test runners, other rebuilders), for the report's caveats. */
export function foreignActivity(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (/vitest|dist\/src\/cli\/main\.js/.test(cmdline) && !cmdline.includes('rebuild_projection_bench')) found.push(cmdline.trim().slice(0, 160));
    } catch {
      // gone
    }
  }
  return found;
}
