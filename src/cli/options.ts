/**
 * The command line, declared once: parseArgs' config, the --help text and the validation all come from
 * this table, so they cannot drift apart.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { DeadLetterFilter } from '../sink/postgres/dead-letters.js';
import { UsageError } from './usage-error.js';

interface OptionSpec {
  type: 'string' | 'boolean';
  value?: string;
  help: string;
}

export const OPTIONS = {
  source: { type: 'string', value: 'kafka|snapshot|file:PATH', help: 'where events come from (default: kafka); file: NDJSON events or a kcat -J dump, .gz too' },
  'database-url': { type: 'string', value: 'URL', help: "GitLab's PostgreSQL, where workspace_agentk_states lives (default: $DATABASE_URL)" },
  'source-database-url': { type: 'string', value: 'URL', help: 'database to read the workspaces snapshot from (default: --database-url)' },
  'batch-size': { type: 'string', value: 'N', help: 'workspaces per transaction (default: 250)' },
  'agent-config': { type: 'string', value: 'pinned|live', help: "agent config per workspace: the pinned version (default) or the live row, as GitLab's backfill did" },
  brokers: { type: 'string', value: 'HOST:PORT,…', help: 'Kafka bootstrap brokers (default: $KAFKA_BROKERS)' },
  topic: { type: 'string', value: 'NAME,…', help: 'topics to consume (default: workspace-events)' },
  group: { type: 'string', value: 'ID', help: 'Kafka consumer group (default: rebuild-projection-agentk-states)' },
  follow: { type: 'boolean', help: 'keep consuming after catching up, until SIGTERM/SIGINT' },
  'from-offset': { type: 'string', value: 'P:O,…|O', help: 'replay from these offsets (partition:offset, or one offset for every partition)' },
  'from-timestamp': { type: 'string', value: 'ISO-8601', help: 'replay from the first offset at or after this time' },
  'from-beginning': { type: 'boolean', help: 'replay from the earliest offsets' },
  'from-checkpoint': { type: 'boolean', help: 'resume from the checkpoints in PostgreSQL (what --follow does), and stop at the end' },
  status: { type: 'boolean', help: 'print generation, checkpoints, lag per partition, dead letters and the last rebuild' },
  rollback: { type: 'boolean', help: 'undo the latest switch that is not rolled back yet (--to ID: every switch back to rebuild #ID)' },
  to: { type: 'string', value: 'REBUILD_ID', help: 'with --rollback: restore the table as it was before rebuild #ID switched (undoing the later switches first)' },
  'rollback-history': { type: 'string', value: 'K', help: 'switches whose undo logs are kept for --rollback, this one included (default: 3)' },
  'no-switch': { type: 'boolean', help: 'rebuild the shadow, stop before the switch and print its preview (then --switch)' },
  preview: { type: 'boolean', help: 'what switching the built shadow in would do: restarts, starts, stops, per workspace; writes nothing' },
  switch: { type: 'boolean', help: 'switch the built shadow in, exactly as previewed (needs --fingerprint)' },
  fingerprint: { type: 'string', value: 'F', help: 'with --switch: the fingerprint --preview printed; refused if the diff changed since' },
  'max-restarts': { type: 'string', value: 'N', help: 'refuse to switch when more than N running workspaces would restart (rebuild, --switch)' },
  verify: { type: 'boolean', help: 'compare workspace_agentk_states with what a snapshot rebuild would write; read-only, exit 2 on drift' },
  'dead-letters': { type: 'boolean', help: 'list dead letters: counts by reason, then the letters (read-only; filters below, --json)' },
  'retry-dead-letters': { type: 'boolean', help: 'decode dead-lettered messages again (after a fix), apply those that now succeed and the events they held' },
  'purge-dead-letters': { type: 'boolean', help: 'delete the chosen dead letters (needs --yes) and apply the events they held' },
  reason: { type: 'string', value: 'REASON', help: 'with --*dead-letters: only this error kind (e.g. unknown_schema_id)' },
  workspace: { type: 'string', value: 'ID', help: 'with --*dead-letters: only this workspace' },
  'older-than': { type: 'string', value: 'DURATION', help: 'with --*dead-letters: first seen at least this long ago (30m, 12h, 7d)' },
  since: { type: 'string', value: 'ISO-8601', help: 'with --*dead-letters: first seen at or after this time' },
  yes: { type: 'boolean', help: 'with --purge-dead-letters: really delete' },
  schemas: { type: 'string', value: 'DIR', help: "Avro catalog directory (catalog.json and .avsc files; default: the package's schemas/)" },
  explain: { type: 'string', value: 'WORKSPACE_ID', help: "one workspace: folded versions and their origins, parked updates, dead letters, agent config, live row diff; read-only" },
  json: { type: 'boolean', help: 'with --verify, --explain, --preview, --no-switch or --dead-letters: print the result as one JSON object' },
  sample: { type: 'string', value: 'N', help: 'with --verify: check N workspaces drawn at random instead of all' },
  'shutdown-timeout': { type: 'string', value: 'SECONDS', help: 'after SIGTERM/SIGINT, exit (code 1) if the batch in flight has not finished within this (default: 30)' },
  demo: { type: 'boolean', help: 'try it: rebuild from the bundled demo data (demo/) and say what it did' },
  help: { type: 'boolean', help: 'print this help' },
} as const satisfies Record<string, OptionSpec>;

export const HELP = `Usage: rebuild-projection agentk-states [options]

Keeps GitLab's workspace_agentk_states (the desired config agentk applies) true to the workspaces.

Modes:
  (no mode flag)                     rebuild from zero into a shadow, then switch it in atomically
                                     (from Kafka's earliest offsets, or --source snapshot); resumable
  --source snapshot --follow         rebuild from a snapshot, hand off to Kafka without a gap, then follow
  --source kafka --follow            run continuously, resuming from the checkpoints in PostgreSQL
  --source kafka --from-offset …     replay from offsets (or --from-timestamp, --from-beginning,
                                     --from-checkpoint), stopping at the end offsets read at start
  --status | --rollback [--to ID]    inspect, or undo switches (the last 3 are kept)
  --no-switch | --preview            build the shadow without switching, and show what its switch would do
  --switch --fingerprint F           switch the built shadow in, only if it is still the previewed diff
  --verify [--sample N] [--json]     check the table against GitLab's workspaces (read-only)
  --dead-letters [filters] [--json]  list dead letters (read-only); --retry-dead-letters [filters],
                                     --purge-dead-letters [filters] --yes work them off
  --explain WORKSPACE_ID [--json]    everything known about one workspace (read-only)

Options:
${Object.entries(OPTIONS)
  .map(([name, spec]) => {
    const flag = `  --${name}${'value' in spec ? ` ${spec.value}` : ''}`;
    return `${flag.padEnd(37)}${spec.help}`;
  })
  .join('\n')}

Exit codes: 0 all projected (--verify: clean), 2 finished with dead letters (--verify: drift), 1 could not run,
64 wrong command line.
`;

const positiveInt = (flag: string) =>
  z
    .string()
    .regex(/^\d+$/, `--${flag} must be a positive integer`)
    .transform(Number)
    .refine((n) => n > 0 && n <= 100_000, `--${flag} must be between 1 and 100000`);

const nonNegativeInt = (flag: string) =>
  z
    .string()
    .regex(/^\d+$/, `--${flag} must be a whole number (0 or more)`)
    .transform(Number)
    .refine((n) => n <= 1_000_000_000, `--${flag} must be at most 1000000000`);

const offsetsSchema = z
  .string()
  .regex(/^(\d+|\d+:\d+(,\d+:\d+)*)$/, '--from-offset takes "partition:offset,…" (e.g. 0:1200,1:998) or one offset')
  .transform((text): { all: string } | { partitions: Map<number, string> } =>
    text.includes(':')
      ? { partitions: new Map(text.split(',').map((pair) => pair.split(':') as [string, string]).map(([p, o]) => [Number(p), o])) }
      : { all: text },
  );

export type FromOffsets = z.infer<typeof offsetsSchema>;

/** `30m`, `12h`, `7d`, `90s` → seconds. */
const durationSchema = z
  .string()
  .regex(/^\d+[smhd]$/, '--older-than takes a number and a unit (s, m, h or d), e.g. 12h or 7d')
  .transform((text) => Number(text.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86_400 }[text.slice(-1) as 's' | 'm' | 'h' | 'd']);

