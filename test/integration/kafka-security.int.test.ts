/**
 * TLS and SASL against a real broker of our own (secure-kafka-broker.ts: SASL_SSL with PLAIN, SCRAM-SHA-256
 * and SCRAM-SHA-512; SSL with required client certificates), and the failures an operator meets first: a
 * wrong password, a wrong CA, a plaintext client on a TLS listener, an unreachable broker. Each failure is
 * one line on stderr, within seconds, exit 1, and no secret is ever printed.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDesiredConfig } from '../../projections/agentk-states/generate.js';
import { agentConfigSchema } from '../../projections/agentk-states/inputs.js';
import { runCli, type CliResult } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { createTestKafka } from '../support/kafka-broker.js';
import { logEntries } from '../support/log-lines.js';
import { CLIENT_KEY_PASSWORD, PLAIN_USER, SCRAM_USERS, startSecureKafkaBroker, type SecureKafkaBroker } from '../support/secure-kafka-broker.js';
import { asJson, createdEvent, createTopic, produce, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('test.workspace.me');
const agentConfig = agentConfigSchema.parse({ dns_zone: 'test.workspace.me' });
let broker: SecureKafkaBroker;
let setupKafka: Kafka;
const secretFile: Record<string, string> = {};
const SECRETS = [...Object.values(SCRAM_USERS).map((u) => u.password), PLAIN_USER.password, CLIENT_KEY_PASSWORD];

beforeAll(async () => {
  broker = await startSecureKafkaBroker();
  setupKafka = createTestKafka(broker.plaintext, 'security-setup');
  const write = (name: string, text: string) => {
    secretFile[name] = path.join(broker.files.dir, name);
    writeFileSync(secretFile[name], text, { mode: 0o600 });
  };
  write('alice.password', `${SCRAM_USERS['scram-sha-512'].password}\n`);
  write('carol.password', PLAIN_USER.password);
  write('wrong.password', 'not-the-password\n');
  write('client-key.password', `${CLIENT_KEY_PASSWORD}\n`);
});
afterAll(async () => {
  await broker?.stop();
});

const newTopic = async (): Promise<string> => {
  const topic = `secure-${randomBytes(4).toString('hex')}`;
  await createTopic(setupKafka, topic, 2);
  return topic;
};

const scram512 = () => [
  '--kafka-security-protocol', 'SASL_SSL', '--kafka-ssl-ca-file', broker.files.ca,
  '--kafka-sasl-mechanism', 'scram-sha-512', '--kafka-sasl-username', SCRAM_USERS['scram-sha-512'].username,
  '--kafka-sasl-password-file', secretFile['alice.password']!,
];

const cli = (brokers: string, extra: string[], env: Record<string, string> = {}) =>
  runCli(['agentk-states', '--brokers', brokers, '--database-url', db.url, ...extra], env, 60_000);

/** A failure as the brief demands: exit 1, one (fatal) line on stderr whose message matches `pattern`, no secret anywhere. */
function expectOneLineFailure(result: CliResult, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = logEntries(result.stderr);
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]!.level).toBe('fatal');
  expect(lines[0]!.msg).toMatch(pattern);
  expectNoSecret(result);
}

function expectNoSecret(result: CliResult): void {
  for (const secret of SECRETS) expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const started = performance.now();
  const result = await work();
  return { result, seconds: (performance.now() - started) / 1000 };
}

