/**
 * Writer schemas from a schema registry speaking Confluent's REST API (Confluent, Apicurio's
 * `/apis/ccompat/v7`, Karapace), through @kafkajs/confluent-schema-registry: `GET /schemas/ids/{id}`, cached
 * per id by the client (a schema id never changes meaning). Failures are typed for src/engine/retry.ts
 * (SchemaRegistryError: no answer, TLS refused, or an HTTP status). "No such id" (404) is not an error but
 * an answer: its messages are dead-lettered `unknown_schema_id`. The client reports a 404 without
 * Confluent's error code, and a URL that is not the API's base answers 404 to every id: so the first 404 is
 * checked with `GET /subjects`, whose 404 too stops the run (the URL is wrong) instead of dead-lettering all.
 */
import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { SchemaRegistryAPIClient, SchemaRegistryAPIClientArgs } from '@kafkajs/confluent-schema-registry/dist/api/index.js';
import avro from 'avsc';
import type { Type } from 'avsc';

export interface SchemaRegistryConfig {
  /** Base URL of the Confluent-compatible API, e.g. `https://registry:8080/apis/ccompat/v7`. */
  url: string;
  /** HTTP basic auth; both or neither. */
  username?: string | undefined;
  password?: string | undefined;
  /** PEM certificates to trust for an https URL (instead of Node's bundled CAs). */
  ca?: string | undefined;
  /** Per request; default 10 s. */
  timeoutMs?: number | undefined;
}

/** What a registry says about a schema id. */
export type WriterSchemaLookup = { found: true; type: Type } | { found: false; detail: string };

export interface WriterSchemaSource {
  /** Where the schemas come from, for messages. */
  readonly description: string;
  /** Rejects with SchemaRegistryError when the registry did not answer usefully. */
  fetch(id: number): Promise<WriterSchemaLookup>;
}

/**
 * How a registry request failed: `no-answer` (refused, reset, DNS, a timeout), `tls` (the certificate or
 * the handshake was refused: configuration), or `http` (an HTTP error status).
 */
export type SchemaRegistryFailure = 'no-answer' | 'tls' | 'http';

