/**
 * A real schema registry for one test file: Apicurio Registry (scripts/schema-registry.sh, jars from Maven
 * Central) on free loopback ports, with in-memory storage, stopped again by the test. Optionally also
 * HTTPS, with a throwaway CA and a server certificate for 127.0.0.1 made with openssl.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/schema-registry.sh', import.meta.url));

export interface TestSchemaRegistry {
  /** The Confluent-compatible API over HTTP, e.g. http://127.0.0.1:41234/apis/ccompat/v7. */
  url: string;
  /** The same over HTTPS, when started with tls. */
  tlsUrl: string | undefined;
  /** The CA that signed the HTTPS certificate (PEM file). */
  caFile: string | undefined;
  /** A scratch directory removed at stop. */
  dir: string;
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startSchemaRegistry(options: { tls?: boolean } = {}): Promise<TestSchemaRegistry> {
  const dir = mkdtempSync(path.join(tmpdir(), 'schema-registry-'));
  const env: Record<string, string> = { ...process.env, SCHEMA_REGISTRY_PORT: String(await freePort()), SCHEMA_REGISTRY_STATE_DIR: dir } as Record<string, string>;
  let tlsUrl: string | undefined;
  let caFile: string | undefined;
  if (options.tls) {
    caFile = path.join(dir, 'ca.pem');
    await makeCertificates(dir);
    const tlsPort = await freePort();
    Object.assign(env, { SCHEMA_REGISTRY_TLS_PORT: String(tlsPort), SCHEMA_REGISTRY_TLS_CERT: path.join(dir, 'server.pem'), SCHEMA_REGISTRY_TLS_KEY: path.join(dir, 'server.key') });
    tlsUrl = `https://127.0.0.1:${tlsPort}/apis/ccompat/v7`;
  }
  const stop = async () => {
    await run('bash', [script, 'stop'], { env });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { stdout } = await run('bash', [script, 'start'], { env, timeout: 10 * 60_000 });
    return { url: stdout.trim().split('\n').pop()!, tlsUrl, caFile, dir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function makeCertificates(dir: string): Promise<void> {
  const at = (file: string) => path.join(dir, file);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rebuild-projection test CA', '-keyout', at('ca.key'), '-out', at('ca.pem')]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', at('server.key'), '-out', at('server.csr')]);
  await run('bash', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > "${at('ext.cnf')}"`]);
  await run('openssl', ['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', at('ext.cnf'), '-out', at('server.pem')]);
}
