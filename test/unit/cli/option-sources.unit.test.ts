import { describe, expect, it } from 'vitest';
import { envVarOf, parseCommandLine } from '../../../src/cli/options.js';
import { UsageError } from '../../../src/cli/usage-error.js';

const withEnv = (env: Record<string, string>, ...argv: string[]) => parseCommandLine(['agentk-states', ...argv], env);

describe('options from the environment', () => {
  it('names each variable REBUILD_PROJECTION_ and the flag in upper snake case', () => {
    expect(envVarOf('batch-size')).toBe('REBUILD_PROJECTION_BATCH_SIZE');
    expect(envVarOf('database-url')).toBe('REBUILD_PROJECTION_DATABASE_URL');
  });

  it('reads a setting from its variable, and a flag overrides it', () => {
    expect(withEnv({ REBUILD_PROJECTION_BATCH_SIZE: '40' }).batchSize).toBe(40);
    expect(withEnv({ REBUILD_PROJECTION_BATCH_SIZE: '40' }, '--batch-size', '7').batchSize).toBe(7);
    expect(withEnv({ REBUILD_PROJECTION_TOPIC: 'a, b' }).topics).toEqual(['a', 'b']);
  });

  it('prefers REBUILD_PROJECTION_DATABASE_URL and _BROKERS to the older DATABASE_URL and KAFKA_BROKERS', () => {
    const env = { DATABASE_URL: 'postgres://old/x', REBUILD_PROJECTION_DATABASE_URL: 'postgres://new/x', KAFKA_BROKERS: 'old:1', REBUILD_PROJECTION_BROKERS: 'new:1' };
    expect(withEnv(env)).toMatchObject({ databaseUrl: 'postgres://new/x', brokers: ['new:1'] });
    expect(withEnv({ DATABASE_URL: 'postgres://old/x' }, '--database-url', 'postgres://flag/x').databaseUrl).toBe('postgres://flag/x');
  });

  it('treats an empty variable as unset', () => {
    expect(withEnv({ REBUILD_PROJECTION_BATCH_SIZE: '', KAFKA_BROKERS: '' })).toMatchObject({ batchSize: 250, brokers: undefined });
  });

  it('reads a flag as true/false or 1/0, and lets an environment --follow yield to a mode named on the command line', () => {
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: 'true' }).mode).toBe('follow');
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: '1' }).follow).toBe(true);
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: 'FALSE' }).mode).toBe('rebuild');
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: 'true' }, '--status').mode).toBe('status');
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: 'true' }, '--from-beginning')).toMatchObject({ mode: 'replay', follow: false });
    expect(withEnv({ REBUILD_PROJECTION_FOLLOW: 'false' }, '--follow').mode).toBe('follow');
  });

  it('applies the "goes with" checks to the command line only: a service setting does not break a one-off mode', () => {
    expect(withEnv({ REBUILD_PROJECTION_MAX_RESTARTS: '5', REBUILD_PROJECTION_SOURCE_DATABASE_URL: 'postgres://replica/x' }, '--verify').mode).toBe('verify');
    expect(withEnv({ REBUILD_PROJECTION_ROLLBACK_HISTORY: '5' }, '--status').mode).toBe('status');
    expect(withEnv({ REBUILD_PROJECTION_ROLLBACK_HISTORY: '5' }).rollbackHistory).toBe(5);
    expect(withEnv({ REBUILD_PROJECTION_SOURCE: 'snapshot' }, '--dead-letters').deadLetterFilter.source).toBeUndefined();
  });

  it.each([
    [{ REBUILD_PROJECTION_BATCH_SIZE: 'many' }, 'REBUILD_PROJECTION_BATCH_SIZE must be a positive integer'],
    [{ REBUILD_PROJECTION_SOURCE: 'file' }, 'REBUILD_PROJECTION_SOURCE must be "kafka", "snapshot" or "file:PATH"'],
    [{ REBUILD_PROJECTION_FOLLOW: 'yes please' }, 'REBUILD_PROJECTION_FOLLOW must be true or false (or 1 or 0)'],
    [{ REBUILD_PROJECTION_BATCH_SIZ: '5' }, 'REBUILD_PROJECTION_BATCH_SIZ: unknown environment variable (did you mean REBUILD_PROJECTION_BATCH_SIZE?)'],
    [{ REBUILD_PROJECTION_VERBOSE: '1' }, 'REBUILD_PROJECTION_VERBOSE: unknown environment variable'],
    [{ REBUILD_PROJECTION_PURGE_DEAD_LETTERS: 'true' }, 'REBUILD_PROJECTION_PURGE_DEAD_LETTERS: --purge-dead-letters is a command-line flag only'],
    [{ REBUILD_PROJECTION_STATUS: '1' }, 'REBUILD_PROJECTION_STATUS: --status is a command-line flag only'],
  ])('rejects %j with one line naming the variable', (env, message) => {
    expect(() => withEnv(env)).toThrowError(UsageError);
    expect(() => withEnv(env)).toThrowError(message);
  });

  it("names a bad secret option without its value", () => {
    const error = (() => {
      try {
        withEnv({}, '--database-url', '', '--source-database-url', 'postgres://u:hunter2@h/db');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toBe('--database-url must not be empty');
  });
});

describe('options from the --config file', () => {
  const files = (text: string) => (path: string) => {
    if (path !== 'svc.yaml') throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
  const withFile = (text: string, env: Record<string, string>, ...argv: string[]) =>
    parseCommandLine(['agentk-states', '--config', 'svc.yaml', ...argv], env, files(text));
  const service = ['follow: true', 'batch-size: 500', 'brokers: [k1:9092, k2:9092]', 'group: "0123"', "database-url: 'postgres://u:pw@db/gitlab'"].join('\n');

  it('refuses a file of two YAML documents with one usage error naming the file (no position to give)', () => {
    expect(() => withFile('batch-size: 500\n---\ngroup: g\n', {})).toThrow(UsageError);
    expect(() => withFile('batch-size: 500\n---\ngroup: g\n', {})).toThrow(/^svc\.yaml: expected a single document/);
  });

  it('reads settings from the file, under flags and environment variables', () => {
    expect(withFile(service, {})).toMatchObject({
      mode: 'follow',
      batchSize: 500,
      brokers: ['k1:9092', 'k2:9092'],
      group: '0123',
      databaseUrl: 'postgres://u:pw@db/gitlab',
    });
    expect(withFile(service, { REBUILD_PROJECTION_BATCH_SIZE: '40' }).batchSize).toBe(40);
    expect(withFile(service, { REBUILD_PROJECTION_BATCH_SIZE: '40' }, '--batch-size', '7').batchSize).toBe(7);
    expect(withFile(service, { KAFKA_BROKERS: 'env:1' }).brokers).toEqual(['env:1']);
    // YAML's failsafe schema: values are text as written, not numbers.
    expect(withFile('group: 0123', {}).group).toBe('0123');
  });

  it('takes the file from REBUILD_PROJECTION_CONFIG too, and an empty or valueless key as unset', () => {
    expect(parseCommandLine(['agentk-states'], { REBUILD_PROJECTION_CONFIG: 'svc.yaml' }, files('batch-size: 9')).batchSize).toBe(9);
    expect(withFile('', {}).batchSize).toBe(250);
    expect(withFile('batch-size:\n# nothing else', {}).batchSize).toBe(250);
  });

  it("lets the file's follow yield to a mode on the command line", () => {
    expect(withFile(service, {}, '--status').mode).toBe('status');
    expect(withFile(service, {}, '--dead-letters').mode).toBe('dead-letters');
  });

  it.each([
    ['batch-size: 0', 'svc.yaml: batch-size must be between 1 and 100000'],
    ['source: file', 'svc.yaml: source must be "kafka", "snapshot" or "file:PATH"'],
    ['follow: yes', 'svc.yaml: follow must be true or false (or 1 or 0)'],
    ['batch-sise: 10', 'svc.yaml: batch-sise: unknown key (did you mean batch-size?)'],
    ['verbose: true', 'svc.yaml: verbose: unknown key'],
    ['purge-dead-letters: true', 'svc.yaml: purge-dead-letters: --purge-dead-letters is a command-line flag only'],
    ['config: other.yaml', 'svc.yaml: config: --config is not read from a config file'],
    ['brokers: {a: 1}', 'svc.yaml: brokers must be a value or a list of values'],
    ['- batch-size', 'svc.yaml: must be a mapping of option names to values'],
    ['batch-size: 1\nbatch-size: 2', 'svc.yaml:2: duplicated mapping key'],
    ['brokers: [a,\n', 'svc.yaml:2: unexpected end of the stream'],
  ])('rejects %j with one line naming the file and key', (text, message) => {
    expect(() => withFile(text, {})).toThrowError(UsageError);
    expect(() => withFile(text, {})).toThrowError(message);
  });

  it('names a file it cannot read', () => {
    expect(() => parseCommandLine(['agentk-states', '--config', 'missing.yaml'], {}, files(''))).toThrowError('--config missing.yaml: cannot read it (ENOENT)');
  });

  it("reports a secret's bad value without the value", () => {
    const message = (() => {
      try {
        withFile('database-url: [postgres://u:hunter2@db/x, {nested: hunter2}]', {});
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toBe('svc.yaml: database-url must be a value or a list of values');
  });
});

describe('-h, --version and unknown flags', () => {
  it('takes -h for --help and --version without naming a projection', () => {
    expect(parseCommandLine(['-h'], {}).help).toBe(true);
    expect(parseCommandLine(['--version'], {}).version).toBe(true);
  });

  it.each([
    [['agentk-states', '--borkers', 'k:1'], "Unknown option '--borkers' (did you mean --brokers?)"],
    [['agentk-states', '--stauts'], "Unknown option '--stauts' (did you mean --status?)"],
    [['agentk-states', '--verbose'], "Unknown option '--verbose'"],
    [['agentk-states', '-x'], "Unknown option '-x'"],
  ])('rejects %j, suggesting the flag most likely meant', (argv, message) => {
    expect(() => parseCommandLine(argv, {})).toThrowError(UsageError);
    expect(() => parseCommandLine(argv, {})).toThrowError(message);
  });
});
