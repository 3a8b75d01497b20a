import { describe, expect, it } from 'vitest';
import { createProgressReporter, createStatusLine } from '../../../src/cli/progress.js';
import type { LogContext, Logger } from '../../../src/ops/logger.js';

const PHASES = ['building', 'materializing', 'catching_up', 'switching'];

/** A Logger that keeps what it was given. */
function recordingLogger() {
  const lines: { level: string; message: string; context: LogContext }[] = [];
  const at =
    (level: string) =>
    (message: string, context: LogContext = {}) =>
      lines.push({ level, message, context });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

function harness(tty: boolean) {
  let clock = 0;
  const out: string[] = [];
  const { logger, lines } = recordingLogger();
  const statusLine = tty ? createStatusLine((t) => out.push(t)) : undefined;
  const reporter = createProgressReporter({ statusLine, log: logger, phases: PHASES, intervalMs: 5_000, now: () => clock });
  return { reporter, out, lines, statusLine, advance: (ms: number) => (clock += ms) };
}

describe('progress without a terminal: logged', () => {
  it('logs a line at each phase start and then every interval, with rate and ETA as context', () => {
    const { reporter, lines, advance } = harness(false);
    reporter.update({ phase: 'building', done: 0, total: 1000 });
    advance(1_000);
    reporter.update({ phase: 'building', done: 100, total: 1000 });
    expect(lines).toHaveLength(1);
    advance(4_000);
    reporter.update({ phase: 'building', done: 500, total: 1000 });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({
      level: 'info',
      message: 'building: 500/1000 (50%), 100/s, ETA 5 s',
      context: { progress: 'building', done: 500, total: 1000, ratePerS: 100, etaS: 5, elapsedS: 5, complete: false },
    });
  });

  it("ends a phase with a line saying it completed, even when the throttle held back its last sample", () => {
    const { reporter, lines, advance } = harness(false);
    reporter.update({ phase: 'materializing', done: 0, total: 400 });
    advance(2_000);
    reporter.update({ phase: 'materializing', done: 400, total: 400 });
    reporter.update({ phase: 'switching', done: 0, total: 1, step: 'merging into the live table' });
    expect(lines.map((l) => l.message)).toEqual([
      'materializing: 0/400 (0%), 0/s',
      'materializing: done, 400 in 2.0 s (200/s)',
      'switching: step 0/1, merging into the live table',
    ]);
    expect(lines[1]!.context).toMatchObject({ progress: 'materializing', done: 400, complete: true });
    advance(1_500);
    reporter.finish();
    expect(lines.at(-1)!.message).toBe('switching: done in 1.5 s');
  });

  it('a failed run ends without claiming the phase completed, and repeats nothing already logged', () => {
    const { reporter, lines, advance } = harness(false);
    reporter.update({ phase: 'building', done: 0, total: 10 });
    advance(6_000);
    reporter.update({ phase: 'building', done: 3, total: 10 });
    reporter.finish({ complete: false });
    expect(lines.map((l) => l.context.complete)).toEqual([false, false]);
    expect(lines.at(-1)!.context).toMatchObject({ done: 3, total: 10 });
  });

  it('a count that starts again (a new catch-up round, a retried step) gets its own rate, not one diluted by earlier time', () => {
    const { reporter, lines, advance } = harness(false);
    reporter.update({ phase: 'catching_up', done: 0, total: 100 });
    advance(10_000);
    reporter.update({ phase: 'catching_up', done: 100, total: 100 });
    reporter.update({ phase: 'catching_up', done: 0, total: 50 });
    advance(5_000);
    reporter.update({ phase: 'catching_up', done: 50, total: 50 });
    expect(lines.at(-1)!.context).toMatchObject({ done: 50, ratePerS: 10 });
  });
});

describe('progress on a terminal: one status line', () => {
  it('pads the phase column to the longest phase, materializing included', () => {
    const { reporter, out, advance } = harness(true);
    reporter.update({ phase: 'building', done: 0, total: 200 });
    advance(2_000);
    reporter.update({ phase: 'building', done: 100, total: 200 });
    expect(out.at(-1)).toBe('\r\x1b[2Kbuilding      [############------------]  50% 100/200 50/s ETA 2s');
    reporter.update({ phase: 'materializing', done: 0, total: 200 });
    advance(1_000);
    reporter.update({ phase: 'materializing', done: 50, total: 200 });
    expect(out.at(-1)).toBe('\r\x1b[2Kmaterializing [######------------------]  25% 50/200 50/s ETA 3s');
  });

  it('draws a finished phase at 100% before the next starts on a line of its own, and ends the last on finish', () => {
    const { reporter, out, advance } = harness(true);
    reporter.update({ phase: 'building', done: 0, total: 200 });
    advance(100);
    // Throttled (under 200 ms since the last redraw): not drawn now, but the phase's end draws it.
    reporter.update({ phase: 'building', done: 197, total: 200 });
    advance(900);
    reporter.update({ phase: 'switching', done: 0, total: 2, step: 'measuring the impact' });
    expect(out.slice(1)).toEqual([
      '\r\x1b[2Kbuilding      [########################] 100% 197 in 1.0s 197/s',
      '\n',
      '\r\x1b[2Kswitching     [------------------------]   0% 0/2 measuring the impact',
    ]);
    // Every step is drawn at once, however soon it follows the last.
    reporter.update({ phase: 'switching', done: 1, total: 2, step: 'merging into the live table' });
    expect(out.at(-1)).toBe('\r\x1b[2Kswitching     [############------------]  50% 1/2 merging into the live table');
    advance(3_000);
    reporter.finish();
    expect(out.slice(-2)).toEqual(['\r\x1b[2Kswitching     [########################] 100% in 3.0s', '\n']);
  });

  it('an interrupted run keeps the last figures on screen and ends the line', () => {
    const { reporter, out, advance } = harness(true);
    reporter.update({ phase: 'building', done: 0, total: 10 });
    advance(1_000);
    reporter.update({ phase: 'building', done: 4, total: 10 });
    reporter.finish({ complete: false });
    expect(out.slice(-2)).toEqual(['\r\x1b[2Kbuilding      [##########--------------]  40% 4/10 4/s ETA 2s', '\n']);
  });
});

describe('the status line', () => {
  it('prints a log line (a signal message) on a line of its own above the bar, then redraws the bar', () => {
    const out: string[] = [];
    const line = createStatusLine((t) => out.push(t));
    line.print('before any bar\n');
    line.draw('building 1/2');
    line.print('SIGTERM received\n');
    line.end();
    line.print('after the bar\n');
    expect(out).toEqual(['before any bar\n', '\r\x1b[2Kbuilding 1/2', '\r\x1b[2KSIGTERM received\nbuilding 1/2', '\n', 'after the bar\n']);
  });
});