const argsSchema = z
  .object({
    source: z
      .string()
      .regex(/^(kafka|snapshot|file:.+)$/, '--source must be "kafka", "snapshot" or "file:PATH" (e.g. file:events.ndjson.gz)')
      .default('kafka'),
    'database-url': z.string().min(1).optional(),
    'source-database-url': z.string().min(1).optional(),
    'batch-size': positiveInt('batch-size').default(250),
    'agent-config': z.enum(['pinned', 'live'], { message: '--agent-config must be "pinned" or "live"' }).default('pinned'),
    brokers: z.string().min(1).optional(),
    topic: z.string().min(1).default('workspace-events'),
    group: z.string().min(1).default('rebuild-projection-agentk-states'),
    follow: z.boolean().default(false),
    'from-offset': offsetsSchema.optional(),
    'from-timestamp': z
      .string()
      .refine((text) => !Number.isNaN(Date.parse(text)), '--from-timestamp must be an ISO-8601 time, e.g. 2026-11-25T10:00:00Z')
      .transform((text) => Date.parse(text))
      .optional(),
    'from-beginning': z.boolean().default(false),
    'from-checkpoint': z.boolean().default(false),
    status: z.boolean().default(false),
    rollback: z.boolean().default(false),
    to: positiveInt('to').optional(),
    'rollback-history': positiveInt('rollback-history').optional(),
    'no-switch': z.boolean().default(false),
    preview: z.boolean().default(false),
    switch: z.boolean().default(false),
    fingerprint: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, '--fingerprint takes the 64 hex digits --preview printed')
      .transform((f) => f.toLowerCase())
      .optional(),
    'max-restarts': nonNegativeInt('max-restarts').optional(),
    verify: z.boolean().default(false),
    explain: z
      .string()
      .regex(/^[1-9]\d{0,15}$/, '--explain takes a workspace id (a positive integer)')
      .transform(Number)
      .refine(Number.isSafeInteger, '--explain takes a workspace id (a positive integer)')
      .optional(),
    json: z.boolean().default(false),
    sample: positiveInt('sample').optional(),
    'shutdown-timeout': positiveInt('shutdown-timeout').default(30),
    'dead-letters': z.boolean().default(false),
    'retry-dead-letters': z.boolean().default(false),
    'purge-dead-letters': z.boolean().default(false),
    reason: z.string().min(1).optional(),
    workspace: z.string().regex(/^\d+$/, '--workspace takes a workspace id').transform(Number).optional(),
    'older-than': durationSchema.optional(),
    since: z
      .string()
      .refine((text) => !Number.isNaN(Date.parse(text)), '--since must be an ISO-8601 time, e.g. 2026-11-25T10:00:00Z')
      .transform((text) => new Date(text))
      .optional(),
    yes: z.boolean().default(false),
    schemas: z.string().min(1).optional(),
    demo: z.boolean().default(false),
    help: z.boolean().default(false),
  })
  .refine(
    (args) =>
      [args['from-offset'], args['from-timestamp'], args['from-beginning'] || undefined, args['from-checkpoint'] || undefined].filter(
        (x) => x !== undefined,
      ).length <= 1,
    'choose one of --from-offset, --from-timestamp, --from-beginning, --from-checkpoint',
  )
  .refine(
    (args) => args.source === 'kafka' || (!args['from-offset'] && !args['from-timestamp'] && ((!args['from-beginning'] && !args['from-checkpoint']) || args.source.startsWith('file:'))),
    '--from-* options replay Kafka topics: they need --source kafka (a file replays with --from-beginning or --from-checkpoint)',
  );