describe('secure Kafka', () => {
  it('replays a topic over SASL_SSL with SCRAM-SHA-512 and writes the rows', async () => {
    const topic = await newTopic();
    const rows = [1, 2, 3].map((id) => workspaceRow(id));
    await upsertWorkspaceRows(db.pool, rows);
    await produce(setupKafka, topic, rows.map((row) => asJson(createdEvent(row))));
    const result = await cli(broker.saslSsl, ['--topic', topic, '--group', `g-${topic}`, '--from-beginning', ...scram512()]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('3 events, 3 written');
    expectNoSecret(result);
    expect(await readModel(db.pool)).toEqual(new Map(rows.map((row) => [row.id, generateDesiredConfig({ workspace: row, agentConfig })])));
  });

  it('authenticates with SCRAM-SHA-256 (password from the environment) and PLAIN (from a file)', async () => {
    const topic = await newTopic();
    const status = ['--topic', topic, '--status', '--kafka-security-protocol', 'SASL_SSL', '--kafka-ssl-ca-file', broker.files.ca];
    const scram256 = await cli(broker.saslSsl, [...status, '--kafka-sasl-mechanism', 'scram-sha-256', '--kafka-sasl-username', SCRAM_USERS['scram-sha-256'].username], {
      REBUILD_PROJECTION_KAFKA_SASL_PASSWORD: SCRAM_USERS['scram-sha-256'].password,
    });
    expect(scram256.code, scram256.stderr).toBe(0);
    expectNoSecret(scram256);
    const plain = await cli(broker.saslSsl, [...status, '--kafka-sasl-mechanism', 'PLAIN', '--kafka-sasl-username', PLAIN_USER.username, '--kafka-sasl-password-file', secretFile['carol.password']!]);
    expect(plain.code, plain.stderr).toBe(0);
    expectNoSecret(plain);
  });

  it('mutual TLS: a client certificate with an encrypted key is accepted; without one the broker refuses', async () => {
    const topic = await newTopic();
    const tls = ['--topic', topic, '--status', '--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', broker.files.ca];
    const withCert = await cli(broker.mtls, [
      ...tls, '--kafka-ssl-cert-file', broker.files.clientCert, '--kafka-ssl-key-file', broker.files.clientKey,
      '--kafka-ssl-key-password-file', secretFile['client-key.password']!,
    ]);
    expect(withCert.code, withCert.stderr).toBe(0);
    expectNoSecret(withCert);
    const without = await timed(() => cli(broker.mtls, tls));
    expectOneLineFailure(without.result, /^Kafka brokers 127\.0\.0\.1:\d+ \(SSL\): the broker rejected the TLS handshake \(alert [a-z ]+\): it wants a client certificate/);
    expect(without.seconds).toBeLessThan(15);
  });

  it('a wrong password fails within seconds with one line naming the user, exit 1', async () => {
    const args = scram512().map((arg) => (arg === secretFile['alice.password'] ? secretFile['wrong.password']! : arg));
    const { result, seconds } = await timed(() => cli(broker.saslSsl, ['--topic', 'any', '--from-beginning', ...args]));
    expectOneLineFailure(result, /^Kafka brokers 127\.0\.0\.1:\d+ \(SASL_SSL, SCRAM-SHA-512 as "alice"\): authentication failed for user "alice" \(SCRAM-SHA-512\)/);
    expect(result.stderr).not.toContain('not-the-password');
    expect(seconds).toBeLessThan(15);
  });

  it('a wrong CA fails within seconds with "certificate verify failed", exit 1', async () => {
    const args = scram512().map((arg) => (arg === broker.files.ca ? broker.files.otherCa : arg));
    const { result, seconds } = await timed(() => cli(broker.saslSsl, ['--topic', 'any', '--from-beginning', ...args]));
    expectOneLineFailure(result, /^Kafka brokers 127\.0\.0\.1:\d+ \(SASL_SSL, SCRAM-SHA-512 as "alice"\): TLS certificate verify failed: .*certificate.* \(check --kafka-ssl-ca-file\)$/);
    expect(seconds).toBeLessThan(15);
  });

  it('a plaintext client on the TLS listener fails within seconds: "the broker closed the connection: is this listener TLS", exit 1', async () => {
    const { result, seconds } = await timed(() => cli(broker.saslSsl, ['--topic', 'any', '--from-beginning']));
    expectOneLineFailure(result, /^Kafka brokers 127\.0\.0\.1:\d+ \(PLAINTEXT\): the broker closed the connection: is this listener TLS/);
    expect(seconds).toBeLessThan(15);
  });

  it('a TLS client on a plaintext listener fails within seconds: "is this listener plaintext", exit 1', async () => {
    const { result, seconds } = await timed(() => cli(broker.plaintext, ['--topic', 'any', '--from-beginning', '--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', broker.files.ca]));
    expectOneLineFailure(result, /^rebuild-projection: Kafka brokers 127\.0\.0\.1:\d+ \(SSL\): .*is this listener plaintext \(--kafka-security-protocol PLAINTEXT or SASL_PLAINTEXT\)\?/);
    expect(seconds).toBeLessThan(15);
  });

  it('hostname verification is on by default: a certificate that does not name the broker is refused, unless turned off', async () => {
    const topic = await newTopic();
    const tls = ['--topic', topic, '--status', '--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', broker.files.ca];
    const verified = await cli(broker.misnamed, tls);
    expectOneLineFailure(verified, /^Kafka brokers 127\.0\.0\.1:\d+ \(SSL\): TLS certificate verify failed: the broker's certificate does not name the address we connected to \(.*127\.0\.0\.1.*\): use a broker address it names, or --kafka-ssl-no-hostname-verification$/);
    const unverified = await cli(broker.misnamed, [...tls, '--kafka-ssl-no-hostname-verification']);
    expect(unverified.code, unverified.stderr).toBe(0);
    // The CA is still checked without hostname verification.
    const otherCa = await cli(broker.misnamed, [...tls.map((arg) => (arg === broker.files.ca ? broker.files.otherCa : arg)), '--kafka-ssl-no-hostname-verification']);
    expectOneLineFailure(otherCa, /TLS certificate verify failed/);
  });

  it('an unreadable CA file is one line naming the file, before any connection', async () => {
    const missing = path.join(broker.files.dir, 'no-such-ca.pem');
    const args = scram512().map((arg) => (arg === broker.files.ca ? missing : arg));
    const result = await cli(broker.saslSsl, ['--topic', 'any', '--from-beginning', ...args]);
    expectOneLineFailure(result, new RegExp(`^cannot read --kafka-ssl-ca-file ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no such file$`));
  });
});

describe('unreachable Kafka', () => {
  it('nothing listening: one line naming Kafka and the brokers within seconds, exit 1', async () => {
    const { result, seconds } = await timed(() => cli('127.0.0.1:1', ['--topic', 'any', '--from-beginning']));
    expectOneLineFailure(result, /^cannot reach Kafka brokers 127\.0\.0\.1:1 \(PLAINTEXT\): connection refused \(after 3 attempts\)$/);
    expect(seconds).toBeLessThan(10);
  });

  it('a host that accepts connections but never answers: one line within about ten seconds, exit 1', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const { result, seconds } = await timed(() => cli(`127.0.0.1:${port}`, ['--topic', 'any', '--follow']));
      expectOneLineFailure(result, new RegExp(`^cannot reach Kafka brokers 127\\.0\\.0\\.1:${port} \\(PLAINTEXT\\): no answer within 3 s \\(after 3 attempts\\)$`));
      expect(seconds).toBeLessThan(20);
    } finally {
      silent.close();
    }
  });
});
