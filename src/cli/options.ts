/**
 * The command line, declared once: each option's flag, value placeholder, help, default, schema, environment
 * variable and config-file key come from one entry of OPTIONS, so --help, parsing and the README's
 * configuration reference cannot drift apart. Adding a flag is adding one entry (and its field in CliArgs).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { NamedSource, SourceKind } from '../sources/source-kinds.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import type { DeadLetterFilter } from '../sink/postgres/dead-letters.js';
import { defaultDataDir } from '../sink/postgres/embedded.js';
import { DEFAULT_ROLLBACK_HISTORY } from '../sink/postgres/switch-shadow.js';
import {
  KAFKA_SECRET_ENV,
  kafkaSaslMechanismSchema,
  kafkaSecurityProtocolSchema,
  KafkaSecuritySettingsError,
  parseKafkaSecurity,
  type KafkaSecuritySettings,
} from '../sources/kafka/kafka-security.js';
import { parseConfigFile, type ConfigValues } from './config-file.js';
import { coresAvailable } from './cores-available.js';
import { didYouMean } from './did-you-mean.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logger.js';
import { UsageError } from './usage-error.js';

/** Where an option's value may come from, besides its flag. */
type Source = 'env' | 'file';

export interface OptionSpec {
  /** `string` takes a value; `boolean` is a flag (false unless given). */
  type: 'string' | 'boolean';
  /** Placeholder for the value in --help, e.g. `N`. */
  value?: string;
  /** One-letter alias, e.g. `h` for `-h`. */
  short?: string;
  help: string;
  /** The value when no flag, environment variable or config key gives one, written as on the command line. */
  default?: string;
  /** When the fallback is not a value of this table (another option, the package's files): what --help says. */
  defaultText?: string;
  /** Checks and converts the value (a string, or true/false for a flag); messages follow the option's name. */
  schema: z.ZodType;
  /**
   * Besides the flag: `REBUILD_PROJECTION_<FLAG>` (env) and the key `<flag>` in the --config file (file).
   * Default both. Modes and one-off arguments of a single invocation (--status, --yes, …) are flags only:
   * a service's environment or file that said `yes` or `purge-dead-letters` would act on every start.
   */
  from?: readonly Source[];
  /** Older environment variable still read after REBUILD_PROJECTION_<FLAG>. */
  fallbackEnv?: string;
  /** The value may hold a password: never printed, not even in an error. */
  secret?: true;
}

const nonEmpty = z.string().min(1, 'must not be empty');

const positiveInt = z
  .string()
  .regex(/^\d+$/, 'must be a positive integer')
  .transform(Number)
  .refine((n) => n > 0 && n <= 100_000, 'must be between 1 and 100000');

const nonNegativeInt = z
  .string()
  .regex(/^\d+$/, 'must be a whole number (0 or more)')
  .transform(Number)
  .refine((n) => n <= 1_000_000_000, 'must be at most 1000000000');

const tcpPort = z
  .string()
  .regex(/^\d+$/, 'takes a TCP port number')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65_535, 'must be between 1 and 65535');

/**
 * A moment: an ISO-8601 date and time with its zone, or epoch milliseconds (Kafka's own tools take those).
 * Date.parse alone would read "1" as 2001 and "2026-11-25 10:00" in this machine's zone: a replay from the
 * wrong moment, without a word.
 */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;
const isoTime = z
  .string()
  .refine(
    (text) => /^\d+$/.test(text) || (ISO_WITH_ZONE.test(text) && !Number.isNaN(Date.parse(text))),
    'must be an ISO-8601 time with its zone (e.g. 2026-11-25T10:00:00Z) or epoch milliseconds',
  )
  .transform((text) => (/^\d+$/.test(text) ? Number(text) : Date.parse(text)));

const list = nonEmpty.transform((text) => text.split(',').map((item) => item.trim()).filter(Boolean));

const offsetsSchema = z
  .string()
  .regex(/^(\d+|\d+:\d+(,\d+:\d+)*)$/, 'takes "partition:offset,…" (e.g. 0:1200,1:998) or one offset')
  .transform((text): { all: string } | { partitions: Map<number, string> } =>
    text.includes(':')
      ? { partitions: new Map(text.split(',').map((pair) => pair.split(':') as [string, string]).map(([p, o]) => [Number(p), o])) }
      : { all: text },
  );

export type FromOffsets = z.infer<typeof offsetsSchema>;

/** `30m`, `12h`, `7d`, `90s` → seconds. */
const durationSchema = z
  .string()
  .regex(/^\d+[smhd]$/, 'takes a number and a unit (s, m, h or d), e.g. 12h or 7d')
  .transform((text) => Number(text.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86_400 }[text.slice(-1) as 's' | 'm' | 'h' | 'd']);

/**
 * --workers' default for --follow and a replay: the main thread. Measured on the follow benchmark (N = 20,000,
 * five interleaved rounds on 2 cores shared with PostgreSQL and Kafka; README "Generation threads"): 2 workers
 * sustained a median 0.97× the main thread's events/s through a config-changing backlog, at 1.2× the CPU per
 * event and 1.26× the peak RSS (about +60 MB; issue 12's row 7 wants < 250 MB). A follow transaction's rows are
 * few, and on 2 cores PostgreSQL needs the second one.
 */
const FOLLOW_WORKERS = 1;

const FLAG_ONLY = [] as const;

