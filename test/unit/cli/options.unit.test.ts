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

  it('parses an ISO-8601 timestamp into epoch milliseconds', () => {
    expect(parse('agentk-states', '--from-timestamp', '2026-11-25T10:00:00Z').fromTimestamp).toBe(Date.UTC(2026, 10, 25, 10));
  });

  it.each([
    [['agentk-states', '--sauce'], "Unknown option '--sauce'"],
    [['agentk-states', '--batch-size', '0'], '--batch-size must be between 1 and 100000'],
    [['agentk-states', '--batch-size', 'x'], '--batch-size must be a positive integer'],
    [['agentk-states', '--source', 'file'], '--source must be "kafka" or "snapshot"'],
    [['agentk-states', '--from-offset', '0:12,x'], '--from-offset takes "partition:offset,…"'],
    [['agentk-states', '--from-timestamp', 'yesterday'], '--from-timestamp must be an ISO-8601 time'],
    [['agentk-states', '--from-beginning', '--from-offset', '3'], 'choose one of --from-offset, --from-timestamp, --from-beginning, --from-checkpoint'],
    [['agentk-states', '--source', 'snapshot', '--from-beginning'], '--from-* options replay Kafka topics: they need --source kafka'],
    [['agentk-states', '--status', '--rollback'], 'choose one of --status, --rollback, --verify'],
    [['agentk-states', '--verify', '--status'], 'choose one of --status, --rollback, --verify'],
    [['agentk-states', '--status', '--follow'], '--status, --rollback, --verify and --explain take no other mode flag'],
    [['agentk-states', '--verify', '--from-checkpoint'], '--status, --rollback, --verify and --explain take no other mode flag'],
    [['agentk-states', '--verify', '--follow'], '--status, --rollback, --verify and --explain take no other mode flag'],
    [['agentk-states', '--json'], '--json goes with --verify, --explain or --dead-letters'],
    [['agentk-states', '--sample', '10'], '--sample goes with --verify'],
    [['agentk-states', '--explain', '7', '--sample', '10'], '--sample goes with --verify'],
    [['agentk-states', '--explain', '7', '--verify'], 'choose one of --status, --rollback, --verify, --explain'],
    [['agentk-states', '--explain', '7', '--follow'], '--status, --rollback, --verify and --explain take no other mode flag'],
    [['agentk-states', '--explain', 'x'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '0'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '99999999999999999'], '--explain takes a workspace id (a positive integer)'],
    [['agentk-states', '--explain', '7', '--source-database-url', 'postgres://replica/x'], '--explain reads --database-url only'],
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
