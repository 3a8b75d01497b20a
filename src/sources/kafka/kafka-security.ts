/**
 * How we talk to Kafka securely, with the names Kafka users know: `security.protocol` (PLAINTEXT, SSL,
 * SASL_PLAINTEXT, SASL_SSL), `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), a CA file for the
 * truststore, a client certificate and key for mutual TLS, and hostname verification (on unless turned off).
 *
 * Two steps: `parseKafkaSecurity` checks the settings together (pure; each value was checked by its zod schema
 * in the options table; a contradiction is a usage error naming the setting), `loadKafkaSecurity` reads the files (a file it cannot read or use is one error naming it). Secrets
 * (the SASL password, the key's passphrase) come from a file or the environment, never from a flag (a flag is
 * visible to every user of the host in `ps`), and are held in `Secret`, which prints as `[redacted]` in every
 * message, log line or JSON dump.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { z } from 'zod';

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** The environment variables that may hold the secrets (each also has a `--…-file` flag). */
export const KAFKA_SECRET_ENV = {
  saslPassword: 'REBUILD_PROJECTION_KAFKA_SASL_PASSWORD',
  sslKeyPassword: 'REBUILD_PROJECTION_KAFKA_SSL_KEY_PASSWORD',
} as const;

/** A secret value: readable only through `reveal()`; every other way of printing it shows `[redacted]`. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** Where a secret comes from: a file (read by loadKafkaSecurity) or the environment (read while parsing). */
export type SecretSource = { file: string } | { env: string; value: Secret };

/** The validated settings: paths and secret sources, nothing read yet. */
export interface KafkaSecuritySettings {
  protocol: KafkaSecurityProtocol;
  tls?: {
    caFile: string | undefined;
    /** Mutual TLS: the client certificate and its key (both or neither). */
    client: { certFile: string; keyFile: string; keyPassword: SecretSource | undefined } | undefined;
    verifyHostname: boolean;
  };
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: SecretSource };
}

/** What createKafka needs: the settings with the files read and checked. */
export interface KafkaSecurity {
  protocol: KafkaSecurityProtocol;
  tls?: {
    ca: string | undefined;
    client: { cert: string; key: string; keyPassword: Secret | undefined } | undefined;
    verifyHostname: boolean;
  };
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: Secret };
}

export const PLAINTEXT: KafkaSecurity = { protocol: 'PLAINTEXT' };

/** A contradictory or incomplete setting; the CLI prints it as a usage error. */
export class KafkaSecuritySettingsError extends Error {
  override readonly name = 'KafkaSecuritySettingsError';
}

/** A file named by a setting that cannot be read or used (one line naming the setting and the file). */
export class KafkaSecurityFileError extends Error {
  override readonly name = 'KafkaSecurityFileError';
}

/** The per-setting schemas (the options table checks each value with them; Kafka's names, any case). */
export const kafkaSecurityProtocolSchema = z
  .string()
  .transform((text) => text.toUpperCase())
  .pipe(z.enum(KAFKA_SECURITY_PROTOCOLS, { message: `must be one of ${KAFKA_SECURITY_PROTOCOLS.join(', ')}` }));
export const kafkaSaslMechanismSchema = z
  .string()
  .transform((text) => text.toLowerCase())
  .pipe(z.enum(KAFKA_SASL_MECHANISMS, { message: `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}` }));

/** The settings as the options table parsed them, by option name. */
export interface KafkaSecurityValues {
  'kafka-security-protocol': KafkaSecurityProtocol;
  'kafka-ssl-ca-file'?: string | undefined;
  'kafka-ssl-cert-file'?: string | undefined;
  'kafka-ssl-key-file'?: string | undefined;
  'kafka-ssl-key-password-file'?: string | undefined;
  'kafka-ssl-no-hostname-verification'?: boolean | undefined;
  'kafka-sasl-mechanism'?: KafkaSaslMechanism | undefined;
  'kafka-sasl-username'?: string | undefined;
  'kafka-sasl-password-file'?: string | undefined;
}