export class SchemaRegistryError extends Error {
  override readonly name = 'SchemaRegistryError';
  constructor(
    message: string,
    readonly failure: SchemaRegistryFailure,
    readonly httpStatus: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

type ClientArgs = ConstructorParameters<typeof SchemaRegistry>[0];
type Middleware = NonNullable<ClientArgs['middlewares']>[number];

/**
 * The client turns every failure into a ResponseError with the status and a text. A request that got no
 * response (mappersmith reports it as status 400 with Node's error message as the body) reads
 * "Error, status 400: <message>"; a registry's own 400 carries its JSON message instead.
 */
const NO_RESPONSE = /Error, status 400: (.*)$/s;
/** Node's TLS failures: untrusted or expired certificates, a wrong host name, a failed handshake. */
const TLS_FAILURE = /certificate|altnames|SSL routines|handshake/i;

export function createSchemaRegistrySource(config: SchemaRegistryConfig): WriterSchemaSource {
  const base = config.url.replace(/\/+$/, '');
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout: Middleware = () => ({ prepareRequest: async (next) => (await next()).enhance({ timeout: timeoutMs }) });
  const args: ClientArgs = {
    host: base,
    // No retries here: src/engine/retry.ts decides, once, and retries whole batches.
    retry: { retries: 0 },
    middlewares: [timeout],
  };
  if (config.username !== undefined) args.auth = { username: config.username, password: config.password ?? '' };
  if (config.ca !== undefined) args.agent = new Agent({ ca: config.ca, keepAlive: true });
  // Loaded on the first lookup: the client and its dependencies (ajv, protobufjs, mappersmith) take about
  // 0.25 s to load, which every run without a registry would pay at startup.
  let client: { registry: SchemaRegistry; api: SchemaRegistryAPIClient } | undefined;
  const connect = () => {
    if (client === undefined) {
      const { SchemaRegistry: Client, createApi } = loadClient();
      client = { registry: new Client(args), api: createApi(args) };
    }
    return client;
  };
  // Set once GET /subjects answered: the URL is an API's base, so its 404s are about the ids.
  let baseChecked = false;

  /**
   * A 404 for an id: an unknown id, or a URL that is not the API's base (where every path is unknown). Only a
   * 404 to GET /subjects too says the latter; another refusal of it (a registry whose ACLs let this reader
   * fetch schemas by id only) cannot tell, and the id stays unknown.
   */
  const checkBase = async (api: SchemaRegistryAPIClient): Promise<void> => {
    if (baseChecked) return;
    const url = `${base}/subjects`;
    try {
      await api.Subject.all({});
    } catch (error) {
      const status = failedStatus(error, url);
      if (status !== 404) return;
      throw new SchemaRegistryError(
        `schema registry answered 404 to GET ${url} too: ${base} is not the base URL of a Confluent-compatible API (e.g. …/apis/ccompat/v7 for Apicurio): check --schema-registry`,
        'http',
        status,
        { cause: error },
      );
    }
    baseChecked = true;
  };

  return {
    description: `the schema registry at ${base}`,
    async fetch(id) {
      const url = `${base}/schemas/ids/${id}`;
      const { registry, api } = connect();
      let schema: unknown;
      try {
        schema = await registry.getSchema(id);
      } catch (error) {
        const status = failedStatus(error, url);
        // Not an HTTP failure: the client could not use what the registry holds (e.g. a schema avsc rejects).
        if (status === undefined) return { found: false, detail: `schema id ${id} in ${this.description} cannot be used: ${(error as Error).message}` };
        // Confluent's "schema not found" (error code 40403; Apicurio answers the same); the client keeps only the status.
        if (status === 404) {
          await checkBase(api);
          return { found: false, detail: `schema id ${id} is not in ${this.description}` };
        }
        throw httpError(error, url, status);
      }
      // JSON Schema and Protobuf ids also exist in a registry; only Avro can frame our events.
      if (!(schema instanceof avro.Type)) return { found: false, detail: `schema id ${id} in ${this.description} is not an Avro schema` };
      return { found: true, type: schema };
    },
  };
}

/**
 * The client's modules, required on first use (CommonJS: the same exports under Node and under vitest): the
 * SchemaRegistry class, and its own request layer (mappersmith) for GET /subjects, which the class does not offer.
 */
function loadClient(): { SchemaRegistry: typeof SchemaRegistry; createApi: (args: SchemaRegistryAPIClientArgs) => SchemaRegistryAPIClient } {
  const require = createRequire(import.meta.url);
  const { SchemaRegistry: Client } = require('@kafkajs/confluent-schema-registry') as { SchemaRegistry: typeof SchemaRegistry };
  const api = require('@kafkajs/confluent-schema-registry/dist/api/index.js') as { default: (args: SchemaRegistryAPIClientArgs) => SchemaRegistryAPIClient };
  return { SchemaRegistry: Client, createApi: api.default };
}

/**
 * The HTTP status of a failed request; undefined when it is not an HTTP failure. A request that got no answer
 * is thrown here as SchemaRegistryError (no-answer, or tls).
 */
function failedStatus(error: unknown, url: string): number | undefined {
  const status = (error as { status?: unknown }).status;
  const text = (error as Error).message;
  const noResponse = status === 400 ? NO_RESPONSE.exec(text)?.[1] : undefined;
  if (noResponse !== undefined) {
    const failure = TLS_FAILURE.test(noResponse) ? 'tls' : 'no-answer';
    throw new SchemaRegistryError(`schema registry did not answer GET ${url}: ${noResponse}`, failure, undefined, { cause: error });
  }
  return typeof status === 'number' ? status : undefined;
}

function httpError(error: unknown, url: string, status: number): SchemaRegistryError {
  const hint = status === 401 || status === 403 ? ' (check the registry credentials)' : '';
  return new SchemaRegistryError(`schema registry answered ${status} to GET ${url}${hint}: ${(error as Error).message}`, 'http', status, { cause: error });
}
