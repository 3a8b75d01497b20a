import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HELP, parseCommandLine } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/usage-error.js';
import {
  describeKafkaSecurity,
  KafkaSecurityFileError,
  KafkaSecuritySettingsError,
  loadKafkaSecurity,
  parseKafkaSecurity,
  Secret,
} from '../../../src/sources/kafka/kafka-security.js';

const PASSWORD = 'pa55-Very-Secret';
const scram = { 'kafka-security-protocol': 'SASL_SSL', 'kafka-sasl-mechanism': 'scram-sha-512', 'kafka-sasl-username': 'alice' };
const env = { REBUILD_PROJECTION_KAFKA_SASL_PASSWORD: PASSWORD };

const refused = (values: Record<string, unknown>, environment: Record<string, string> = {}) => {
  try {
    parseKafkaSecurity(values, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(KafkaSecuritySettingsError);
    return (error as Error).message;
  }
  throw new Error('not refused');
};

describe('parseKafkaSecurity', () => {
  it('defaults to PLAINTEXT with neither TLS nor SASL', () => {
    expect(parseKafkaSecurity({}, {})).toEqual({ protocol: 'PLAINTEXT' });
  });

  it("takes Kafka's names in any case: SASL_SSL with SCRAM-SHA-512, the password from the environment, hostname verification on", () => {
    const settings = parseKafkaSecurity({ ...scram, 'kafka-security-protocol': 'sasl_ssl', 'kafka-sasl-mechanism': 'SCRAM-SHA-512' }, env);
    expect(settings.protocol).toBe('SASL_SSL');
    expect(settings.tls).toEqual({ caFile: undefined, client: undefined, verifyHostname: true });
    expect(settings.sasl?.mechanism).toBe('scram-sha-512');
    expect(settings.sasl?.username).toBe('alice');
    const password = settings.sasl!.password;
    expect('value' in password && password.value.reveal()).toBe(PASSWORD);
  });

  it('turns hostname verification off only when asked', () => {
    expect(parseKafkaSecurity({ 'kafka-security-protocol': 'SSL', 'kafka-ssl-no-hostname-verification': true }, {}).tls?.verifyHostname).toBe(false);
  });

  it.each([
    [{ 'kafka-security-protocol': 'TLS' }, {}, /--kafka-security-protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL/],
    [{ ...scram, 'kafka-sasl-mechanism': 'gssapi' }, env, /--kafka-sasl-mechanism must be one of plain, scram-sha-256, scram-sha-512/],
    [{ 'kafka-ssl-ca-file': '/ca.pem' }, {}, /^--kafka-ssl-ca-file needs --kafka-security-protocol SSL or SASL_SSL \(it is PLAINTEXT\)$/],
    [{ 'kafka-security-protocol': 'SASL_PLAINTEXT', 'kafka-sasl-mechanism': 'plain', 'kafka-sasl-username': 'u', 'kafka-ssl-no-hostname-verification': true }, env, /^--kafka-ssl-no-hostname-verification needs --kafka-security-protocol SSL or SASL_SSL/],
    [{ 'kafka-sasl-mechanism': 'plain' }, {}, /^--kafka-sasl-mechanism needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT \(it is PLAINTEXT\)$/],
    [{ 'kafka-security-protocol': 'SSL' }, env, /^\$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT \(it is SSL\)$/],
    [{ 'kafka-security-protocol': 'SASL_SSL' }, env, /^--kafka-security-protocol SASL_SSL needs --kafka-sasl-mechanism/],
    [{ ...scram, 'kafka-sasl-username': undefined }, env, /^--kafka-sasl-mechanism scram-sha-512 needs --kafka-sasl-username$/],
    [scram, {}, /needs a password: --kafka-sasl-password-file FILE or \$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD$/],
    [{ ...scram, 'kafka-sasl-password-file': '/p' }, env, /^choose one of --kafka-sasl-password-file and \$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD$/],
    [scram, { REBUILD_PROJECTION_KAFKA_SASL_PASSWORD: '' }, /^\$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD is empty$/],
    [{ 'kafka-security-protocol': 'SSL', 'kafka-ssl-cert-file': '/c.pem' }, {}, /^mutual TLS needs both --kafka-ssl-cert-file and --kafka-ssl-key-file$/],
    [{ 'kafka-security-protocol': 'SSL', 'kafka-ssl-key-password-file': '/k' }, {}, /^a key password goes with --kafka-ssl-key-file$/],
  ])('refuses %j (env %j) naming the setting', (values, environment, message) => {
    expect(refused(values, environment)).toMatch(message);
  });
});

describe('secrets are never printed', () => {
  it('a Secret prints as [redacted] in strings, JSON and inspect', () => {
    const secret = new Secret(PASSWORD);
    const settings = parseKafkaSecurity(scram, env);
    for (const text of [String(secret), `${secret}`, JSON.stringify({ secret }), inspect(secret), inspect(settings, { depth: 10 }), JSON.stringify(settings), describeKafkaSecurity(settings)]) {
      expect(text).not.toContain(PASSWORD);
    }
    expect(secret.reveal()).toBe(PASSWORD);
    expect(describeKafkaSecurity(settings)).toBe('SASL_SSL, SCRAM-SHA-512 as "alice"');
  });

  it('--help offers no password flag and shows no value from the environment', () => {
    expect(HELP).not.toMatch(/--kafka-sasl-password\s/);
    expect(HELP).toContain('--kafka-sasl-password-file FILE');
    expect(HELP).not.toContain(PASSWORD);
  });

  it('a refused command line does not echo the password', () => {
    try {
      parseCommandLine(['agentk-states', '--kafka-sasl-mechanism', 'plain'], env);
      throw new Error('not refused');
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).not.toContain(PASSWORD);
    }
  });

  it('the parsed command line carries the settings', () => {
    const args = parseCommandLine(['agentk-states', '--kafka-security-protocol', 'SASL_SSL', '--kafka-sasl-mechanism', 'plain', '--kafka-sasl-username', 'carol'], env);
    expect(args.kafkaSecurity.sasl?.username).toBe('carol');
    expect(inspect(args, { depth: 10 })).not.toContain(PASSWORD);
  });
});

