/**
 * The Kafka side: one kafkajs client per process, with its logs routed to our logger, its security (TLS,
 * SASL) from kafka-security.ts, a connection check at startup, the one way to use an admin client
 * (withKafkaAdmin), and the admin reads the Kafka source needs (watermarks, offsets by time).
 */
import { createRequire } from 'node:module';
import { Kafka, logLevel, type LogEntry, type Admin, type KafkaConfig } from 'kafkajs';
import { z } from 'zod';
import type { Logger } from '../../ops/logger.js';
import { describeKafkaSecurity, PLAINTEXT, type KafkaSecurity } from './kafka-security.js';

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  security?: KafkaSecurity;
  log: Logger;
}

export function createKafka(options: KafkaClientOptions): Kafka {
  return new Kafka({
    ...connectionConfig(options),
    // WARN and above reach our logger, one line each (a broker gone, a crash and restart). INFO and below are
    // per-connection chatter.
    logLevel: logLevel.WARN,
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 10_000 },
    logCreator: () => (entry: LogEntry) => logKafkaEntry(options.log, entry),
  });
}

/** What every client of ours shares: the brokers, the security, and the connect timeout. */
function connectionConfig(options: KafkaClientOptions): KafkaConfig {
  const { tls, sasl } = options.security ?? PLAINTEXT;
  return {
    clientId: options.clientId ?? 'rebuild-projection',
    brokers: options.brokers,
    // Fail fast on a wrong address instead of kafkajs' default ~30 s of silent retries at startup.
    connectionTimeout: CONNECT_TIMEOUT_MS,
    ...(tls && {
      ssl: {
        ...(tls.ca !== undefined && { ca: [tls.ca] }),
        ...(tls.client && { cert: tls.client.cert, key: tls.client.key, passphrase: tls.client.keyPassword?.reveal() }),
        rejectUnauthorized: true,
        // Off (ssl.endpoint.identification.algorithm empty): the chain is still checked, only the name is not.
        ...(!tls.verifyHostname && { checkServerIdentity: () => undefined }),
      },
    }),
    ...(sasl && { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password.reveal() } as KafkaConfig['sasl'] }),
  };
}

const CONNECT_TIMEOUT_MS = 3_000;
/** Attempts of the startup check (connection refused: about a second in all; a silent host: CONNECT_TIMEOUT_MS each). */
const CONNECT_ATTEMPTS = 3;

/**
 * Kafka could not be used at startup: unreachable, or it refused our TLS or SASL. One line naming the brokers
 * and the cause. Not retried beyond the check's attempts: a wrong address or credential does not heal by waiting,
 * and a service manager restarts the process (a broker that goes away later, mid-run, is retried by the
 * replayer instead: README, Security).
 */
export class KafkaConnectError extends Error {
  override readonly name = 'KafkaConnectError';
}

/**
 * Creates the client and checks, with a few quick attempts, that the brokers answer and accept our
 * credentials, so that a wrong address, CA or password is one line within seconds instead of kafkajs'
 * retries (minutes) and a log line per attempt. The check uses a client of its own with logging off: its
 * errors are summed up in the one line.
 */
export async function openKafka(options: KafkaClientOptions): Promise<Kafka> {
  const probe = new Kafka({
    ...connectionConfig(options),
    logLevel: logLevel.NOTHING,
    // A host that accepts the connection but never answers (not a broker, a hung one) fails as quickly.
    requestTimeout: CONNECT_TIMEOUT_MS,
    retry: { retries: CONNECT_ATTEMPTS - 1, initialRetryTime: 300, maxRetryTime: 1_000 },
  });
  try {
    // kafkajs counts a socket whose ApiVersions request timed out as connected: a first request proves it.
    await withKafkaAdmin(probe, (admin) => admin.describeCluster());
  } catch (error) {
    throw new KafkaConnectError(describeConnectFailure(error, options.brokers, options.security ?? PLAINTEXT), { cause: error });
  }
  return createKafka(options);
}