/** Checks the settings together, with the secret variables, into settings. Throws KafkaSecuritySettingsError naming the setting. */
export function parseKafkaSecurity(flags: KafkaSecurityValues, env: Record<string, string | undefined>): KafkaSecuritySettings {
  const protocol = flags['kafka-security-protocol'];
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const refuse = (message: string): never => {
    throw new KafkaSecuritySettingsError(message);
  };
  const secret = (flag: string, file: string | undefined, variable: string): SecretSource | undefined => {
    // Empty means unset, as for every other variable (compose files and systemd units write an absent value so).
    const value = env[variable] || undefined;
    if (file !== undefined && value !== undefined) refuse(`choose one of --${flag} and $${variable}`);
    if (file !== undefined) return { file };
    return value === undefined ? undefined : { env: variable, value: new Secret(value) };
  };
  const keyPassword = secret('kafka-ssl-key-password-file', flags['kafka-ssl-key-password-file'], KAFKA_SECRET_ENV.sslKeyPassword);
  const password = secret('kafka-sasl-password-file', flags['kafka-sasl-password-file'], KAFKA_SECRET_ENV.saslPassword);

  const tlsSettings = (
    ['kafka-ssl-ca-file', 'kafka-ssl-cert-file', 'kafka-ssl-key-file', 'kafka-ssl-key-password-file', 'kafka-ssl-no-hostname-verification'] as const
  ).filter((flag) => flags[flag] !== undefined && flags[flag] !== false);
  if (!usesTls && (tlsSettings.length > 0 || keyPassword !== undefined)) {
    refuse(`${tlsSettings.length > 0 ? `--${tlsSettings[0]}` : `$${KAFKA_SECRET_ENV.sslKeyPassword}`} needs --kafka-security-protocol SSL or SASL_SSL (it is ${protocol})`);
  }
  const saslSettings = (['kafka-sasl-mechanism', 'kafka-sasl-username', 'kafka-sasl-password-file'] as const).filter((flag) => flags[flag] !== undefined);
  if (!usesSasl && (saslSettings.length > 0 || password !== undefined)) {
    refuse(`${saslSettings.length > 0 ? `--${saslSettings[0]}` : `$${KAFKA_SECRET_ENV.saslPassword}`} needs --kafka-security-protocol SASL_SSL or SASL_PLAINTEXT (it is ${protocol})`);
  }

  const settings: KafkaSecuritySettings = { protocol };
  if (usesTls) {
    const certFile = flags['kafka-ssl-cert-file'];
    const keyFile = flags['kafka-ssl-key-file'];
    if ((certFile === undefined) !== (keyFile === undefined)) refuse('mutual TLS needs both --kafka-ssl-cert-file and --kafka-ssl-key-file');
    if (keyPassword !== undefined && keyFile === undefined) refuse('a key password goes with --kafka-ssl-key-file');
    settings.tls = {
      caFile: flags['kafka-ssl-ca-file'],
      client: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, keyPassword } : undefined,
      verifyHostname: !flags['kafka-ssl-no-hostname-verification'],
    };
  }
  if (usesSasl) {
    const mechanism = flags['kafka-sasl-mechanism'] ?? refuse(`--kafka-security-protocol ${protocol} needs --kafka-sasl-mechanism (${KAFKA_SASL_MECHANISMS.join(', ')})`);
    const username = flags['kafka-sasl-username'] ?? refuse(`--kafka-sasl-mechanism ${mechanism} needs --kafka-sasl-username`);
    settings.sasl = {
      mechanism,
      username,
      password: password ?? refuse(`--kafka-sasl-mechanism ${mechanism} needs a password: --kafka-sasl-password-file FILE or $${KAFKA_SECRET_ENV.saslPassword}`),
    };
  }
  return settings;
}

