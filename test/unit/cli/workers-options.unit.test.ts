import { describe, expect, it } from 'vitest';
import { coresAvailable } from '../../../src/cli/cores-available.js';
import { parseCommandLine } from '../../../src/cli/options.js';

const parse = (...argv: string[]) => parseCommandLine(argv, {});

describe('the --workers option', () => {
  it('defaults to the cores available (cores-available.unit.test.ts), and is read from the flag, the environment and the config file', () => {
    expect(parse('agentk-states').workers).toBe(coresAvailable());
    expect(parse('agentk-states', '--source', 'snapshot', '--workers', '3').workers).toBe(3);
    expect(parseCommandLine(['agentk-states', '--verify'], { REBUILD_PROJECTION_WORKERS: '1' }).workers).toBe(1);
    expect(parseCommandLine(['agentk-states', '--config', 'c.yaml'], {}, () => 'workers: 4\n').workers).toBe(4);
  });

  it('goes with the modes that generate rows: a rebuild (--no-switch, a snapshot hand-off to --follow), --demo, --verify, --follow and a replay', () => {
    const modes = [[], ['--no-switch'], ['--source', 'snapshot', '--follow'], ['--demo'], ['--verify'], ['--follow'], ['--from-beginning'], ['--from-offset', '0:5'], ['--source', 'file:e.ndjson', '--from-checkpoint']];
    for (const mode of modes) {
      const args = parse('agentk-states', ...mode, '--workers', '2');
      expect(args.workers).toBe(2);
      expect(args.followWorkers).toBe(2);
    }
  });

  it('--follow and a replay default to FOLLOW_WORKERS, the bulk modes to the cores available; a service setting is read by both', () => {
    expect(parse('agentk-states', '--follow').followWorkers).toBe(1);
    expect(parse('agentk-states', '--follow').workers).toBe(coresAvailable());
    expect(parseCommandLine(['agentk-states', '--follow'], { REBUILD_PROJECTION_WORKERS: '2' }).followWorkers).toBe(2);
  });

  it('is refused on the command line beside a mode that generates no rows in bulk', () => {
    for (const mode of ['--status', '--preview', '--rollback', '--dead-letters', '--retry-dead-letters', '--export-events']) {
      expect(() => parse('agentk-states', mode, '--workers', '2')).toThrow(`--workers goes with a rebuild, --follow, a replay or --verify (not ${mode})`);
    }
    expect(() => parse('agentk-states', '--explain', '5', '--workers', '2')).toThrow('--workers goes with a rebuild, --follow, a replay or --verify (not --explain)');
  });

  it('takes a whole number of at least 1', () => {
    expect(() => parse('agentk-states', '--workers', '0')).toThrow('--workers must be between 1 and 100000');
    expect(() => parse('agentk-states', '--workers', 'two')).toThrow('--workers must be a positive integer');
    expect(() => parse('agentk-states', '--workers', '1.5')).toThrow('--workers must be a positive integer');
  });
});
