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

  it('goes with the modes that generate in bulk: a rebuild (--no-switch, a snapshot hand-off to --follow), --demo and --verify', () => {
    for (const mode of [[], ['--no-switch'], ['--source', 'snapshot', '--follow'], ['--demo'], ['--verify']]) {
      expect(parse('agentk-states', ...mode, '--workers', '2').workers).toBe(2);
    }
  });

  it("is refused on the command line beside a mode that generates on the main thread, and a service's setting is ignored there", () => {
    expect(() => parse('agentk-states', '--status', '--workers', '2')).toThrow('--workers goes with a rebuild or --verify (not --status)');
    expect(() => parse('agentk-states', '--follow', '--workers', '2')).toThrow('--workers goes with a rebuild or --verify (not --follow)');
    expect(() => parse('agentk-states', '--from-beginning', '--workers', '2')).toThrow('--workers goes with a rebuild or --verify (not a replay)');
    expect(parseCommandLine(['agentk-states', '--follow'], { REBUILD_PROJECTION_WORKERS: '2' }).workers).toBe(2);
  });

  it('takes a whole number of at least 1', () => {
    expect(() => parse('agentk-states', '--workers', '0')).toThrow('--workers must be between 1 and 100000');
    expect(() => parse('agentk-states', '--workers', 'two')).toThrow('--workers must be a positive integer');
    expect(() => parse('agentk-states', '--workers', '1.5')).toThrow('--workers must be a positive integer');
  });
});
