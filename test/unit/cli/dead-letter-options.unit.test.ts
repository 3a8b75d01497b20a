import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/usage-error.js';

const parse = (...argv: string[]) => parseCommandLine(argv, {});

describe('the dead-letter command line', () => {
  it('reads the filters, with --source a filter only when given', () => {
    expect(parse('agentk-states', '--dead-letters')).toMatchObject({
      mode: 'dead-letters',
      deadLetterFilter: { reason: undefined, workspaceId: undefined, source: undefined, olderThanSeconds: undefined, since: undefined },
    });
    expect(
      parse('agentk-states', '--retry-dead-letters', '--reason', 'unknown_schema_id', '--workspace', '42', '--source', 'kafka', '--older-than', '2h'),
    ).toMatchObject({ mode: 'retry-dead-letters', deadLetterFilter: { reason: 'unknown_schema_id', workspaceId: 42, source: 'kafka', olderThanSeconds: 7200 } });
    expect(parse('agentk-states', '--purge-dead-letters', '--since', '2026-11-25T10:00:00Z', '--yes')).toMatchObject({
      mode: 'purge-dead-letters',
      yes: true,
      deadLetterFilter: { since: new Date(Date.UTC(2026, 10, 25, 10)) },
    });
    expect(parse('agentk-states', '--older-than', '7d', '--dead-letters', '--json').deadLetterFilter.olderThanSeconds).toBe(604_800);
    expect(parse('agentk-states', '--retry-dead-letters', '--schemas', '/etc/schemas').schemasDir).toBe('/etc/schemas');
  });

  it.each([
    [['agentk-states', '--dead-letters', '--retry-dead-letters'], '(not --dead-letters and --retry-dead-letters)'],
    [['agentk-states', '--purge-dead-letters', '--follow'], '--purge-dead-letters takes no other mode flag'],
    [['agentk-states', '--retry-dead-letters', '--status'], '(not --status and --retry-dead-letters)'],
    [['agentk-states', '--reason', 'bad_key'], '--reason goes with --dead-letters, --retry-dead-letters or --purge-dead-letters'],
    [['agentk-states', '--dead-letters', '--workspace', 'w1'], '--workspace takes a workspace id'],
    [['agentk-states', '--dead-letters', '--older-than', '3 days'], '--older-than takes a number and a unit'],
    [['agentk-states', '--dead-letters', '--since', 'last week'], '--since must be an ISO-8601 time'],
    [['agentk-states', '--dead-letters', '--older-than', '1h', '--since', '2026-01-01T00:00:00Z'], 'choose one of --older-than, --since'],
    [['agentk-states', '--retry-dead-letters', '--yes'], '--yes goes with --purge-dead-letters'],
    [['agentk-states', '--retry-dead-letters', '--json'], '--json goes with --verify, --explain, --preview, --no-switch or --dead-letters'],
    [['agentk-states', '--dead-letters', '--sample', '3'], '--sample goes with --verify'],
  ])('rejects %j with a message naming the problem', (argv, message) => {
    expect(() => parse(...argv)).toThrowError(UsageError);
    expect(() => parse(...argv)).toThrowError(message);
  });
});
