import { describe, expect, it } from 'vitest';
import { createCliLogger, type CliLoggerOptions } from '../../../src/cli/logger.js';
import { logRetry } from '../../../src/ops/logger.js';

function capture(options: Omit<CliLoggerOptions, 'write'>) {
  const lines: string[] = [];
  const log = createCliLogger({ ...options, write: (line) => lines.push(line) });
  return { log, lines };
}

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;

describe('JSON log lines', () => {
  it('one object per line: ISO time, level by name, msg, then the context fields', () => {
    const { log, lines } = capture({ level: 'info', format: 'json' });
    log.info('applied a batch', { topic: 'workspace-events', partition: 2, offset: '41' });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(lines[0]!.trim()).not.toContain('\n');
    const entry = json(lines[0]!);
    expect(entry).toMatchObject({ level: 'info', msg: 'applied a batch', topic: 'workspace-events', partition: 2, offset: '41' });
    expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
  });

  it('a child logger adds its context to every line; the level filters what is written', () => {
    const { log, lines } = capture({ level: 'warn', format: 'json' });
    const child = log.child({ rebuildId: 7 });
    child.info('not written');
    child.debug('not written');
    child.warn('written', { attempt: 2 });
    log.fatal('the end', { exitCode: 1 });
    expect(lines.map(json)).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'written', rebuildId: 7, attempt: 2 }),
      expect.objectContaining({ level: 'fatal', msg: 'the end', exitCode: 1 }),
    ]);
  });

  it('writes a message verbatim: printf-style placeholders are not interpolated', () => {
    const { log, lines } = capture({ level: 'info', format: 'json' });
    log.info('devfile has %s and %d in it');
    expect(json(lines[0]!).msg).toBe('devfile has %s and %d in it');
  });

  it('an error is its type, message and code; with stacks (REBUILD_PROJECTION_DEBUG) its stack too', () => {
    const error = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    const brief = capture({ level: 'info', format: 'json' });
    logRetry(brief.log, 'preparing the target database', { rebuildId: 3 })(error, 2, 400);
    expect(json(brief.lines[0]!)).toMatchObject({
      level: 'warn',
      msg: 'preparing the target database: transient failure (attempt 2), retrying in 400 ms: terminating connection due to administrator command',
      rebuildId: 3,
      attempt: 2,
      delayMs: 400,
      err: { type: 'Error', message: 'terminating connection due to administrator command', code: '57P01' },
    });
    expect(json(brief.lines[0]!).err).not.toHaveProperty('stack');
    const debug = capture({ level: 'info', format: 'json', stacks: true });
    debug.log.error('failed', { err: error });
    expect((json(debug.lines[0]!).err as { stack: string }).stack).toMatch(/^Error: terminating connection[^]*\n\s+at /);
  });
});

describe('pretty log lines', () => {
  it('one readable line: time, level, message, then the context as JSON; no colours unless asked', () => {
    const { log, lines } = capture({ level: 'info', format: 'pretty' });
    log.warn('kafka Connection: Connection error: connect ECONNREFUSED', { kafkajs: 'Connection', broker: '127.0.0.1:1', err: new Error('x') });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: kafka Connection: Connection error: connect ECONNREFUSED \{"kafkajs":"Connection","broker":"127\.0\.0\.1:1"\}\n$/);
    expect(lines[0]).not.toContain('\x1b[');
  });
});
