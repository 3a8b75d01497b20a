import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../../src/cli/did-you-mean.js';

describe('edit distance', () => {
  it.each([
    ['', '', 0],
    ['', 'abc', 3],
    ['brokers', 'brokers', 0],
    ['borkers', 'brokers', 1], // one swap of neighbours
    ['broker', 'brokers', 1],
    ['brokerz', 'brokers', 1],
    ['kitten', 'sitting', 3],
    ['sauce', 'source', 2],
    ['ca', 'abc', 3], // optimal string alignment: a swapped pair is not edited again
  ])('from %j to %j is %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('the closest candidate', () => {
  const flags = ['brokers', 'batch-size', 'topic', 'to', 'status', 'source'];

  it('is the nearest within two edits, ties to the earlier one', () => {
    expect(closest('borkers', flags)).toBe('brokers');
    expect(closest('batch-sise', flags)).toBe('batch-size');
    expect(closest('statu', flags)).toBe('status');
    expect(closest('topics', flags)).toBe('topic');
  });

  it('allows one edit only for short words, and falls back to the one flag the word starts', () => {
    expect(closest('tx', flags)).toBe('to');
    expect(closest('xy', flags)).toBeUndefined();
    expect(closest('batch', flags)).toBe('batch-size');
    expect(closest('s', flags)).toBeUndefined(); // status and source: ambiguous
  });

  it('is nothing when nothing is close', () => {
    expect(closest('verbose', flags)).toBeUndefined();
    expect(didYouMean('verbose', flags)).toBe('');
    expect(didYouMean('borkers', flags, (f) => `--${f}`)).toBe(' (did you mean --brokers?)');
  });
});
