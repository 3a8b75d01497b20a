import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';

const parse = (...argv: string[]) => parseCommandLine(['agentk-states', ...argv], {});

describe('--export-events options', () => {
  it('to Kafka in JSON by default; Avro and --append on request', () => {
    expect(parse('--export-events')).toMatchObject({ mode: 'export-events', exportTo: { kind: 'kafka', encoding: 'json', append: false } });
    expect(parse('--export-events', '--export-encoding', 'avro', '--append').exportTo).toEqual({ kind: 'kafka', encoding: 'avro', append: true });
    expect(parse('--export-events', '--to-file', 'out.ndjson').exportTo).toEqual({ kind: 'file', path: 'out.ndjson' });
    expect(parse().exportTo).toBeUndefined();
  });

  it.each([
    [['--to-file', 'x'], '--to-file goes with --export-events'],
    [['--append'], '--append goes with --export-events'],
    [['--export-encoding', 'json'], '--export-encoding goes with --export-events'],
    [['--export-events', '--export-encoding', 'protobuf'], '--export-encoding must be "json" or "avro"'],
    [['--export-events', '--to-file', 'x', '--append'], '--to-file writes JSON to a new file: drop --export-encoding and --append'],
    [['--export-events', '--source-database-url', 'postgres://replica/db'], '--export-events reads --database-url (one snapshot): drop --source-database-url'],
    [['--export-events', '--verify'], 'choose one of'],
    [['--export-events', '--follow'], '--export-events takes no other mode flag'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parse(...argv)).toThrow(message);
  });
});
