/**
 * Writer schemas from a schema registry speaking Confluent's REST API (Confluent, Apicurio's
 * `/apis/ccompat/v7`, Karapace), through @kafkajs/confluent-schema-registry: `GET /schemas/ids/{id}`, cached
 * per id by the client (a schema id never changes meaning). Failures are typed for src/engine/retry.ts:
 * SchemaRegistryError carries the HTTP status, or none when no answer came (refused, DNS, TLS, timeout).
 * "No such id" is not an error but an answer (undefined): its messages are dead-lettered `unknown_schema_id`.
 */
import { Agent } from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
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

/** The registry could not answer (httpStatus undefined: no HTTP response at all) or refused the request. */
export class SchemaRegistryError extends Error {
  override readonly name = 'SchemaRegistryError';
  constructor(
    message: string,
    readonly httpStatus: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Confluent's error code for "schema not found" (Apicurio's ccompat API uses it too). */
const SCHEMA_NOT_FOUND = 40403;

type ClientArgs = ConstructorParameters<typeof SchemaRegistry>[0];
type Middleware = NonNullable<ClientArgs['middlewares']>[number];

/** A failed HTTP exchange as mappersmith saw it; the client's own error keeps only the status and text. */
interface Failure {
  status: number;
  errorCode: unknown;
  /** Set when no response came: mappersmith reports such a failure as status 400 with the Node error. */
  transportError: Error | null;
}

export function createSchemaRegistrySource(config: SchemaRegistryConfig): WriterSchemaSource {
  const base = config.url.replace(/\/+$/, '');
  const failures = new Map<string, Failure>();
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Last in the client's chain, so it sees the raw response before the client's error middleware.
  const observe: Middleware = () => ({
    prepareRequest: async (next) => (await next()).enhance({ timeout: timeoutMs }),
    response: async (next, _renew, request) => {
      try {
        return await next();
      } catch (response) {
        const r = response as { status(): number; data(): unknown; error(): Error | null };
        const data = r.data();
        const errorCode = typeof data === 'object' && data !== null && 'error_code' in data ? data.error_code : undefined;
        failures.set(request.url(), { status: r.status(), errorCode, transportError: r.error() });
        throw response;
      }
    },
  });
  const args: ClientArgs = {
    host: base,
    clientId: 'rebuild-projection',
    // No retries here: src/engine/retry.ts decides, once, and retries whole batches.
    retry: { retries: 0 },
    middlewares: [observe],
  };
  if (config.username !== undefined) args.auth = { username: config.username, password: config.password ?? '' };
  if (config.ca !== undefined) args.agent = new Agent({ ca: config.ca, keepAlive: true });
  const client = new SchemaRegistry(args);

  return {
    description: `the schema registry at ${base}`,
    async fetch(id) {
      const url = `${base}/schemas/ids/${id}`;
      failures.delete(url);
      let schema: unknown;
      try {
        schema = await client.getSchema(id);
      } catch (error) {
        const failure = failures.get(url);
        failures.delete(url);
        if (failure === undefined) {
          throw new SchemaRegistryError(`schema registry: GET ${url}: ${(error as Error).message}`, undefined, { cause: error });
        }
        if (failure.transportError !== null) {
          throw new SchemaRegistryError(`schema registry unreachable: GET ${url}: ${failure.transportError.message}`, undefined, { cause: failure.transportError });
        }
        if (failure.status === 404 && failure.errorCode === SCHEMA_NOT_FOUND) {
          return { found: false, detail: `schema id ${id} is not in ${this.description}` };
        }
        const hint = failure.status === 404 ? ' (is the URL the base of the Confluent-compatible API?)' : failure.status === 401 || failure.status === 403 ? ' (check the registry credentials)' : '';
        throw new SchemaRegistryError(`schema registry answered ${failure.status} to GET ${url}${hint}: ${(error as Error).message}`, failure.status, { cause: error });
      }
      // JSON Schema and Protobuf ids also exist in a registry; only Avro can frame our events.
      if (!(schema instanceof avro.Type)) return { found: false, detail: `schema id ${id} in ${this.description} is not an Avro schema` };
      return { found: true, type: schema };
    },
  };
}
