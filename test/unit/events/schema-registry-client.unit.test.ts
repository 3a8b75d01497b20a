/**
 * How the registry client's failures are typed and classified (retry.ts): scripted HTTP answers from a
 * local server, and a closed port for "registry down". The real registry: schema-registry.int.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isTransient } from '../../../src/engine/retry.js';
import { createSchemaRegistrySource, SchemaRegistryError } from '../../../src/events/codec/schema-registry.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/**
 * A server answering every request with this status and JSON body (or never, for `hang`); GET …/subjects
 * answers `subjects` (default: an API's 200 with its list).
 */
async function answering(status: number | 'hang', body: unknown = {}, subjects: { status: number; body: unknown } = { status: 200, body: [] }): Promise<string> {
  server = createServer((req, res) => {
    if (req.url?.endsWith('/subjects')) res.writeHead(subjects.status, { 'content-type': 'application/json' }).end(JSON.stringify(subjects.body));
    else if (status !== 'hang') res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7`;
}

async function failure(url: string, timeoutMs?: number): Promise<SchemaRegistryError> {
  const error = await createSchemaRegistrySource({ url, timeoutMs }).fetch(7).then(() => undefined, (e: unknown) => e);
  if (!(error instanceof SchemaRegistryError)) throw new Error(`expected a SchemaRegistryError, got ${String(error)}`);
  return error;
}

describe('the schema registry client', () => {
  it('returns the Avro writer schema of an id', async () => {
    const url = await answering(200, { schema: JSON.stringify({ type: 'record', name: 'Key', fields: [{ name: 'id', type: 'long' }] }) });
    const lookup = await createSchemaRegistrySource({ url }).fetch(7);
    expect(lookup.found && lookup.type.name).toBe('Key');
  });

  it("answers not found for Confluent's 404 (a dead letter, not an error)", async () => {
    const url = await answering(404, { error_code: 40403, message: 'Schema 7 not found' });
    expect(await createSchemaRegistrySource({ url }).fetch(7)).toEqual({ found: false, detail: `schema id 7 is not in the schema registry at ${url}` });
  });

  it("stops (permanent) when GET /subjects answers 404 too: the URL is not the API's base, not an unknown id", async () => {
    const url = await answering(404, { message: 'RESTEASY003210: Could not find resource' }, { status: 404, body: { message: 'RESTEASY003210: Could not find resource' } });
    const error = await failure(url);
    expect(error).toMatchObject({ failure: 'http', httpStatus: 404 });
    expect(error.message).toBe(
      `schema registry answered 404 to GET ${url}/subjects too: ${url} is not the base URL of a Confluent-compatible API (e.g. …/apis/ccompat/v7 for Apicurio): check --schema-registry`,
    );
    expect(isTransient(error)).toBe(false);
  });

  it('keeps a 404 for an id a dead letter when GET /subjects is refused otherwise (ACLs that allow reads by id only)', async () => {
    const url = await answering(404, { error_code: 40403, message: 'Schema 7 not found' }, { status: 403, body: { error_code: 40301, message: 'forbidden' } });
    expect(await createSchemaRegistrySource({ url }).fetch(7)).toEqual({ found: false, detail: `schema id 7 is not in the schema registry at ${url}` });
  });

  it('calls a registry that is down (connection refused) transient', async () => {
    const url = await answering(200);
    server!.close();
    server = undefined;
    const error = await failure(url);
    expect(error).toMatchObject({ failure: 'no-answer', httpStatus: undefined });
    expect(error.message).toMatch(/^schema registry did not answer GET http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7\/schemas\/ids\/7: connect ECONNREFUSED/);
    expect(isTransient(error)).toBe(true);
  });

  it('calls a registry that does not answer in time transient', async () => {
    const error = await failure(await answering('hang'), 300);
    expect(error).toMatchObject({ failure: 'no-answer' });
    expect(error.message).toContain('Timeout (300ms)');
    expect(isTransient(error)).toBe(true);
  });

  it('calls 503 transient, and 401 (with a hint) and 403 permanent', async () => {
    const unavailable = await failure(await answering(503, { error_code: 50301, message: 'restarting' }));
    expect(unavailable).toMatchObject({ failure: 'http', httpStatus: 503 });
    expect(isTransient(unavailable)).toBe(true);
    await new Promise((resolve) => server!.close(resolve));
    const unauthorized = await failure(await answering(401, { error_code: 40101, message: 'Unauthorized' }));
    expect(unauthorized.message).toContain('answered 401 to GET');
    expect(unauthorized.message).toContain('(check the registry credentials)');
    expect(isTransient(unauthorized)).toBe(false);
    expect(isTransient(new SchemaRegistryError('x', 'http', 403))).toBe(false);
    expect(isTransient(new SchemaRegistryError('x', 'tls', undefined))).toBe(false);
  });
});
