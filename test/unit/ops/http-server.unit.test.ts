import { afterEach, describe, expect, it } from 'vitest';
import { Registry, Counter } from 'prom-client';
import { OpsServerError, startOpsServer, type OpsServer } from '../../../src/ops/http-server.js';
import type { Readiness } from '../../../src/ops/consumer-state.js';

let servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(readiness: () => Readiness) {
  const registry = new Registry();
  new Counter({ name: 'demo_total', help: 'demo', registers: [registry] }).inc(3);
  const server = await startOpsServer({ host: '127.0.0.1', port: 0, registry, readiness });
  servers.push(server);
  const get = async (path: string, method = 'GET') => {
    const response = await fetch(`http://127.0.0.1:${server.address.port}${path}`, { method });
    return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
  };
  return { server, get };
}

describe('the operations endpoint', () => {
  it('serves the registry in the Prometheus text format on /metrics', async () => {
    const { get } = await serve(() => ({ ready: true, reason: 'fine' }));
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toContain('demo_total 3');
  });

  it('answers /healthz with 200, and /readyz with 200 or 503 and the reason', async () => {
    let readiness: Readiness = { ready: false, reason: 'the consumer has not joined its group yet' };
    const { get } = await serve(() => readiness);
    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get('/readyz')).toMatchObject({ status: 503, body: 'the consumer has not joined its group yet\n' });
    readiness = { ready: true, reason: '3 partitions assigned, lag at most 0' };
    expect(await get('/readyz?verbose')).toMatchObject({ status: 200, body: '3 partitions assigned, lag at most 0\n' });
    expect(await get('/readyz', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('refuses other paths and methods', async () => {
    const { get } = await serve(() => ({ ready: true, reason: '' }));
    expect((await get('/')).status).toBe(404);
    expect((await get('/metrics', 'POST')).status).toBe(405);
  });

  it('fails to start with a typed error naming the address when the port is taken', async () => {
    const { server } = await serve(() => ({ ready: true, reason: '' }));
    const taken = startOpsServer({ host: '127.0.0.1', port: server.address.port, registry: new Registry(), readiness: () => ({ ready: true, reason: '' }) });
    await expect(taken).rejects.toThrow(OpsServerError);
    await expect(taken).rejects.toThrow(`could not serve metrics on 127.0.0.1:${server.address.port} (--metrics-port, --metrics-host): EADDRINUSE`);
  });

  it('closes promptly although a client keeps its connection open', async () => {
    const { server, get } = await serve(() => ({ ready: true, reason: '' }));
    await get('/healthz');
    const started = Date.now();
    await server.close();
    servers = [];
    expect(Date.now() - started).toBeLessThan(500);
  });
});
