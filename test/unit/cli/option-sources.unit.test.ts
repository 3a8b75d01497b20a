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
    [{ REBUILD_PROJECTION_SOURCE: 'file' }, 'REBUILD_PROJECTION_SOURCE must be "kafka" or "snapshot"'],
    [{ REBUILD_PROJECTION_FOLLOW: 'yes please' }, 'REBUILD_PROJECTION_FOLLOW must be true or false (or 1 or 0)'],
    [{ REBUILD_PROJECTION_BATCH_SIZ: '5' }, 'unknown environment variable REBUILD_PROJECTION_BATCH_SIZ'],
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