/** A boolean given on the command line only: a mode, or a one-off switch of one invocation. */
const commandFlag = (help: string) => ({ type: 'boolean', help, schema: z.boolean(), from: FLAG_ONLY }) as const;

export const CONFIG_FILE_FORMAT = 'YAML: the flag names without -- as keys, e.g. "batch-size: 500"';

export const OPTIONS = {
  source: { type: 'string', value: 'kafka|snapshot|file:PATH', help: 'where events come from; file: NDJSON events or a kcat -J topic dump, .gz too', default: 'kafka', schema: z.string().regex(/^(kafka|snapshot|file:.+)$/, 'must be "kafka", "snapshot" or "file:PATH" (e.g. file:events.ndjson.gz)') },
  'database-url': { type: 'string', value: 'URL', help: "GitLab's PostgreSQL, where workspace_agentk_states lives", schema: nonEmpty, fallbackEnv: 'DATABASE_URL', secret: true },
  'source-database-url': { type: 'string', value: 'URL', help: 'database to read the workspaces snapshot from', defaultText: '--database-url', schema: nonEmpty, secret: true },
  'data-dir': { type: 'string', value: 'DIR', help: "without a database URL: the embedded PostgreSQL's directory", defaultText: '$XDG_CACHE_HOME/rebuild-projection, else ~/.cache/rebuild-projection', schema: nonEmpty },
  'batch-size': { type: 'string', value: 'N', help: 'workspaces per transaction of a snapshot, a rebuild page or a file (Kafka: see Operations)', default: '250', schema: positiveInt },
  'agent-config': { type: 'string', value: 'pinned|live', help: "agent config per workspace: the pinned version, or the live row as GitLab's backfill did", default: 'pinned', schema: z.enum(['pinned', 'live'], { message: 'must be "pinned" or "live"' }) },
  brokers: { type: 'string', value: 'HOST:PORT,…', help: 'Kafka bootstrap brokers', schema: list, fallbackEnv: 'KAFKA_BROKERS' },
  topic: { type: 'string', value: 'NAME,…', help: 'topics to consume', default: 'workspace-events', schema: list },
  group: { type: 'string', value: 'ID', help: 'Kafka consumer group', default: 'rebuild-projection-agentk-states', schema: nonEmpty },
  'kafka-security-protocol': { type: 'string', value: 'PROTOCOL', help: "Kafka's security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", default: 'PLAINTEXT', schema: kafkaSecurityProtocolSchema },
  'kafka-ssl-ca-file': { type: 'string', value: 'FILE', help: "PEM CA certificates the brokers' certificates must chain to", defaultText: 'the system CAs', schema: nonEmpty },
  'kafka-ssl-cert-file': { type: 'string', value: 'FILE', help: 'mutual TLS: our PEM client certificate (with --kafka-ssl-key-file)', schema: nonEmpty },
  'kafka-ssl-key-file': { type: 'string', value: 'FILE', help: 'mutual TLS: its PEM private key', schema: nonEmpty },
  'kafka-ssl-key-password-file': { type: 'string', value: 'FILE', help: 'file holding the passphrase of an encrypted key', defaultText: `$${KAFKA_SECRET_ENV.sslKeyPassword}`, schema: nonEmpty },
  'kafka-ssl-no-hostname-verification': { type: 'boolean', help: "accept a broker certificate that does not name the broker's host (the CA is still checked)", schema: z.boolean() },
  'kafka-sasl-mechanism': { type: 'string', value: 'MECHANISM', help: "Kafka's sasl.mechanism: plain, scram-sha-256 or scram-sha-512", schema: kafkaSaslMechanismSchema },
  'kafka-sasl-username': { type: 'string', value: 'NAME', help: 'SASL user', schema: nonEmpty },
  'kafka-sasl-password-file': { type: 'string', value: 'FILE', help: 'file holding the SASL password', defaultText: `$${KAFKA_SECRET_ENV.saslPassword}`, schema: nonEmpty },
  follow: { type: 'boolean', help: 'keep consuming after catching up, until SIGTERM/SIGINT (set in the environment or file: yields to another mode flag)', schema: z.boolean() },
  'from-offset': { type: 'string', value: 'P:O,…|O', help: 'replay from these offsets (partition:offset, or one offset for every partition)', schema: offsetsSchema, from: FLAG_ONLY },
  'from-timestamp': { type: 'string', value: 'ISO-8601|MS', help: 'replay from the first offset at or after this time', schema: isoTime, from: FLAG_ONLY },
  'from-beginning': commandFlag('replay from the earliest offsets'),
  'from-checkpoint': commandFlag('resume from the checkpoints in PostgreSQL (what --follow does), and stop at the end'),
  status: commandFlag('print generation, checkpoints, lag per partition, dead letters and the last rebuild'),
  rollback: commandFlag('undo the latest switch that is not rolled back yet (--to ID: every switch back to rebuild #ID)'),
  to: { type: 'string', value: 'REBUILD_ID', help: 'with --rollback: restore the table as it was before rebuild #ID switched (undoing the later switches first)', schema: positiveInt, from: FLAG_ONLY },
  'rollback-history': { type: 'string', value: 'K', help: 'switches whose undo logs are kept for --rollback, this one included', defaultText: String(DEFAULT_ROLLBACK_HISTORY), schema: positiveInt },
  'no-switch': commandFlag('rebuild the shadow, stop before the switch and print its preview (then --switch)'),
  preview: commandFlag('what switching the built shadow in would do: restarts, starts, stops, per workspace; writes nothing'),
  switch: commandFlag('switch the built shadow in, exactly as previewed (needs --fingerprint)'),
  fingerprint: { type: 'string', value: 'F', help: 'with --switch: the fingerprint --preview printed; refused if the diff changed since', schema: z.string().regex(/^[0-9a-fA-F]{64}$/, 'takes the 64 hex digits --preview printed').transform((f) => f.toLowerCase()), from: FLAG_ONLY },
  'max-restarts': { type: 'string', value: 'N', help: 'refuse to switch when more than N running workspaces would restart (rebuild, --switch)', schema: nonNegativeInt },
  verify: commandFlag('compare workspace_agentk_states with what a snapshot rebuild would write; read-only, exit 2 on drift'),
  'dead-letters': commandFlag('list dead letters: counts by reason, then the letters (read-only; filters below, --json)'),
  'retry-dead-letters': commandFlag('decode dead-lettered messages again (after a fix), apply those that now succeed and the events they held'),
  'purge-dead-letters': commandFlag('delete the chosen dead letters (needs --yes) and apply the events they held'),
  reason: { type: 'string', value: 'REASON', help: 'with --*dead-letters: only this error kind (e.g. unknown_schema_id)', schema: nonEmpty, from: FLAG_ONLY },
  workspace: { type: 'string', value: 'ID', help: 'with --*dead-letters: only this workspace', schema: z.string().regex(/^\d+$/, 'takes a workspace id').transform(Number), from: FLAG_ONLY },
  'older-than': { type: 'string', value: 'DURATION', help: 'with --*dead-letters: first seen at least this long ago (30m, 12h, 7d)', schema: durationSchema, from: FLAG_ONLY },
  since: { type: 'string', value: 'ISO-8601|MS', help: 'with --*dead-letters: first seen at or after this time', schema: isoTime.transform((ms) => new Date(ms)), from: FLAG_ONLY },
  yes: commandFlag('with --purge-dead-letters: really delete'),
  schemas: { type: 'string', value: 'DIR', help: 'Avro catalog directory (catalog.json and .avsc files)', defaultText: "the package's schemas/", schema: nonEmpty },
  'export-events': commandFlag("produce one full-row event per workspace of GitLab's workspaces table (one snapshot) to --topic, or --to-file"),
  'to-file': { type: 'string', value: 'FILE', help: 'with --export-events: write NDJSON (one JSON event per line) to this new file instead of Kafka', schema: nonEmpty, from: FLAG_ONLY },
  'export-encoding': { type: 'string', value: 'json|avro', help: 'with --export-events to Kafka: the event encoding', defaultText: 'json', schema: z.enum(['json', 'avro'], { message: 'must be "json" or "avro"' }), from: FLAG_ONLY },
  append: commandFlag('with --export-events: produce even though the topic already holds messages'),
  'schema-registry': { type: 'string', value: 'URL', help: "schema registry (Confluent's REST API, e.g. Apicurio's …/apis/ccompat/v7): Avro schema ids are its ids, not --schemas' catalog's", schema: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      // The URL is printed in messages and dead letters: credentials belong in --registry-user and its password.
      .refine((url) => !/^https?:\/\/[^/]*@/.test(url), 'must not hold a user or password: use --registry-user and REBUILD_PROJECTION_REGISTRY_PASSWORD or --registry-password-file'),
  },
  'registry-user': { type: 'string', value: 'USER', help: 'with --schema-registry: HTTP basic auth user (with a password)', schema: nonEmpty },
  'registry-password': { type: 'string', value: 'PASSWORD', help: 'with --registry-user: its password; prefer the environment variable or the file (a flag shows in ps)', schema: nonEmpty, secret: true },
  'registry-password-file': { type: 'string', value: 'FILE', help: 'with --registry-user: read its password from this file', schema: nonEmpty },
  'registry-ca': { type: 'string', value: 'FILE', help: 'with an https --schema-registry: trust the PEM certificates in this file', schema: nonEmpty },
  explain: {
    type: 'string',
    value: 'WORKSPACE_ID',
    help: 'one workspace: folded versions and their origins, parked updates, dead letters, agent config, live row diff; read-only',
    schema: z
      .string()
      .regex(/^[1-9]\d{0,15}$/, 'takes a workspace id (a positive integer)')
      .transform(Number)
      .refine(Number.isSafeInteger, 'takes a workspace id (a positive integer)'),
    from: FLAG_ONLY,
  },
  json: commandFlag('with --verify, --explain, --preview, --no-switch or --dead-letters: print the result as one JSON object'),
  sample: { type: 'string', value: 'N', help: 'with --verify: check N workspaces drawn at random instead of all', schema: positiveInt, from: FLAG_ONLY },
  workers: {
    type: 'string',
    value: 'N',
    help: 'threads generating rows in a rebuild, a snapshot backfill, --verify, --follow and a replay (1: on the main thread)',
    defaultText: `rebuilds and --verify: the cores available (os.availableParallelism(), at most the container's CPU quota); --follow and replays: ${FOLLOW_WORKERS}, the main thread (2 workers measured no faster there, at 1.26× the RSS: README, "Generation threads")`,
    schema: positiveInt,
  },
  'shutdown-timeout': { type: 'string', value: 'SECONDS', help: 'after SIGTERM/SIGINT, exit (code 1) if the batch in flight has not finished within this', default: '30', schema: positiveInt },
  'heartbeat-interval': { type: 'string', value: 'SECONDS', help: 'with --follow: log the lag per partition, events/s and totals this often (0: never)', default: '60', schema: nonNegativeInt },
  'log-level': { type: 'string', value: LOG_LEVELS.join('|'), help: 'the least severe log entries written to stderr', default: 'info', schema: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }) },
  'log-format': { type: 'string', value: 'json|pretty', help: 'log entries as JSON lines, or as readable lines', defaultText: 'pretty on a terminal, else json', schema: z.enum(LOG_FORMATS, { message: 'must be "json" or "pretty"' }) },
  'metrics-port': { type: 'string', value: 'PORT', help: 'serve /metrics (Prometheus), /healthz and /readyz on this port (a rebuild, --follow, a Kafka replay)', defaultText: 'off', schema: tcpPort },
  'metrics-host': { type: 'string', value: 'HOST', help: 'with --metrics-port: the address to listen on (every interface, as probes reach a container)', default: '0.0.0.0', schema: nonEmpty },
  'ready-max-lag': { type: 'string', value: 'N', help: 'with --metrics-port: /readyz is 200 while every assigned partition is at most N records behind', default: '1000', schema: nonNegativeInt },
  demo: commandFlag('try it: rebuild from the bundled demo data (demo/) and say what it did'),
  config: { type: 'string', value: 'FILE', help: `read settings from this file (${CONFIG_FILE_FORMAT}); flags and environment variables override it`, schema: nonEmpty, from: ['env'] },
  version: commandFlag('print the version'),
  help: { ...commandFlag('print this help'), short: 'h' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `batch-size` → `REBUILD_PROJECTION_BATCH_SIZE`. */
export const envVarOf = (name: string) => `REBUILD_PROJECTION_${name.toUpperCase().replaceAll('-', '_')}`;

/** The table in declaration order, typed as specs (for --help, the README reference and parsing). */
export const OPTION_ENTRIES = Object.entries(OPTIONS) as [OptionName, OptionSpec][];

/** Whether the option is read from `source` besides its flag. */
export const readsFrom = (spec: OptionSpec, source: Source) => (spec.from ?? ['env', 'file']).includes(source);

const defaultOf = (spec: OptionSpec) => spec.default ?? spec.defaultText;

export const HELP = `Usage: rebuild-projection agentk-states [options]

Keeps GitLab's workspace_agentk_states (the desired config agentk applies) true to the workspaces.

Modes:
  (no mode flag)                     rebuild from zero into a shadow, then switch it in atomically
                                     (from Kafka's earliest offsets, or --source snapshot); resumable
  --source snapshot --follow         rebuild from a snapshot, hand off to Kafka without a gap, then follow
  --source kafka --follow            run continuously, resuming from the checkpoints in PostgreSQL
  --source kafka --from-offset …     replay from offsets (or --from-timestamp, --from-beginning,
                                     --from-checkpoint), stopping at the end offsets read at start
  --source file:PATH                 rebuild from a file of events (NDJSON, or a kcat -J dump); with
                                     --from-checkpoint or --from-beginning, replay it into the live table
  --demo                             try it: rebuild from the bundled demo data, say what it did
  --status | --rollback [--to ID]    inspect, or undo switches (the last ${DEFAULT_ROLLBACK_HISTORY} are kept)
  --no-switch | --preview            build the shadow without switching, and show what its switch would do
  --switch --fingerprint F           switch the built shadow in, only if it is still the previewed diff
  --verify [--sample N] [--json]     check the table against GitLab's workspaces (read-only)
  --dead-letters [filters] [--json]  list dead letters (read-only); --retry-dead-letters [filters],
                                     --purge-dead-letters [filters] --yes work them off
  --explain WORKSPACE_ID [--json]    everything known about one workspace (read-only)
  --export-events [--to-file FILE]   produce one full-row event per workspace (one snapshot) to bootstrap a topic

Options:
${OPTION_ENTRIES
  .map(([name, spec]) => {
    const flag = `  ${spec.short === undefined ? '' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
    const fallback = [spec.fallbackEnv && `$${spec.fallbackEnv}`, defaultOf(spec)].filter(Boolean).join(', ');
    // A flag too long for the column gets a line of its own.
    return `${flag.length < 37 ? flag.padEnd(37) : `${flag}\n${' '.repeat(37)}`}${spec.help}${fallback ? ` (default: ${fallback})` : ''}`;
  })
  .join('\n')}