/** Reads and checks the files the settings name. Throws KafkaSecurityFileError naming the setting and file. */
export async function loadKafkaSecurity(settings: KafkaSecuritySettings): Promise<KafkaSecurity> {
  const security: KafkaSecurity = { protocol: settings.protocol };
  if (settings.tls) {
    const { caFile, client, verifyHostname } = settings.tls;
    // Checked here: Node parses them only when it connects, where a bad file is one more retried connection error.
    const ca = caFile === undefined ? undefined : (await readCertificates('--kafka-ssl-ca-file', caFile)).pem;
    let loadedClient: NonNullable<KafkaSecurity['tls']>['client'];
    if (client !== undefined) {
      const { pem: cert, certificates } = await readCertificates('--kafka-ssl-cert-file', client.certFile);
      const key = await readPem('--kafka-ssl-key-file', client.keyFile, 'PRIVATE KEY');
      const keyPassword = client.keyPassword === undefined ? undefined : await readSecret('--kafka-ssl-key-password-file', client.keyPassword);
      let privateKey;
      try {
        privateKey = createPrivateKey({ key, passphrase: keyPassword?.reveal() });
      } catch (error) {
        const encrypted = /ENCRYPTED/.test(key);
        throw new KafkaSecurityFileError(
          `cannot use --kafka-ssl-key-file ${client.keyFile}: ${encrypted ? (keyPassword ? 'wrong key password' : 'the key is encrypted: give its password (--kafka-ssl-key-password-file)') : (error as Error).message}`,
        );
      }
      if (!certificates[0]!.checkPrivateKey(privateKey)) {
        throw new KafkaSecurityFileError(`--kafka-ssl-key-file ${client.keyFile} is not the key of --kafka-ssl-cert-file ${client.certFile}`);
      }
      loadedClient = { cert, key, keyPassword };
    }
    security.tls = { ca, client: loadedClient, verifyHostname };
  }
  if (settings.sasl) {
    const { mechanism, username, password } = settings.sasl;
    security.sasl = { mechanism, username, password: await readSecret('--kafka-sasl-password-file', password) };
  }
  return security;
}

/** One line for logs and errors: what we use, never a secret (e.g. `SASL_SSL, SCRAM-SHA-512 as alice`). */
export function describeKafkaSecurity(security: KafkaSecurity | KafkaSecuritySettings): string {
  const parts: string[] = [security.protocol];
  if (security.sasl) parts.push(`${security.sasl.mechanism.toUpperCase()} as "${security.sasl.username}"`);
  if (security.tls) {
    if ('client' in security.tls && security.tls.client) parts.push('client certificate');
    if (!security.tls.verifyHostname) parts.push('no hostname verification');
  }
  return parts.join(', ');
}

async function readText(setting: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new KafkaSecurityFileError(`cannot read ${setting} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : message}`);
  }
}

async function readPem(setting: string, file: string, label: 'CERTIFICATE' | 'PRIVATE KEY'): Promise<string> {
  const text = await readText(setting, file);
  // "PRIVATE KEY" also matches "RSA PRIVATE KEY", "EC PRIVATE KEY" and "ENCRYPTED PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${label}-----`).test(text)) throw new KafkaSecurityFileError(`${setting} ${file} holds no PEM ${label.toLowerCase()}`);
  return text;
}

async function readCertificates(setting: string, file: string): Promise<{ pem: string; certificates: X509Certificate[] }> {
  const pem = await readPem(setting, file, 'CERTIFICATE');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const certificates = blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new KafkaSecurityFileError(`${setting} ${file}: certificate ${index + 1} does not parse: ${(error as Error).message}`);
    }
  });
  if (certificates.length === 0) throw new KafkaSecurityFileError(`${setting} ${file} holds no PEM certificate`);
  return { pem, certificates };
}

async function readSecret(setting: string, source: SecretSource): Promise<Secret> {
  if ('value' in source) return source.value;
  // A file written by `echo` ends with a newline that is not part of the secret.
  const value = (await readText(setting, source.file)).replace(/\r?\n$/, '');
  if (value === '') throw new KafkaSecurityFileError(`${setting} ${source.file} is empty`);
  return new Secret(value);
}