/** The one line for a failed startup check: what went wrong, in the terms of the settings that fix it. */
export function describeConnectFailure(error: unknown, brokers: readonly string[], security: KafkaSecurity): string {
  const chain: Error[] = [];
  for (let e: unknown = error; e instanceof Error && chain.length < 10; e = e.cause ?? (e as { originalError?: unknown }).originalError) chain.push(e);
  const root = chain.at(-1);
  const text = [...new Set(chain.map((e) => e.message))].join(': ');
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c): c is string => typeof c === 'string');
  const where = `Kafka brokers ${brokers.join(',')} (${describeKafkaSecurity(security)})`;
  if (chain.some((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    const sasl = security.sasl;
    const detail = root?.message.replace(/^SASL \S+ authentication failed: /, '') ?? '';
    return `${where}: authentication failed${sasl ? ` for user "${sasl.username}" (${sasl.mechanism.toUpperCase()})` : ''}: ${detail}`;
  }
  const cause = root?.message.replace(/^Connection error: /, '').replace(/:\s*$/, '');
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `${where}: TLS certificate verify failed: the broker's certificate does not name the address we connected to (${cause}): use a broker address it names, or --kafka-ssl-no-hostname-verification`;
  }
  if (code !== undefined && TLS_VERIFY_CODES.has(code)) return `${where}: TLS certificate verify failed: ${cause} (check --kafka-ssl-ca-file)`;
  if (/alert bad certificate|alert certificate required|alert unknown ca|alert handshake failure/.test(text)) {
    return `${where}: the broker rejected the TLS handshake (${/alert [a-z ]+/.exec(text)![0]}): it wants a client certificate its CA signed (--kafka-ssl-cert-file, --kafka-ssl-key-file)`;
  }
  const attempts = `after ${CONNECT_ATTEMPTS} attempts`;
  if (code === 'ECONNREFUSED') return `cannot reach ${where}: connection refused (${attempts})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot reach ${where}: host not found (${attempts})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `cannot reach ${where}: no route to host (${attempts})`;
  // "Broker not connected": kafkajs' word for a socket whose first request (ApiVersions) timed out.
  if (/Connection timeout|Broker not connected/.test(text) || chain.some((e) => e.name === 'KafkaJSRequestTimeoutError')) return `cannot reach ${where}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s (${attempts})`;
  if (/Closed connection|Connection closed|ECONNRESET|socket disconnected|EPIPE/.test(`${text} ${code ?? ''}`)) {
    return security.tls
      ? `${where}: the broker closed the connection during the TLS handshake: is this listener plaintext (--kafka-security-protocol PLAINTEXT or SASL_PLAINTEXT)? (${attempts})`
      : `${where}: the broker closed the connection: is this listener TLS (--kafka-security-protocol SSL or SASL_SSL) or SASL (SASL_PLAINTEXT)? (${attempts})`;
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(text)) {
    return `${where}: TLS handshake failed (${root?.message}): is this listener plaintext (--kafka-security-protocol PLAINTEXT or SASL_PLAINTEXT)?`;
  }
  return `cannot use ${where}: ${text.replace(/\s*\n\s*/g, ' ')}`;
}

/** Node's codes for a broker certificate that the CA does not vouch for. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A kafkajs log entry as one line of ours: its namespace (`kafkajs`) and fields (broker, groupId, retry
 * counts …) as context. Nothing for the entries that only echo an error the replayer reports itself: what
 * eachBatch threw, and the consumer's crash (the replayer logs a restart's cause and fails the run on a
 * crash that does not restart).
 */
export function logKafkaEntry(log: Logger, { namespace, level, log: entry }: LogEntry): void {
  // kafkajs' timestamp and logger name duplicate ours; its stack traces are of its own internals (the message says what failed).
  const { message, timestamp: _timestamp, logger: _logger, stack: _stack, ...fields } = entry;
  if (message === 'Error when calling eachBatch' || message.startsWith('Crash: ')) return;
  const error = typeof fields.error === 'string' && !message.includes(fields.error) ? `: ${fields.error}` : '';
  const line = `kafka ${namespace}: ${message}${error}`.replace(/\s*\n\s*/g, ' ');
  const context = { kafkajs: namespace, ...fields };
  if (isRetriedResponseError(namespace, message, fields.error)) log.debug(line, context);
  else if (level === logLevel.ERROR) log.error(line, context);
  else if (level === logLevel.WARN) log.warn(line, context);
  else if (level === logLevel.INFO) log.info(line, context);
  else log.debug(line, context);
}

/**
 * A broker's answer with a retriable error code (a coordinator not yet elected on a fresh broker, a leader
 * moving): kafkajs' Connection logs it at ERROR before its own retry, which then succeeds or throws to the
 * caller, who reports it. Kept at debug so that a routine retry is not an error line. The codes' retriable
 * flags are kafkajs' own table (pinned version; its absence fails at startup), so they cannot drift.
 */
function isRetriedResponseError(namespace: string, message: string, error: unknown): boolean {
  return namespace === 'Connection' && message.startsWith('Response ') && typeof error === 'string' && RETRIABLE_PROTOCOL_ERRORS.has(error);
}

const RETRIABLE_PROTOCOL_ERRORS: ReadonlySet<string> = new Set(
  z
    .object({ errorCodes: z.array(z.object({ message: z.string(), retriable: z.boolean() })) })
    .parse(createRequire(import.meta.url)('kafkajs/src/protocol/error.js'))
    .errorCodes.filter((code) => code.retriable)
    .map((code) => code.message),
);

export interface PartitionRange {
  topic: string;
  partition: number;
  /** Log start offset (the earliest still held). */
  low: string;
  /** High watermark: the offset the next message will get. */
  high: string;
}

/**
 * Runs `fn` with a connected admin client and disconnects it afterwards, whatever happened. When `fn` (or the
 * connect) failed, that failure is the one thrown: a disconnect failing after it is a consequence (the
 * broker is gone), and kafkajs closes the sockets either way.
 */
export async function withKafkaAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  let result: T;
  try {
    await admin.connect();
    result = await fn(admin);
  } catch (error) {
    await admin.disconnect().catch(() => undefined);
    throw error;
  }
  await admin.disconnect();
  return result;
}

/** The log start offset of one partition (it moves as retention deletes records). */
export async function logStartOffset(admin: Admin, topic: string, partition: number): Promise<string | undefined> {
  return (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)?.low;
}

/** Watermarks of every partition of `topics`. Fails with a clear message for a missing topic. */
export async function readPartitionRanges(admin: Admin, topics: readonly string[]): Promise<PartitionRange[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  if (missing.length > 0) throw new KafkaTopicMissingError(`topic${missing.length > 1 ? 's' : ''} not found on the broker: ${missing.join(', ')}`);
  const ranges: PartitionRange[] = [];
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      ranges.push({ topic, partition: p.partition, low: p.low, high: p.high });
    }
  }
  return ranges;
}

/** Per partition, the first offset whose timestamp is at or after `timestampMs` (the high watermark if none). */
export async function offsetsAtTimestamp(admin: Admin, topics: readonly string[], timestampMs: number): Promise<Map<string, string>> {
  const offsets = new Map<string, string>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs)) {
      offsets.set(partitionKey(topic, p.partition), p.offset);
    }
  }
  return offsets;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export class KafkaTopicMissingError extends Error {
  override readonly name = 'KafkaTopicMissingError';
}
