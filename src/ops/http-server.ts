/**
 * The operations endpoint (--metrics-port): `/metrics` (Prometheus text format), `/healthz` (200 while the
 * process answers: a blocked event loop or a dead process fails the probe), `/readyz` (200 or 503 with the
 * reason, one line). GET and HEAD only (node:http sends no body for HEAD); anything else is 404 or 405.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Readiness } from './consumer-state.js';

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
}

export interface OpsServer {
  /** Where it listens (the port the system chose when `port` was 0). */
  address: { host: string; port: number };
  /** Stops listening and ends open connections (a scrape in flight is cut, not awaited). */
  close(): Promise<void>;
}

/** The endpoint could not listen (port in use, address not on this host): the run does not start. */
export class OpsServerError extends Error {
  override readonly name = 'OpsServerError';
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((request, response) => {
    handle(request, response, options).catch((error: Error) => reply(response, 500, `could not collect the metrics: ${error.message}`));
  });
  // A probe's connection is short-lived: keep-alive sockets must not keep close() waiting.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(new OpsServerError(`could not serve metrics on ${options.host}:${options.port} (--metrics-port, --metrics-host): ${error.code ?? error.message}`, { cause: error }));
    server.once('error', failed);
    server.listen(options.port, options.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: { host: options.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, options: OpsServerOptions): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (!['/metrics', '/healthz', '/readyz'].includes(path)) return reply(response, 404, 'not found: try /metrics, /healthz or /readyz');
  if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'only GET and HEAD');
  if (path === '/healthz') return reply(response, 200, 'ok');
  if (path === '/readyz') {
    const { ready, reason } = options.readiness();
    return reply(response, ready ? 200 : 503, reason);
  }
  const body = await options.registry.metrics();
  response.writeHead(200, { 'content-type': options.registry.contentType });
  response.end(body);
}

function reply(response: ServerResponse, status: number, text: string): void {
  if (response.headersSent) return void response.destroy();
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(`${text}\n`);
}
