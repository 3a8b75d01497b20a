/**
 * A real Apache Kafka broker for the integration tests (no fakes, no Docker).
 *
 * If KAFKA_BROKERS is set (e.g. "127.0.0.1:9092" or "h1:9092,h2:9092") that cluster is used and
 * left alone. Otherwise `scripts/kafka-broker.sh start` launches a single-node KRaft broker from
 * Maven Central jars on 127.0.0.1:$KAFKA_PORT (default 19092; see shared/kafka-broker.md), and stop() shuts it down
 * again, but only if this call was the one that started it: a broker that was already running
 * (e.g. started by hand with `scripts/kafka-broker.sh start`) is reused and kept.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, Partitioners, logLevel, type KafkaConfig, type ProducerConfig } from 'kafkajs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const brokerScript = path.join(repoRoot, 'scripts', 'kafka-broker.sh');

/** Seconds the script waits for the port; the TS side adds its own deadline on top. */
const SCRIPT_TIMEOUT_MS = 10 * 60_000; // includes a cold Maven fetch of the jars
const READY_TIMEOUT_MS = 60_000;

export interface KafkaForTests {
  /** Comma-separated broker list, e.g. "127.0.0.1:19092". */
  brokers: string;
  stop: () => Promise<void>;
}

/** Splits a KAFKA_BROKERS-style string into kafkajs' broker list. */
export function brokerList(brokers: string): string[] {
  return brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

/**
 * A kafkajs client configured for tests, with short timeouts suited to a local broker.
 *
 * Logging is off (NOTHING): KafkaJS logs every *retried* broker error at ERROR level, e.g.
 * COORDINATOR_LOAD_IN_PROGRESS while __transaction_state / __consumer_offsets are created on
 * first use, or CONCURRENT_TRANSACTIONS right after a transaction commit; it then retries and
 * succeeds, so those lines are noise. Real failures still reject the awaited call. To see the
 * client's logs, set KAFKAJS_LOG_LEVEL=error|warn|info|debug (KafkaJS reads it and it overrides
 * this setting).
 */
export function createTestKafka(brokers: string, clientId: string, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: brokerList(brokers),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 100, retries: 8 },
    ...overrides,
  });
}

/**
 * Producer options for tests. Naming the partitioner explicitly silences KafkaJS 2.x's
 * "KafkaJS v2.0.0 switched default partitioner" warning; DefaultPartitioner is the Java
 * client's murmur2 partitioner, so keyed messages land where Java producers would put them.
 */
export const testProducerConfig: ProducerConfig = {
  createPartitioner: Partitioners.DefaultPartitioner,
  allowAutoTopicCreation: false,
};

interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

type ScriptCommand = 'start' | 'stop' | 'pause' | 'resume' | 'status';

function runScript(subcommand: ScriptCommand, env: Record<string, string> = {}): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [brokerScript, subcommand], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`scripts/kafka-broker.sh ${subcommand} timed out after ${SCRIPT_TIMEOUT_MS} ms\n${stderr}`));
    }, SCRIPT_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function runScriptOrThrow(subcommand: ScriptCommand, env: Record<string, string> = {}): Promise<ScriptResult> {
  const result = await runScript(subcommand, env);
  if (result.code !== 0) {
    throw new Error(`scripts/kafka-broker.sh ${subcommand} failed (exit ${result.code}):\n${result.stderr}${result.stdout}`);
  }
  return result;
}

/** `start` and `resume` print the broker's address as their last line of stdout. */
function addressOf(result: ScriptResult): string {
  const address = result.stdout.trim().split('\n').pop() ?? '';
  if (!/^[\w.-]+:\d+$/.test(address)) throw new Error(`scripts/kafka-broker.sh printed no broker address:\n${result.stdout}`);
  return address;
}

export interface OwnKafkaBroker {
  brokers: string;
  /** Stops the broker and keeps its data (an outage). */
  pause: () => Promise<void>;
  /** Starts it again on the kept data, same address. */
  resume: () => Promise<void>;
  /** Stops it and removes its data. */
  stop: () => Promise<void>;
}

/**
 * A broker of the caller's own, on its own ports and state directory, for tests that stop and restart it
 * (the shared test broker must keep running for everyone else).
 */
export async function startOwnKafkaBroker(options: { stateDir: string; port: number; env?: Record<string, string> }): Promise<OwnKafkaBroker> {
  // `env`: more of the script's settings (KAFKA_CONTROLLER_PORT, KAFKA_SERVER_TEMPLATE, KAFKA_FORMAT_ARGS_FILE).
  // The controller port too: one inherited from this process's environment (a CI broker's) would collide.
  const env = { KAFKA_CONTROLLER_PORT: String(options.port + 1), ...options.env, KAFKA_STATE_DIR: options.stateDir, KAFKA_PORT: String(options.port) };
  const brokers = addressOf(await runScriptOrThrow('start', env));
  await waitForKafka(brokers);
  return {
    brokers,
    pause: async () => {
      await runScriptOrThrow('pause', env);
    },
    resume: async () => {
      await runScriptOrThrow('resume', env);
      await waitForKafka(brokers);
    },
    stop: async () => {
      await runScriptOrThrow('stop', env);
    },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retries admin.describeCluster() until it succeeds or the deadline passes. An open port is not
 * enough: the broker may still be registering with its controller.
 */
export async function waitForKafka(brokers: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    const admin = createTestKafka(brokers, 'kafka-readiness-probe', {
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: 5_000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null) return;
      lastError = new Error(`describeCluster returned no brokers/controller: ${JSON.stringify(cluster)}`);
    } catch (err) {
      lastError = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `${lastError.name}: ${lastError.message}` : String(lastError);
      throw new Error(`Kafka at ${brokers} not ready after ${timeoutMs} ms (${attempt} attempts); last error: ${detail}`);
    }
    await sleep(250);
  }
}

export async function startKafkaForTests(): Promise<KafkaForTests> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    await waitForKafka(external);
    return { brokers: external, stop: async () => undefined };
  }

  // `start` reuses a broker that is already running (and says so); stop() then leaves it alone.
  const started = await runScriptOrThrow('start');
  let ownsBroker = !started.stderr.includes('already running');
  const brokers = addressOf(started);

  const stop = async (): Promise<void> => {
    if (!ownsBroker) return;
    ownsBroker = false;
    await runScriptOrThrow('stop');
  };

  try {
    await waitForKafka(brokers);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { brokers, stop };
}
