import { describe, expect, it } from 'vitest';
import { DEVFILE_CACHE_CHARACTERS, devfileCacheSize, readDevfileCached } from '../../../projections/agentk-states/devfile-cache.js';
import { MAX_DEVFILE_CHARACTERS } from '../../../projections/agentk-states/devfile.js';
import { minimalDevfileLines, yaml } from './helpers.js';

/** A valid devfile of about `size` characters, distinct per `n` (a YAML comment pads it). */
function devfileText(n: number, size: number): string {
  const text = yaml([...minimalDevfileLines(), `# devfile ${n} `]);
  return text + '#'.repeat(Math.max(0, size - text.length)) + '\n';
}

describe('readDevfileCached', () => {
  it('returns the same parsed devfile for the same text', () => {
    const text = devfileText(-1, 0);
    expect(readDevfileCached(text)).toBe(readDevfileCached(text));
  });

  it('holds at most DEVFILE_CACHE_CHARACTERS of devfile text, however many devfiles pass through it', () => {
    // 600 devfiles of 10,000 characters: 6 times the budget, and more than the 512 entries an entry bound allowed.
    const parsed = Array.from({ length: 600 }, (_, n) => readDevfileCached(devfileText(n, 10_000)));
    const size = devfileCacheSize();
    expect(size.characters).toBeLessThanOrEqual(DEVFILE_CACHE_CHARACTERS);
    expect(size.entries).toBeLessThanOrEqual(Math.floor(DEVFILE_CACHE_CHARACTERS / 10_000));
    // The newest stay (the same object: a hit), the oldest went (parsed again: another object).
    expect(readDevfileCached(devfileText(599, 10_000))).toBe(parsed[599]);
    expect(readDevfileCached(devfileText(0, 10_000))).not.toBe(parsed[0]);
  });

  // Neither is kept, so neither evicts the others: one would evict every entry, the other (within the budget)
  // would evict devfiles worth keeping, and failing it again costs only a character count.
  it.each([
    ['larger than the whole budget', DEVFILE_CACHE_CHARACTERS + 1, -2],
    ["over GitLab's limit that fits the budget", MAX_DEVFILE_CHARACTERS + 1_000, -4],
  ])('does not keep a devfile %s, and keeps the others', (_, size, n) => {
    const kept = devfileText(n, 0);
    const parsed = readDevfileCached(kept);
    const before = devfileCacheSize();
    expect(() => readDevfileCached(devfileText(n - 1, size))).toThrow(/devfile_too_large/);
    expect(devfileCacheSize()).toEqual(before);
    expect(readDevfileCached(kept)).toBe(parsed);
  });
});
