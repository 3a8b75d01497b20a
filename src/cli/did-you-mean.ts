/** "Did you mean …?" for a mistyped flag, environment variable or config key. */

/**
 * Edit distance with adjacent transpositions (optimal string alignment): insertions, deletions,
 * substitutions and swaps of two neighbours cost 1 each, so `borkers` is 1 from `brokers`.
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: distance between the first i characters of a and the first j of b.
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `word` was most likely meant to be: the nearest within 2 edits (1 for words of up to
 * 3 characters, where 2 edits make almost anything), else the only candidate it is a prefix of.
 * Ties go to the earlier candidate. Undefined when nothing is close.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = word.length <= 3 ? 1 : 2;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  if (best) return best.candidate;
  const extended = candidates.filter((candidate) => word.length > 0 && candidate.startsWith(word));
  return extended.length === 1 ? extended[0] : undefined;
}

/** ` (did you mean X?)`, or nothing. */
export const didYouMean = (word: string, candidates: readonly string[], show: (candidate: string) => string = (c) => c) => {
  const match = closest(word, candidates);
  return match === undefined ? '' : ` (did you mean ${show(match)}?)`;
};