Settings (options other than the modes and their one-off arguments) can also be set as REBUILD_PROJECTION_<FLAG>
(e.g. REBUILD_PROJECTION_BATCH_SIZE) or as keys in the --config file; a flag overrides the environment, which
overrides the file.

Exit codes: 0 all projected (--verify: clean), 2 finished with dead letters (--verify: drift), 1 could not run,
64 wrong command line.
`;

/** The parsed value of each option: undefined when not given and without a default; flags are false. */
type OptionValues = {
  -readonly [K in OptionName]: (typeof OPTIONS)[K] extends { type: 'boolean' }
    ? boolean
    : (typeof OPTIONS)[K] extends { default: string }
      ? z.output<(typeof OPTIONS)[K]['schema']>
      : z.output<(typeof OPTIONS)[K]['schema']> | undefined;
};

const PARSE_ARGS_OPTIONS = Object.fromEntries(OPTION_ENTRIES.map(([name, spec]) => [name, { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }) }]));

export interface CliArgs {
  projection: typeof AGENTK_STATES_PROJECTION;
  source: SourceKind;
  /** `--source file:PATH`: the path. */
  sourceFile: string | undefined;
  databaseUrl: string | undefined;
  sourceDatabaseUrl: string | undefined;
  /** The embedded database's directory, used when `databaseUrl` is undefined. */
  dataDir: string;
  batchSize: number;
  agentConfigMode: 'pinned' | 'live';
  brokers: string[] | undefined;
  topics: string[];
  group: string;
  /** TLS and SASL towards Kafka (files not read yet). */
  kafkaSecurity: KafkaSecuritySettings;
  follow: boolean;
  fromOffset: FromOffsets | undefined;
  fromTimestamp: number | undefined;
  fromBeginning: boolean;
  fromCheckpoint: boolean;
  /** --explain: the workspace to explain. */
  explainWorkspaceId: number | undefined;
  /** --verify, --explain, --preview, --no-switch, --dead-letters: print one JSON object instead of text. */
  json: boolean;
  /** --no-switch: a rebuild that stops before its switch, keeping the shadow. */
  noSwitch: boolean;
  /** --switch: the fingerprint of the previewed diff. */
  fingerprint: string | undefined;
  /** Rebuild, --switch: refuse when more running workspaces would restart. */
  maxRestarts: number | undefined;
  /** Rebuild, --switch: switches whose undo logs are kept (default 3, in switch-shadow.ts). */
  rollbackHistory: number | undefined;
  /** --rollback --to: the rebuild to restore the table before. */
  rollbackTo: number | undefined;
  /** --verify: check only this many workspaces, drawn at random. */
  sample: number | undefined;
  /** Rebuilds, the snapshot backfill, --verify: generation threads (1: the main thread). */
  workers: number;
  /** --follow, a replay, a rebuild's --follow hand-off: generation threads (1: the main thread); --workers when given. */
  followWorkers: number;
  /** Seconds a graceful stop may take before the process exits anyway (checkpoints are in PostgreSQL). */
  shutdownTimeoutS: number;
  /** --follow: seconds between heartbeat lines (lag, rate, totals); 0: none. */
  heartbeatIntervalS: number;
  logLevel: LogLevel;
  /** Undefined: pretty on a terminal, JSON otherwise. */
  logFormat: LogFormat | undefined;
  /** --metrics-port: the operations endpoint (/metrics, /healthz, /readyz); undefined: none. */
  metrics: { host: string; port: number; readyMaxLag: number } | undefined;
  /** --dead-letters, --retry-dead-letters, --purge-dead-letters: which letters (`--source` only when given). */
  deadLetterFilter: DeadLetterFilter;
  /** --purge-dead-letters: confirmed. */
  yes: boolean;
  /** --schemas: the Avro catalog directory; undefined: the package's. */
  schemasDir: string | undefined;
  /** --export-events: to Kafka (the first --topic) in this encoding, or to a new NDJSON file. */
  exportTo: { kind: 'kafka'; encoding: 'json' | 'avro'; append: boolean } | { kind: 'file'; path: string } | undefined;
  /** --schema-registry and its credentials (files not read yet). */
  schemaRegistry: SchemaRegistryArgs | undefined;
  help: boolean;
  /** --version: print the package's version. */
  version: boolean;
  mode: Mode;
}

export interface SchemaRegistryArgs {
  url: string;
  user: string | undefined;
  password: { value: string } | { file: string } | undefined;
  caFile: string | undefined;
}

/**
 * What the invocation does, decided once from the flags:
 * - `rebuild`: no mode flag; from zero through a shadow and an atomic switch (then `follow` if --follow with a snapshot);
 * - `follow`: Kafka from the PostgreSQL checkpoints, until a signal;
 * - `replay`: Kafka from the given start, until the end offsets read at start (or on, with --follow);
 * - `status`, `rollback` (the latest switch, or with --to every switch back to one);
 * - `verify`: read-only comparison of the table with a snapshot's generated rows;
 * - `explain`: read-only report on one workspace;
 * - `preview`: read-only impact of switching the built shadow in; `switch`: that switch, guarded by --fingerprint;
 * - `dead-letters` (read-only listing), `retry-dead-letters`, `purge-dead-letters`;
* - `export-events`: GitLab's workspaces as full-row events, to a topic or a file (writes no database).
 * - `demo`: a rebuild (then replays) from the bundled demo data, with a summary.
 */
export type Mode = 'rebuild' | 'follow' | 'replay' | 'status' | 'rollback' | 'verify' | 'explain' | 'preview' | 'switch' | 'export-events' | 'demo' | DeadLetterMode;

const DEAD_LETTER_MODES = ['dead-letters', 'retry-dead-letters', 'purge-dead-letters'] as const;
export type DeadLetterMode = (typeof DEAD_LETTER_MODES)[number];

/** REBUILD_PROJECTION_ variables that are not options, so not reported as unknown. */
const OTHER_ENV_VARS = new Set<string>(['REBUILD_PROJECTION_DEBUG', ...Object.values(KAFKA_SECRET_ENV)]);

/** A value as found, before its schema: a flag's string or true, or the text of a variable or file key. */
interface Found {
  raw: string | boolean;
  /** Names where it came from in messages: `--batch-size`, `REBUILD_PROJECTION_BATCH_SIZE`, `app.yaml: batch-size`. */
  origin: string;
  fromCommandLine: boolean;
}


/** Text from a variable or a file: a string option's value as is; a flag's true/false or 1/0. */
function fromText(spec: OptionSpec, text: string, origin: string): Found {
  if (spec.type === 'string') return { raw: text, origin, fromCommandLine: false };
  const flag = ({ true: true, 1: true, false: false, 0: false } as Record<string, boolean>)[text.toLowerCase()];
  if (flag === undefined) throw new UsageError(`${origin} must be true or false (or 1 or 0)`);
  return { raw: flag, origin, fromCommandLine: false };
}

/** Flag, then REBUILD_PROJECTION_<FLAG>, then the older variable, then the file; empty counts as unset. */
function find(name: OptionName, flags: Partial<Record<string, string | boolean>>, env: Record<string, string | undefined>, file: ConfigFile | undefined): Found | undefined {
  const spec: OptionSpec = OPTIONS[name];
  const flag = flags[name];
  if (flag !== undefined) return { raw: flag, origin: `--${name}`, fromCommandLine: true };
  for (const variable of readsFrom(spec, 'env') ? [envVarOf(name), spec.fallbackEnv] : []) {
    // Empty means unset, as compose files and systemd units write an absent value.
    const text = variable === undefined ? undefined : env[variable];
    if (variable !== undefined && text !== undefined && text !== '') return fromText(spec, text, variable);
  }
  const text = file && readsFrom(spec, 'file') ? file.values.get(name) : undefined;
  return text === undefined || text === '' ? undefined : fromText(spec, text, `${file?.path}: ${name}`);
}

/** Why a name that is not accepted from a source was not: unknown (with a suggestion), or not read there. */
function refusal(word: string, source: Source, nameOf: (option: string) => string): string {
  const option = OPTION_ENTRIES.find(([name]) => nameOf(name) === word);
  if (option) return (option[1].from ?? []).length === 0 ? `--${option[0]} is a command-line flag only` : `--${option[0]} is not read from ${source === 'env' ? 'the environment' : 'a config file'}`;
  const candidates = OPTION_ENTRIES.filter(([, spec]) => readsFrom(spec, source)).map(([name]) => nameOf(name));
  return `unknown ${source === 'env' ? 'environment variable' : 'key'}${didYouMean(word, candidates)}`;
}

function checkEnvironmentNames(env: Record<string, string | undefined>): void {
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith('REBUILD_PROJECTION_') || OTHER_ENV_VARS.has(variable) || env[variable] === '') continue;
    const option = OPTION_ENTRIES.find(([name]) => envVarOf(name) === variable);
    if (!option || !readsFrom(option[1], 'env')) throw new UsageError(`${variable}: ${refusal(variable, 'env', envVarOf)}`);
  }
}

interface ConfigFile {
  path: string;
  values: ConfigValues;
}

function readConfig(path: string, readFile: (path: string) => string): ConfigFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new UsageError(`--config ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const values = parseConfigFile(text, path);
  for (const key of values.keys()) {
    const option = OPTION_ENTRIES.find(([name]) => name === key);
    if (!option || !readsFrom(option[1], 'file')) throw new UsageError(`${path}: ${key}: ${refusal(key, 'file', (name) => name)}`);
  }
  return { path, values };
}

