import { describe, expect, it } from 'vitest';
import { createProgressReporter } from '../../../src/cli/progress.js';

function harness(isTty: boolean) {
  let clock = 0;
  const out: string[] = [];
  const reporter = createProgressReporter({ write: (t) => out.push(t), isTty, intervalMs: 5_000, now: () => clock });
  return { reporter, out, advance: (ms: number) => (clock += ms) };
}

describe('progress without a terminal', () => {
  it('writes a JSON line at each phase change and then every interval, with rate and ETA', () => {
    const { reporter, out, advance } = harness(false);
    reporter.update({ phase: 'building', done: 0, total: 1000 });
    advance(1_000);
    reporter.update({ phase: 'building', done: 100, total: 1000 });
    expect(out).toHaveLength(1);
    advance(4_000);
    reporter.update({ phase: 'building', done: 500, total: 1000 });
    expect(out).toHaveLength(2);
    expect(JSON.parse(out[1]!)).toEqual({ progress: 'building', done: 500, total: 1000, rate_per_s: 100, eta_s: 5, elapsed_s: 5 });
    reporter.update({ phase: 'switching', done: 0, total: undefined });
    expect(JSON.parse(out[2]!)).toMatchObject({ progress: 'switching', total: null, eta_s: null });
  });
});

describe('progress on a terminal', () => {
  it('redraws one line with phase, bar, counts, rate and ETA, and ends it on finish', () => {
    const { reporter, out, advance } = harness(true);
    reporter.update({ phase: 'building', done: 0, total: 200 });
    advance(2_000);
    reporter.update({ phase: 'building', done: 100, total: 200 });
    expect(out[1]).toBe(`\r\x1b[2Kbuilding    [############------------]  50% 100/200 50/s ETA 2s`);
    reporter.finish();
    expect(out.at(-1)).toBe('\n');
  });
});
