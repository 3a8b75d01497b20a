import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';

const parse = (...argv: string[]) => parseCommandLine(argv, {});

describe('the metrics options', () => {
  it('are off by default; --metrics-port turns them on, listening on every interface with a maximum lag of 1000', () => {
    expect(parse('agentk-states', '--follow').metrics).toBeUndefined();
    expect(parse('agentk-states', '--follow', '--metrics-port', '9464').metrics).toEqual({ host: '0.0.0.0', port: 9464, readyMaxLag: 1000 });
    expect(parse('agentk-states', '--metrics-port', '1', '--metrics-host', '127.0.0.1', '--ready-max-lag', '0').metrics).toEqual({
      host: '127.0.0.1', port: 1, readyMaxLag: 0,
    });
  });

  it('go with a rebuild, --follow, a replay, --no-switch and --switch', () => {
    for (const mode of [[], ['--follow'], ['--from-beginning'], ['--source', 'snapshot', '--follow'], ['--no-switch'], ['--switch', '--fingerprint', 'a'.repeat(64)]]) {
      expect(parse('agentk-states', ...mode, '--metrics-port', '9464').metrics?.port).toBe(9464);
    }
  });

  it("come from a service's environment too, which a one-off --status beside it ignores (its port is taken)", () => {
    const env = { REBUILD_PROJECTION_METRICS_PORT: '9464', REBUILD_PROJECTION_READY_MAX_LAG: '10' };
    expect(parseCommandLine(['agentk-states', '--follow'], env).metrics).toEqual({ host: '0.0.0.0', port: 9464, readyMaxLag: 10 });
    expect(parseCommandLine(['agentk-states', '--status'], env).metrics).toBeUndefined();
  });

  it('are refused, naming the flag, where they make no sense or the value is wrong', () => {
    expect(() => parse('agentk-states', '--status', '--metrics-port', '9464')).toThrow('--metrics-port goes with a rebuild, --follow or a Kafka replay (not --status)');
    expect(() => parse('agentk-states', '--source', 'file:events.ndjson', '--from-beginning', '--metrics-port', '9464')).toThrow(
      '--metrics-port goes with a rebuild, --follow or a Kafka replay (not a replay of a file)',
    );
    expect(() => parse('agentk-states', '--follow', '--ready-max-lag', '5')).toThrow('--ready-max-lag goes with --metrics-port');
    expect(() => parse('agentk-states', '--follow', '--metrics-host', '::')).toThrow('--metrics-host goes with --metrics-port');
    expect(() => parse('agentk-states', '--follow', '--metrics-port', '70000')).toThrow('--metrics-port must be between 1 and 65535');
    expect(() => parse('agentk-states', '--follow', '--metrics-port', 'http')).toThrow('--metrics-port takes a TCP port number');
    expect(() => parse('agentk-states', '--follow', '--metrics-port', '9464', '--ready-max-lag', '-1')).toThrow();
  });
});