export interface CliArgs {
  projection: 'agentk-states';
  source: 'kafka' | 'snapshot' | 'file';
  /** `--source file:PATH`: the path. */
  sourceFile: string | undefined;
  databaseUrl: string | undefined;
  sourceDatabaseUrl: string | undefined;
  batchSize: number;
  agentConfigMode: 'pinned' | 'live';
  brokers: string[] | undefined;
  topics: string[];
  group: string;
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
  /** Seconds a graceful stop may take before the process exits anyway (checkpoints are in PostgreSQL). */
  shutdownTimeoutS: number;
  /** --dead-letters, --retry-dead-letters, --purge-dead-letters: which letters (`--source` only when given). */
  deadLetterFilter: DeadLetterFilter;
  /** --purge-dead-letters: confirmed. */
  yes: boolean;
  /** --schemas: the Avro catalog directory; undefined: the package's. */
  schemasDir: string | undefined;
  help: boolean;
  mode: Mode;
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
 * - `demo`: a rebuild (then replays) from the bundled demo data, with a summary.
 */
export type Mode = 'rebuild' | 'follow' | 'replay' | 'status' | 'rollback' | 'verify' | 'explain' | 'preview' | 'switch' | 'demo' | DeadLetterMode;

const DEAD_LETTER_MODES = ['dead-letters', 'retry-dead-letters', 'purge-dead-letters'] as const;
export type DeadLetterMode = (typeof DEAD_LETTER_MODES)[number];

/** Parses argv (without node and script) and the environment. Throws UsageError naming the bad value. */
export function parseCommandLine(argv: readonly string[], env: Record<string, string | undefined>): CliArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const helpOnly = parsed.values.help === true;
  const [projection, ...extra] = parsed.positionals;
  if (!helpOnly && projection !== 'agentk-states') {
    throw new UsageError(
      projection === undefined ? 'name the projection: rebuild-projection agentk-states' : `unknown projection "${projection}" (known: agentk-states)`,
    );
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const checked = argsSchema.safeParse(parsed.values);
  if (!checked.success) throw new UsageError(checked.error.issues[0]?.message ?? 'invalid arguments');
  const args = checked.data;
  const replay = Boolean(args['from-offset'] || args['from-timestamp'] !== undefined || args['from-beginning'] || args['from-checkpoint']);
  const explain = args.explain !== undefined;
  const deadLetterMode = DEAD_LETTER_MODES.find((flag) => args[flag]);
  const modes = {
    '--status': args.status, '--rollback': args.rollback, '--verify': args.verify, '--explain': explain, '--preview': args.preview,
    '--switch': args.switch, '--no-switch': args['no-switch'], '--dead-letters': args['dead-letters'],
    '--retry-dead-letters': args['retry-dead-letters'], '--purge-dead-letters': args['purge-dead-letters'], '--demo': args.demo,
  };
  const chosen = Object.entries(modes).filter(([, on]) => on).map(([flag]) => flag);
  if (chosen.length > 1) throw new UsageError(`choose one of ${Object.keys(modes).join(', ')} (not ${chosen.join(' and ')})`);
  if (chosen.length === 1 && (replay || args.follow)) throw new UsageError(`${chosen[0]} takes no other mode flag`);
  if (args.sample !== undefined && !args.verify) throw new UsageError('--sample goes with --verify');
  if (args.json && !(args.verify || explain || args.preview || args['no-switch'] || deadLetterMode === 'dead-letters')) {
    throw new UsageError('--json goes with --verify, --explain, --preview, --no-switch or --dead-letters');
  }
  if (args.demo && parsed.values.source !== undefined) throw new UsageError('--demo reads the bundled demo data: drop --source');
  const file = args.source.startsWith('file:') ? args.source.slice('file:'.length) : undefined;
  if (file !== undefined && args.follow) throw new UsageError('--follow needs Kafka: a file has an end (replay it with --from-checkpoint when it has grown)');
  if (file !== undefined && deadLetterMode) throw new UsageError('the dead-letter --source filter takes kafka or snapshot (letters from a file are kafka-path letters: filter by --workspace or --reason)');
  if (explain && args['source-database-url']) throw new UsageError('--explain reads --database-url only (one snapshot): drop --source-database-url');
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
  if (args['max-restarts'] !== undefined && !switches) throw new UsageError('--max-restarts goes with a rebuild that switches, or with --switch');
  if (args['rollback-history'] !== undefined && !switches) throw new UsageError('--rollback-history goes with a rebuild that switches, or with --switch');
  if (args.verify && args['source-database-url']) throw new UsageError('--verify reads --database-url only (one snapshot of both tables): drop --source-database-url');
  const mode: Mode = deadLetterMode
    ? deadLetterMode
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
  const brokers = args.brokers ?? env.KAFKA_BROKERS;
  return {
    projection: 'agentk-states',
    source: file === undefined ? (args.source as 'kafka' | 'snapshot') : 'file',
    sourceFile: file,
    databaseUrl: args['database-url'] ?? env.DATABASE_URL,
    sourceDatabaseUrl: args['source-database-url'],
    batchSize: args['batch-size'],
    agentConfigMode: args['agent-config'],
    brokers: brokers ? brokers.split(',').map((b) => b.trim()).filter(Boolean) : undefined,
    topics: args.topic.split(',').map((t) => t.trim()).filter(Boolean),
    group: args.group,
    follow: args.follow,
    fromOffset: args['from-offset'],
    fromTimestamp: args['from-timestamp'],
    fromBeginning: args['from-beginning'],
    fromCheckpoint: args['from-checkpoint'],
    explainWorkspaceId: args.explain,
    json: args.json,
    sample: args.sample,
    shutdownTimeoutS: args['shutdown-timeout'],
    deadLetterFilter: {
      reason: args.reason,
      workspaceId: args.workspace,
      // A filter only when given: its default (kafka) chooses where a rebuild reads from.
      source: parsed.values.source === undefined ? undefined : (args.source as 'kafka' | 'snapshot'),
      olderThanSeconds: args['older-than'],
      since: args.since,
    },
    yes: args.yes,
    schemasDir: args.schemas,
    noSwitch: args['no-switch'],
    fingerprint: args.fingerprint,
    maxRestarts: args['max-restarts'],
    rollbackHistory: args['rollback-history'],
    rollbackTo: args.to,
    help: args.help,
    mode,
  };
}
