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
  loadKafkaSecurity,
  Secret,
} from '../../../src/sources/kafka/kafka-security.js';

const PASSWORD = 'pa55-Very-Secret';
const scram = ['--kafka-security-protocol', 'SASL_SSL', '--kafka-sasl-mechanism', 'scram-sha-512', '--kafka-sasl-username', 'alice'];
const env = { REBUILD_PROJECTION_KAFKA_SASL_PASSWORD: PASSWORD };

/** The settings of a command line (flags, environment, config file), checked as the CLI checks them. */
const settings = (argv: string[], environment: Record<string, string> = {}, configFile?: string) =>
  parseCommandLine(['agentk-states', ...argv, ...(configFile ? ['--config', 'app.yaml'] : [])], environment, () => configFile ?? '').kafkaSecurity;

const refused = (argv: string[], environment: Record<string, string> = {}) => {
  try {
    settings(argv, environment);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('not refused');
};

describe('Kafka security settings', () => {
  it('default to PLAINTEXT with neither TLS nor SASL', () => {
    expect(settings([])).toEqual({ protocol: 'PLAINTEXT' });
  });

  it("take Kafka's names in any case: SASL_SSL with SCRAM-SHA-512, the password from the environment, hostname verification on", () => {
    const parsed = settings(['--kafka-security-protocol', 'sasl_ssl', '--kafka-sasl-mechanism', 'SCRAM-SHA-512', '--kafka-sasl-username', 'alice'], env);
    expect(parsed.protocol).toBe('SASL_SSL');
    expect(parsed.tls).toEqual({ caFile: undefined, client: undefined, verifyHostname: true });
    expect(parsed.sasl?.mechanism).toBe('scram-sha-512');
    expect(parsed.sasl?.username).toBe('alice');
    const password = parsed.sasl!.password;
    expect('value' in password && password.value.reveal()).toBe(PASSWORD);
  });

  it('come from REBUILD_PROJECTION_ variables and the config file too', () => {
    const fromEnv = settings([], {
      REBUILD_PROJECTION_KAFKA_SECURITY_PROTOCOL: 'SSL',
      REBUILD_PROJECTION_KAFKA_SSL_CA_FILE: '/etc/kafka/ca.pem',
      REBUILD_PROJECTION_KAFKA_SSL_NO_HOSTNAME_VERIFICATION: 'true',
    });
    expect(fromEnv).toEqual({ protocol: 'SSL', tls: { caFile: '/etc/kafka/ca.pem', client: undefined, verifyHostname: false } });
    const fromFile = settings([], {}, 'kafka-security-protocol: SASL_SSL\nkafka-sasl-mechanism: plain\nkafka-sasl-username: carol\nkafka-sasl-password-file: /run/secrets/kafka\n');
    expect(fromFile.sasl).toEqual({ mechanism: 'plain', username: 'carol', password: { file: '/run/secrets/kafka' } });
  });

  it.each([
    [['--kafka-security-protocol', 'TLS'], {}, /^--kafka-security-protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL$/],
    [[...scram.slice(0, 2), '--kafka-sasl-mechanism', 'gssapi'], env, /^--kafka-sasl-mechanism must be one of plain, scram-sha-256, scram-sha-512$/],
    [['--kafka-ssl-ca-file', '/ca.pem'], {}, /^--kafka-ssl-ca-file needs --kafka-security-protocol SSL or SASL_SSL \(it is PLAINTEXT\)$/],
    [['--kafka-security-protocol', 'SASL_PLAINTEXT', '--kafka-sasl-mechanism', 'plain', '--kafka-sasl-username', 'u', '--kafka-ssl-no-hostname-verification'], env, /^--kafka-ssl-no-hostname-verification needs --kafka-security-protocol SSL or SASL_SSL/],
    [['--kafka-sasl-mechanism', 'plain'], {}, /^--kafka-sasl-mechanism needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT \(it is PLAINTEXT\)$/],
    [['--kafka-security-protocol', 'SSL'], env, /^\$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT \(it is SSL\)$/],
    [['--kafka-security-protocol', 'SASL_SSL'], env, /^--kafka-security-protocol SASL_SSL needs --kafka-sasl-mechanism/],
    [scram.slice(0, 4), env, /^--kafka-sasl-mechanism scram-sha-512 needs --kafka-sasl-username$/],
    [scram, {}, /needs a password: --kafka-sasl-password-file FILE or \$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD$/],
    [[...scram, '--kafka-sasl-password-file', '/p'], env, /^choose one of --kafka-sasl-password-file and \$REBUILD_PROJECTION_KAFKA_SASL_PASSWORD$/],
    [['--kafka-security-protocol', 'SSL', '--kafka-ssl-cert-file', '/c.pem'], {}, /^mutual TLS needs both --kafka-ssl-cert-file and --kafka-ssl-key-file$/],
    [['--kafka-security-protocol', 'SSL', '--kafka-ssl-key-password-file', '/k'], {}, /^a key password goes with --kafka-ssl-key-file$/],
  ])('%j (env %j) is refused naming the setting', (argv, environment, message) => {
    expect(refused(argv, environment)).toMatch(message);
  });

  it('an empty secret variable counts as unset', () => {
    expect(refused(scram, { REBUILD_PROJECTION_KAFKA_SASL_PASSWORD: '' })).toMatch(/needs a password/);
  });
});

describe('secrets are never printed', () => {
  it('a Secret prints as [redacted] in strings, JSON and inspect', () => {
    const secret = new Secret(PASSWORD);
    const parsed = settings(scram, env);
    for (const text of [String(secret), `${secret}`, JSON.stringify({ secret }), inspect(secret), inspect(parsed, { depth: 10 }), JSON.stringify(parsed), describeKafkaSecurity(parsed)]) {
      expect(text).not.toContain(PASSWORD);
    }
    expect(secret.reveal()).toBe(PASSWORD);
    expect(describeKafkaSecurity(parsed)).toBe('SASL_SSL, SCRAM-SHA-512 as "alice"');
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
    const security = await loadKafkaSecurity(settings([...scram, '--kafka-sasl-password-file', passwordFile]));
    expect(security.sasl?.password.reveal()).toBe(PASSWORD);
  });

  it.each([
    ['an unreadable CA file', ['--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', path.join(dir, 'missing.pem')], /^cannot read --kafka-ssl-ca-file .*missing\.pem: no such file$/],
    ['a CA file that holds no certificate', ['--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', file('not-a-ca.pem', 'hello\n')], /^--kafka-ssl-ca-file .*not-a-ca\.pem holds no PEM certificate$/],
    ['a certificate that does not parse', ['--kafka-security-protocol', 'SSL', '--kafka-ssl-ca-file', file('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')], /^--kafka-ssl-ca-file .*broken\.pem: certificate 1 does not parse: /],
    ['an empty password file', [...scram, '--kafka-sasl-password-file', file('empty', '\n')], /^--kafka-sasl-password-file .*empty is empty$/],
    ['a missing password file', [...scram, '--kafka-sasl-password-file', path.join(dir, 'nope')], /^cannot read --kafka-sasl-password-file .*nope: no such file$/],
  ])('%s is one error naming the file', async (_, argv, message) => {
    await expect(loadKafkaSecurity(settings(argv))).rejects.toThrow(message);
    await expect(loadKafkaSecurity(settings(argv))).rejects.toBeInstanceOf(KafkaSecurityFileError);
  });
});
