/** `--source file:PATH` and `--demo` on the command line (README "Command line"). */
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/usage-error.js';

const parse = (...argv: string[]) => parseCommandLine(argv, {});

describe('the file source and --demo on the command line', () => {
  it('rebuilds from a file, or replays it with --from-checkpoint or --from-beginning', () => {
    expect(parse('agentk-states', '--source', 'file:backup/events.ndjson.gz')).toMatchObject({ mode: 'rebuild', source: 'file', sourceFile: 'backup/events.ndjson.gz' });
    expect(parse('agentk-states', '--source', 'file:dump.json', '--from-checkpoint')).toMatchObject({ mode: 'replay', source: 'file', sourceFile: 'dump.json', fromCheckpoint: true });
    expect(parse('agentk-states', '--source', 'file:dump.json', '--from-beginning')).toMatchObject({ mode: 'replay', fromBeginning: true });
    expect(parse('agentk-states', '--source', 'kafka').sourceFile).toBeUndefined();
  });

  it.each([
    [['--source', 'file:x', '--follow'], '--follow needs Kafka: a file has an end'],
    [['--source', 'file:x', '--from-offset', '0:5'], '--from-* options replay Kafka topics: they need --source kafka (a file replays with --from-beginning or --from-checkpoint)'],
    [['--source', 'file:x', '--from-timestamp', '2026-11-25T10:00:00Z'], '--from-* options replay Kafka topics'],
    [['--source', 'file:'], '--source must be "kafka", "snapshot" or "file:PATH"'],
    [['--source', 'file:x', '--dead-letters'], 'the dead-letter --source filter takes kafka or snapshot'],
    [['--demo', '--source', 'kafka'], '--demo reads the bundled demo data: drop --source'],
    [['--demo', '--status'], 'choose one of'],
    [['--demo', '--from-beginning'], '--demo takes no other mode flag'],
  ])('rejects %j', (argv, message) => {
    expect(() => parse('agentk-states', ...argv)).toThrowError(UsageError);
    expect(() => parse('agentk-states', ...argv)).toThrowError(message);
  });

  it('runs --demo as its own mode', () => {
    expect(parse('agentk-states', '--demo').mode).toBe('demo');
  });
});