describe('loadKafkaSecurity', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kafka-security-'));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads the password file without its trailing newline', async () => {
    const passwordFile = file('password', `${PASSWORD}\n`);
    const security = await loadKafkaSecurity(parseKafkaSecurity({ ...scram, 'kafka-sasl-password-file': passwordFile }, {}));
    expect(security.sasl?.password.reveal()).toBe(PASSWORD);
  });

  it.each([
    ['an unreadable CA file', { 'kafka-security-protocol': 'SSL', 'kafka-ssl-ca-file': path.join(dir, 'missing.pem') }, /^cannot read --kafka-ssl-ca-file .*missing\.pem: no such file$/],
    ['a CA file that holds no certificate', { 'kafka-security-protocol': 'SSL', 'kafka-ssl-ca-file': file('not-a-ca.pem', 'hello\n') }, /^--kafka-ssl-ca-file .*not-a-ca\.pem holds no PEM certificate$/],
    ['a certificate that does not parse', { 'kafka-security-protocol': 'SSL', 'kafka-ssl-ca-file': file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') }, /^--kafka-ssl-ca-file .*broken\.pem: certificate 1 does not parse: /],
    ['an empty password file', { ...scram, 'kafka-sasl-password-file': file('empty', '\n') }, /^--kafka-sasl-password-file .*empty is empty$/],
    ['a missing password file', { ...scram, 'kafka-sasl-password-file': path.join(dir, 'nope') }, /^cannot read --kafka-sasl-password-file .*nope: no such file$/],
  ])('%s is one error naming the file', async (_, values, message) => {
    await expect(loadKafkaSecurity(parseKafkaSecurity(values, {}))).rejects.toThrow(message);
    await expect(loadKafkaSecurity(parseKafkaSecurity(values, {}))).rejects.toBeInstanceOf(KafkaSecurityFileError);
  });
});
