import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/usage-error.js';

const parse = (...argv: string[]) => parseCommandLine(argv, {});

describe('the command line', () => {
  it('defaults to a rebuild from Kafka with documented defaults', () => {
    expect(parse('agentk-states')).toMatchObject({
      mode: 'rebuild',
      source: 'kafka',
      batchSize: 250,
      agentConfigMode: 'pinned',
      topics: ['workspace-events'],
      group: 'rebuild-projection-agentk-states',
      follow: false,
    });
  });

  it('reads the database and brokers from the environment when no flag is given', () => {
    const args = parseCommandLine(['agentk-states'], { DATABASE_URL: 'postgres://db/x', KAFKA_BROKERS: 'a:1, b:2' });
    expect(args.databaseUrl).toBe('postgres://db/x');
    expect(args.brokers).toEqual(['a:1', 'b:2']);
  });

  it('tells the modes apart', () => {
    expect(parse('agentk-states', '--follow').mode).toBe('follow');
    expect(parse('agentk-states', '--source', 'snapshot', '--follow').mode).toBe('rebuild');
    expect(parse('agentk-states', '--from-beginning').mode).toBe('replay');
    expect(parse('agentk-states', '--from-checkpoint', '--follow').mode).toBe('replay');
    expect(parse('agentk-states', '--status').mode).toBe('status');
    expect(parse('agentk-states', '--rollback').mode).toBe('rollback');
  });

  it('takes --no-switch, --preview and --switch, with their options', () => {
    const f = 'AB'.repeat(32);
    expect(parse('agentk-states', '--no-switch', '--json')).toMatchObject({ mode: 'rebuild', noSwitch: true, json: true });
    expect(parse('agentk-states', '--preview')).toMatchObject({ mode: 'preview', json: false });
    expect(parse('agentk-states', '--switch', '--fingerprint', f, '--max-restarts', '0')).toMatchObject({
      mode: 'switch',
      fingerprint: f.toLowerCase(),
      maxRestarts: 0,
    });
    expect(parse('agentk-states', '--source', 'snapshot', '--max-restarts', '5', '--rollback-history', '7')).toMatchObject({
      mode: 'rebuild',
      noSwitch: false,
      maxRestarts: 5,
      rollbackHistory: 7,
    });
    expect(parse('agentk-states', '--rollback', '--to', '12')).toMatchObject({ mode: 'rollback', rollbackTo: 12 });
  });

  it('takes --verify as a mode, with --json and --sample', () => {
    expect(parse('agentk-states', '--verify')).toMatchObject({ mode: 'verify', json: false, sample: undefined });
    expect(parse('agentk-states', '--verify', '--json', '--sample', '500')).toMatchObject({ mode: 'verify', json: true, sample: 500 });
    expect(parse('agentk-states', '--verify', '--agent-config', 'live', '--batch-size', '50')).toMatchObject({
      mode: 'verify',
      agentConfigMode: 'live',
      batchSize: 50,
    });
  });

  it('takes --explain WORKSPACE_ID as a mode, with --json and --agent-config', () => {
    expect(parse('agentk-states', '--explain', '42')).toMatchObject({ mode: 'explain', explainWorkspaceId: 42, json: false });
    expect(parse('agentk-states', '--explain', '42', '--json', '--agent-config', 'live')).toMatchObject({
      mode: 'explain',
      explainWorkspaceId: 42,
      json: true,
      agentConfigMode: 'live',
    });
    expect(parse('agentk-states', '--status').explainWorkspaceId).toBeUndefined();
  });

  it('parses per-partition offsets and a single offset for every partition', () => {
    expect(parse('agentk-states', '--from-offset', '0:1200,1:998').fromOffset).toEqual({
      partitions: new Map([
        [0, '1200'],
        [1, '998'],
      ]),
    });
    expect(parse('agentk-states', '--from-offset', '42').fromOffset).toEqual({ all: '42' });
  });

  it('parses an ISO-8601 timestamp with its zone, or epoch milliseconds, into epoch milliseconds', () => {
    expect(parse('agentk-states', '--from-timestamp', '2026-11-25T10:00:00Z').fromTimestamp).toBe(Date.UTC(2026, 10, 25, 10));
    expect(parse('agentk-states', '--from-timestamp', '2026-11-25T11:30:00+01:30').fromTimestamp).toBe(Date.UTC(2026, 10, 25, 10));
    expect(parse('agentk-states', '--from-timestamp', '1764064800000').fromTimestamp).toBe(Date.UTC(2025, 10, 25, 10));
    expect(parse('agentk-states', '--from-timestamp', '1').fromTimestamp).toBe(1);
  });

  it.each([
    [['agentk-states', '--sauce'], "Unknown option '--sauce'"],
    [['agentk-states', '--batch-size', '0'], '--batch-size must be between 1 and 100000'],
    [['agentk-states', '--batch-size', 'x'], '--batch-size must be a positive integer'],
    [['agentk-states', '--source', 'file'], '--source must be "kafka", "snapshot" or "file:PATH"'],
    [['agentk-states', '--from-offset', '0:12,x'], '--from-offset takes "partition:offset,…"'],
    [['agentk-states', '--from-timestamp', 'yesterday'], '--from-timestamp must be an ISO-8601 time with its zone'],
    // Date.parse reads these as 2001-01-01 and as this machine's local time.
    [['agentk-states', '--from-timestamp', '1.5'], '--from-timestamp must be an ISO-8601 time with its zone'],
    [['agentk-states', '--from-timestamp', '2026-11-25 10:00'], '--from-timestamp must be an ISO-8601 time with its zone'],
    [['agentk-states', '--from-timestamp', '2026-11-25T10:00:00'], '--from-timestamp must be an ISO-8601 time with its zone'],
    [['agentk-states', '--dead-letters', '--since', '2026-11-25'], '--since must be an ISO-8601 time with its zone'],
    [['agentk-states', '--from-beginning', '--from-offset', '3'], 'choose one of --from-offset, --from-timestamp, --from-beginning, --from-checkpoint'],
    [['agentk-states', '--source', 'snapshot', '--from-beginning'], '--from-* options replay Kafka topics: they need --source kafka'],
    [['agentk-states', '--status', '--rollback'], 'choose one of --status, --rollback, --verify'],
    [['agentk-states', '--verify', '--status'], 'choose one of --status, --rollback, --verify'],
    [['agentk-states', '--sample', '10'], '--sample goes with --verify'],
    [['agentk-states', '--explain', '7', '--sample', '10'], '--sample goes with --verify'],
    [['agentk-states', '--explain', 'x'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '0'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '99999999999999999'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '7', '--source-database-url', 'postgres://replica/x'], '--explain reads --database-url only'],
    [['agentk-states', '--status', '--follow'], '--status takes no other mode flag'],
    [['agentk-states', '--verify', '--from-checkpoint'], '--verify takes no other mode flag'],
    [['agentk-states', '--verify', '--follow'], '--verify takes no other mode flag'],
    [['agentk-states', '--sample', '10'], '--sample goes with --verify'],
    [['agentk-states', '--no-switch', '--follow'], '--no-switch takes no other mode flag'],
    [['agentk-states', '--switch'], '--switch needs --fingerprint F'],
    [['agentk-states', '--switch', '--fingerprint', 'abc'], '--fingerprint takes the 64 hex digits --preview printed'],
    [['agentk-states', '--fingerprint', 'a'.repeat(64)], '--fingerprint goes with --switch'],
    [['agentk-states', '--no-switch', '--max-restarts', '1'], '--max-restarts goes with a rebuild that switches, or with --switch'],
    [['agentk-states', '--preview', '--max-restarts', '1'], '--max-restarts goes with a rebuild that switches, or with --switch'],
    [['agentk-states', '--max-restarts=-1'], '--max-restarts must be a whole number (0 or more)'],
    [['agentk-states', '--max-restarts', 'many'], '--max-restarts must be a whole number (0 or more)'],
    [['agentk-states', '--to', '3'], '--to goes with --rollback'],
    [['agentk-states', '--rollback', '--to', 'x'], '--to must be a positive integer'],
    [['agentk-states', '--rollback', '--rollback-history', '2'], '--rollback-history goes with a rebuild that switches, or with --switch'],
    [['agentk-states', '--rollback-history', '0'], '--rollback-history must be between 1 and 100000'],
    [['agentk-states', '--json'], '--json goes with --verify, --explain, --preview, --no-switch or --dead-letters'],
    [['agentk-states', '--explain', '7', '--verify'], 'not --verify and --explain'],
    [['agentk-states', '--explain', '7', '--follow'], '--explain takes no other mode flag'],
    [['agentk-states', '--preview', '--switch', '--fingerprint', 'a'.repeat(64)], '(not --preview and --switch)'],
    [['agentk-states', '--verify', '--sample', '0'], '--sample must be between 1 and 100000'],
    [['agentk-states', '--verify', '--sample', 'some'], '--sample must be a positive integer'],
    [['agentk-states', '--verify', '--source-database-url', 'postgres://replica/x'], '--verify reads --database-url only'],
    [['workspaces'], 'unknown projection "workspaces" (known: agentk-states)'],
    [[], 'name the projection: rebuild-projection agentk-states'],
    [['agentk-states', 'extra'], 'unexpected argument "extra"'],
  ])('rejects %j with a message naming the problem', (argv, message) => {
    expect(() => parse(...argv)).toThrowError(UsageError);
    expect(() => parse(...argv)).toThrowError(message);
  });
});