/** parseArgs names an unknown option but suggests nothing: find it first, to say which flag was meant. */
function checkOptionNames(argv: readonly string[]): void {
  const { tokens } = parseArgs({ args: [...argv], options: PARSE_ARGS_OPTIONS, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name in OPTIONS) continue;
    const names = OPTION_ENTRIES.map(([name]) => name);
    throw new UsageError(`Unknown option '${token.rawName}'${didYouMean(token.name, names, (name) => `--${name}`)}`);
  }
}

/**
 * Parses argv (without node and script), the environment and the --config file (read with `readFile`).
 * Throws UsageError naming the bad value and where it came from, never a secret's value.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): CliArgs {
  checkOptionNames(argv);
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: PARSE_ARGS_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const flags = parsed.values;
  const infoOnly = flags.help === true || flags.version === true;
  const [projection, ...extra] = parsed.positionals;
  if (!infoOnly && projection !== AGENTK_STATES_PROJECTION) {
    throw new UsageError(
      projection === undefined ? `name the projection: rebuild-projection ${AGENTK_STATES_PROJECTION}` : `unknown projection "${projection}" (known: ${AGENTK_STATES_PROJECTION})`,
    );
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  checkEnvironmentNames(env);
  const configPath = find('config', flags, env, undefined);
  const file = configPath === undefined ? undefined : readConfig(String(configPath.raw), readFile);

  const found = new Map<OptionName, Found>();
  const values: Record<string, unknown> = {};
  for (const [name, spec] of OPTION_ENTRIES) {
    const given = find(name, flags, env, file);
    if (given) found.set(name, given);
    const raw = given?.raw ?? spec.default ?? (spec.type === 'boolean' ? false : undefined);
    if (raw === undefined) continue;
    const checked = spec.schema.safeParse(raw);
    if (!checked.success) throw new UsageError(`${given?.origin ?? `the default of --${name}`} ${checked.error.issues[0]?.message ?? 'is invalid'}`);
    values[name] = checked.data;
  }
  const args = values as OptionValues;
  /** Given on the command line: the "goes with" checks are about what this invocation asked for. */
  const onCommandLine = (name: OptionName) => found.get(name)?.fromCommandLine === true;

  const starts = [args['from-offset'], args['from-timestamp'], args['from-beginning'] || undefined, args['from-checkpoint'] || undefined];
  if (starts.filter((x) => x !== undefined).length > 1) throw new UsageError('choose one of --from-offset, --from-timestamp, --from-beginning, --from-checkpoint');
  const replay = starts.some((x) => x !== undefined);
  const sourceFile = args.source.startsWith('file:') ? args.source.slice('file:'.length) : undefined;
  if (replay && args.source !== 'kafka' && !(sourceFile !== undefined && (args['from-beginning'] || args['from-checkpoint']))) {
    throw new UsageError('--from-* options replay Kafka topics: they need --source kafka (a file replays with --from-beginning or --from-checkpoint)');
  }
  const explain = args.explain !== undefined;
  const deadLetterMode = DEAD_LETTER_MODES.find((flag) => args[flag]);
  const modes = {
    '--status': args.status, '--rollback': args.rollback, '--verify': args.verify, '--explain': explain, '--preview': args.preview,
    '--switch': args.switch, '--no-switch': args['no-switch'], '--dead-letters': args['dead-letters'],
    '--retry-dead-letters': args['retry-dead-letters'], '--purge-dead-letters': args['purge-dead-letters'],
    '--export-events': args['export-events'], '--demo': args.demo,
  };
  const chosen = Object.entries(modes).filter(([, on]) => on).map(([flag]) => flag);
  // A service's `follow` (environment or file) yields to a mode named on the command line: a one-off
  // --status or --from-beginning with the service's configuration must not become a second follower.
  if (args.follow && !onCommandLine('follow') && (chosen.length > 0 || replay)) args.follow = false;
  if (chosen.length > 1) throw new UsageError(`choose one of ${Object.keys(modes).join(', ')} (not ${chosen.join(' and ')})`);
  if (chosen.length === 1 && (replay || args.follow)) throw new UsageError(`${chosen[0]} takes no other mode flag`);
  if (args.sample !== undefined && !args.verify) throw new UsageError('--sample goes with --verify');
  if (args.json && !(args.verify || explain || args.preview || args['no-switch'] || deadLetterMode === 'dead-letters')) {
    throw new UsageError('--json goes with --verify, --explain, --preview, --no-switch or --dead-letters');
  }
  if (args.demo && onCommandLine('source')) throw new UsageError('--demo reads the bundled demo data: drop --source');
  if (sourceFile !== undefined && args.follow) throw new UsageError('--follow needs Kafka: a file has an end (replay it with --from-checkpoint when it has grown)');
  if (sourceFile !== undefined && deadLetterMode) throw new UsageError('the dead-letter --source filter takes kafka or snapshot (letters from a file are kafka-path letters: filter by --workspace or --reason)');
  if (explain && onCommandLine('source-database-url')) throw new UsageError('--explain reads --database-url only (one snapshot): drop --source-database-url');
  const filterFlags = (['reason', 'workspace', 'older-than', 'since'] as const).filter((flag) => args[flag] !== undefined);
  if (!deadLetterMode && filterFlags.length > 0) throw new UsageError(`--${filterFlags[0]} goes with --dead-letters, --retry-dead-letters or --purge-dead-letters`);
  if (args['older-than'] !== undefined && args.since !== undefined) throw new UsageError('choose one of --older-than, --since');
  if (args.yes && deadLetterMode !== 'purge-dead-letters') throw new UsageError('--yes goes with --purge-dead-letters');
  if (args.to !== undefined && !args.rollback) throw new UsageError('--to goes with --rollback');
  if (args.switch && args.fingerprint === undefined) {
    throw new UsageError('--switch needs --fingerprint F, the fingerprint --preview (or --no-switch) printed: it switches only that exact diff');
  }
  if (args.fingerprint !== undefined && !args.switch) throw new UsageError('--fingerprint goes with --switch');
  const switches = !(args.status || args.rollback || args.verify || explain || deadLetterMode || args.preview || args['no-switch'] || replay || (args.follow && args.source === 'kafka'));
  if (onCommandLine('max-restarts') && !switches) throw new UsageError('--max-restarts goes with a rebuild that switches, or with --switch');
  if (onCommandLine('rollback-history') && !switches) throw new UsageError('--rollback-history goes with a rebuild that switches, or with --switch');
  const exportTo = exportTarget(args, onCommandLine);
  if (args.verify && onCommandLine('source-database-url')) throw new UsageError('--verify reads --database-url only (one snapshot of both tables): drop --source-database-url');
  const registryFlags = (['registry-user', 'registry-password', 'registry-password-file', 'registry-ca'] as const).filter((flag) => args[flag] !== undefined);
  if (args['schema-registry'] === undefined && registryFlags.length > 0) throw new UsageError(`--${registryFlags[0]} goes with --schema-registry`);
  if (args['registry-password'] !== undefined && args['registry-password-file'] !== undefined) throw new UsageError('choose one of --registry-password, --registry-password-file');
  const registryPassword = args['registry-password'] ?? args['registry-password-file'];
  if ((args['registry-user'] === undefined) !== (registryPassword === undefined)) throw new UsageError('--registry-user and a password (--registry-password or --registry-password-file) go together');
  if (args['registry-ca'] !== undefined && !args['schema-registry']?.startsWith('https:')) throw new UsageError('--registry-ca goes with an https:// --schema-registry');
  const mode: Mode = deadLetterMode
    ? deadLetterMode
    : exportTo
    ? 'export-events'
    : args.demo
    ? 'demo'
    : args.status
    ? 'status'
    : args.rollback
      ? 'rollback'
      : args.verify
        ? 'verify'
        : explain
          ? 'explain'
          : args.preview
            ? 'preview'
            : args.switch
              ? 'switch'
              : replay
                ? 'replay'
                : args.follow && args.source === 'kafka'
                  ? 'follow'
                  : 'rebuild';
  // The endpoint serves the modes that run for a while. A service's metrics-port (environment or file) is
  // ignored by a one-off --status beside it, which would find its port taken; on the command line it is refused.
  // A file replay has no consumer to count or to be ready.
  const serves = mode === 'rebuild' || mode === 'follow' || mode === 'switch' || (mode === 'replay' && sourceFile === undefined);
  if (onCommandLine('metrics-port') && !serves) {
    throw new UsageError(`--metrics-port goes with a rebuild, --follow or a Kafka replay (not ${chosen[0] ?? 'a replay of a file'})`);
  }
  // The modes that generate rows: the others (--status, --explain, the dead-letter modes, …) have none, or one workspace's.
  if (onCommandLine('workers') && !(mode === 'rebuild' || mode === 'demo' || mode === 'verify' || mode === 'follow' || mode === 'replay')) {
    throw new UsageError(`--workers goes with a rebuild, --follow, a replay or --verify (not ${chosen[0]})`);
  }
  const served = (['metrics-host', 'ready-max-lag'] as const).find((flag) => onCommandLine(flag));
  if (served && args['metrics-port'] === undefined) throw new UsageError(`--${served} goes with --metrics-port`);
  let kafkaSecurity: KafkaSecuritySettings;
  try {
    kafkaSecurity = parseKafkaSecurity(args, env);
  } catch (error) {
    throw error instanceof KafkaSecuritySettingsError ? new UsageError(error.message) : error;
  }
  return {
    projection: AGENTK_STATES_PROJECTION,
    source: sourceFile === undefined ? (args.source as NamedSource) : 'file',
    sourceFile,
    databaseUrl: args['database-url'],
    sourceDatabaseUrl: args['source-database-url'],
    dataDir: args['data-dir'] ?? defaultDataDir(env),
    batchSize: args['batch-size'],
    agentConfigMode: args['agent-config'],
    brokers: args.brokers,
    topics: args.topic,
    group: args.group,
    kafkaSecurity,
    follow: args.follow,
    fromOffset: args['from-offset'],
    fromTimestamp: args['from-timestamp'],
    fromBeginning: args['from-beginning'],
    fromCheckpoint: args['from-checkpoint'],
    explainWorkspaceId: args.explain,
    json: args.json,
    sample: args.sample,
    workers: args.workers ?? coresAvailable(),
    followWorkers: args.workers ?? FOLLOW_WORKERS,
    shutdownTimeoutS: args['shutdown-timeout'],
    heartbeatIntervalS: args['heartbeat-interval'],
    logLevel: args['log-level'],
    logFormat: args['log-format'],
    metrics: args['metrics-port'] === undefined || !serves ? undefined : { host: args['metrics-host'], port: args['metrics-port'], readyMaxLag: args['ready-max-lag'] },
    deadLetterFilter: {
      reason: args.reason,
      workspaceId: args.workspace,
      // A filter only when given on the command line: otherwise it chooses where a rebuild reads from.
      source: onCommandLine('source') ? (args.source as NamedSource) : undefined,
      olderThanSeconds: args['older-than'],
      since: args.since,
    },
    yes: args.yes,
    schemasDir: args.schemas,
    exportTo,
    schemaRegistry:
      args['schema-registry'] === undefined
        ? undefined
        : {
            url: args['schema-registry'],
            user: args['registry-user'],
            password: args['registry-password'] !== undefined ? { value: args['registry-password'] } : args['registry-password-file'] !== undefined ? { file: args['registry-password-file'] } : undefined,
            caFile: args['registry-ca'],
          },
    noSwitch: args['no-switch'],
    fingerprint: args.fingerprint,
    maxRestarts: args['max-restarts'],
    rollbackHistory: args['rollback-history'],
    rollbackTo: args.to,
    help: args.help,
    version: args.version,
    mode,
  };
}

/** --export-events and its options, checked together. */
function exportTarget(args: OptionValues, onCommandLine: (name: OptionName) => boolean): CliArgs['exportTo'] {
  const flags = (['to-file', 'export-encoding', 'append'] as const).filter((flag) => args[flag] !== undefined && args[flag] !== false);
  if (!args['export-events']) {
    if (flags.length > 0) throw new UsageError(`--${flags[0]} goes with --export-events`);
    return undefined;
  }
  if (onCommandLine('source-database-url')) throw new UsageError('--export-events reads --database-url (one snapshot): drop --source-database-url');
  const path = args['to-file'];
  if (path === undefined) return { kind: 'kafka', encoding: args['export-encoding'] ?? 'json', append: args.append };
  if (args['export-encoding'] !== undefined || args.append) throw new UsageError('--to-file writes JSON to a new file: drop --export-encoding and --append');
  return { kind: 'file', path };
}
