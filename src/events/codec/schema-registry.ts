/**
 * Writer schemas from a schema registry speaking Confluent's REST API (Confluent, Apicurio's
 * `/apis/ccompat/v7`, Karapace), through @kafkajs/confluent-schema-registry: `GET /schemas/ids/{id}`, cached
 * per id by the client (a schema id never changes meaning). Failures are typed for src/engine/retry.ts
 * (SchemaRegistryError: no answer, TLS refused, or an HTTP status). "No such id" (404) is not an error but
 * an answer: its messages are dead-lettered `unknown_schema_id`. The client reports a 404 without
 * Confluent's error code, so a URL that is not the API's base also reads as unknown ids (all of them).
 */
import { Agent } from 'node:https';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
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
  let client: Promise<SchemaRegistry> | undefined;

  return {
    description: `the schema registry at ${base}`,
    async fetch(id) {
      const url = `${base}/schemas/ids/${id}`;
      client ??= import('@kafkajs/confluent-schema-registry').then((registry) => new registry.SchemaRegistry(args));
      const registry = await client;
      let schema: unknown;
      try {
        schema = await registry.getSchema(id);
      } catch (error) {
        const status = (error as { status?: unknown }).status;
        const text = (error as Error).message;
        const noResponse = status === 400 ? NO_RESPONSE.exec(text)?.[1] : undefined;
        if (noResponse !== undefined) {
          const failure = TLS_FAILURE.test(noResponse) ? 'tls' : 'no-answer';
          throw new SchemaRegistryError(`schema registry did not answer GET ${url}: ${noResponse}`, failure, undefined, { cause: error });
        }
        // Not an HTTP failure: the client could not use what the registry holds (e.g. a schema avsc rejects).
        if (typeof status !== 'number') return { found: false, detail: `schema id ${id} in ${this.description} cannot be used: ${text}` };
        // Confluent's "schema not found" (error code 40403; Apicurio answers the same); the client keeps only the status.
        if (status === 404) return { found: false, detail: `schema id ${id} is not in ${this.description}` };
        const hint = status === 401 || status === 403 ? ' (check the registry credentials)' : '';
        throw new SchemaRegistryError(`schema registry answered ${status} to GET ${url}${hint}: ${text}`, 'http', status, { cause: error });
      }
      // JSON Schema and Protobuf ids also exist in a registry; only Avro can frame our events.
      if (!(schema instanceof avro.Type)) return { found: false, detail: `schema id ${id} in ${this.description} is not an Avro schema` };
      return { found: true, type: schema };
    },
  };
}
