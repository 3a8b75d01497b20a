/**
 * A real Kafka broker with secured listeners, for the security tests: its own ports and state directory
 * (scripts/kafka-broker.sh with another template), certificates made here with openssl, SCRAM users created
 * with Kafka's own tooling (`kafka-storage format --add-scram`, which a KRaft broker needs before it starts),
 * PLAIN users in the listener's JAAS config.
 *
 *   PLAINTEXT  for the test's own setup (topics, events)
 *   SASL_SSL   PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; server-authenticated TLS
 *   SSL        mutual TLS: the client must present a certificate signed by the CA
 *   MISNAMED   TLS with a certificate (same CA) that names only elsewhere.example: hostname verification fails
 *
 * The broker certificate names 127.0.0.1 and localhost (subjectAltName), signed by a CA of its own; a second,
 * unrelated CA is there for the "wrong CA" case.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOwnKafkaBroker } from './kafka-broker.js';

const cache = fileURLToPath(new URL('../../.cache/', import.meta.url));

export const SCRAM_USERS = {
  'scram-sha-512': { username: 'alice', password: 'alice-Secret-512' },
  'scram-sha-256': { username: 'bob', password: 'bob-Secret-256' },
} as const;
export const PLAIN_USER = { username: 'carol', password: 'carol-Secret-plain' } as const;
export const CLIENT_KEY_PASSWORD = 'client-key-Secret';

export interface SecureKafkaBroker {
  /** For the test's setup: topics, producing events. */
  plaintext: string;
  saslSsl: string;
  mtls: string;
  misnamed: string;
  files: {
    ca: string;
    otherCa: string;
    clientCert: string;
    /** The client key, encrypted with CLIENT_KEY_PASSWORD. */
    clientKey: string;
    dir: string;
  };
  stop: () => Promise<void>;
}

/** `count` ports that were free a moment ago (the OS chose them). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a broker certificate it signs (SAN 127.0.0.1, localhost), a client certificate, and an unrelated CA. */
function makeCertificates(dir: string, storePassword: string): void {
  const days = '2';
  for (const ca of ['ca', 'other-ca']) {
    openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', days, '-subj', `/CN=rebuild-projection test ${ca}`);
  }
  writeFileSync(path.join(dir, 'broker.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  writeFileSync(path.join(dir, 'misnamed.ext'), 'subjectAltName=DNS:elsewhere.example\n');
  for (const [name, subject] of [['broker', '/CN=localhost'], ['client', '/CN=rebuild-projection'], ['misnamed', '/CN=elsewhere.example']] as const) {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', `${name}.ext`);
  }
  for (const name of ['broker', 'misnamed']) {
    openssl(dir, 'pkcs12', '-export', '-in', `${name}.pem`, '-inkey', `${name}.key`, '-certfile', 'ca.pem', '-name', name, '-out', `${name}.p12`, '-passout', `pass:${storePassword}`);
  }
  openssl(dir, 'pkcs8', '-topk8', '-in', 'client.key', '-out', 'client-encrypted.key', '-v2', 'aes-256-cbc', '-passout', `pass:${CLIENT_KEY_PASSWORD}`);
}

export async function startSecureKafkaBroker(): Promise<SecureKafkaBroker> {
  mkdirSync(cache, { recursive: true });
  const stateDir = mkdtempSync(path.join(cache, 'secure-broker-'));
  const certs = path.join(stateDir, 'certs');
  mkdirSync(certs);
  const storePassword = 'broker-store-Secret';
  makeCertificates(certs, storePassword);
  const [port, controllerPort, saslSslPort, mtlsPort, misnamedPort] = (await freePorts(5)) as [number, number, number, number, number];
  const file = (name: string) => path.join(certs, name);
  const scramJaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  // @PORT@, @CONTROLLER_PORT@ and @LOG_DIRS@ are the script's to fill in.
  const template = [
    'process.roles=broker,controller',
    'node.id=1',
    'controller.quorum.voters=1@127.0.0.1:@CONTROLLER_PORT@',
    `listeners=PLAINTEXT://127.0.0.1:@PORT@,SASL_SSL://127.0.0.1:${saslSslPort},SSL://127.0.0.1:${mtlsPort},MISNAMED://127.0.0.1:${misnamedPort},CONTROLLER://127.0.0.1:@CONTROLLER_PORT@`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:@PORT@,SASL_SSL://127.0.0.1:${saslSslPort},SSL://127.0.0.1:${mtlsPort},MISNAMED://127.0.0.1:${misnamedPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,MISNAMED:SSL',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${PLAIN_USER.username}="${PLAIN_USER.password}";`,
    `listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=${scramJaas}`,
    `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scramJaas}`,
    'ssl.keystore.type=PKCS12',
    `ssl.keystore.location=${file('broker.p12')}`,
    `ssl.keystore.password=${storePassword}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${file('ca.pem')}`,
    'listener.name.ssl.ssl.client.auth=required',
    `listener.name.misnamed.ssl.keystore.location=${file('misnamed.p12')}`,
    'listener.name.misnamed.ssl.keystore.type=PKCS12',
    `listener.name.misnamed.ssl.keystore.password=${storePassword}`,
    'log.dirs=@LOG_DIRS@',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'log.cleaner.dedupe.buffer.size=2097152',
    'num.network.threads=2',
    'num.io.threads=2',
    '',
  ].join('\n');
  writeFileSync(path.join(stateDir, 'server.properties.template'), template);
  // One argument per line (the script reads them with mapfile: no shell quoting of the brackets).
  const scram = Object.entries(SCRAM_USERS).flatMap(([mechanism, user]) => ['--add-scram', `${mechanism.toUpperCase()}=[name=${user.username},password=${user.password}]`]);
  writeFileSync(path.join(stateDir, 'format-args'), `${scram.join('\n')}\n`);

  const broker = await startOwnKafkaBroker({
    stateDir,
    port,
    env: {
      KAFKA_CONTROLLER_PORT: String(controllerPort),
      KAFKA_SERVER_TEMPLATE: path.join(stateDir, 'server.properties.template'),
      KAFKA_FORMAT_ARGS_FILE: path.join(stateDir, 'format-args'),
    },
  });
  return {
    plaintext: broker.brokers,
    saslSsl: `127.0.0.1:${saslSslPort}`,
    mtls: `127.0.0.1:${mtlsPort}`,
    misnamed: `127.0.0.1:${misnamedPort}`,
    files: { ca: file('ca.pem'), otherCa: file('other-ca.pem'), clientCert: file('client.pem'), clientKey: file('client-encrypted.key'), dir: certs },
    stop: async () => {
      try {
        await broker.stop();
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  };
}
