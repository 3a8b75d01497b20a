/**
 * Parsed devfiles memoized by their text. Reading (YAML + zod) is most of a generation's cost, and the same
 * devfile text comes back for every workspace created from the same project template, and for a follower's
 * later events of a workspace. The result is deterministic in the text, so memoizing keeps the
 * generator pure; entries are deep-frozen so a consumer that mutated one would fail loudly, not silently
 * corrupt the next workspace's config. Failures are memoized too (a broken devfile fails the same way), but
 * not a devfile over the size limit (see readDevfileCached).
 */
import { readDevfile, type Devfile } from './devfile.js';
import { GenerationFailure } from './errors.js';

/**
 * Bounded by the devfile text held (characters), not by entries: a parsed devfile takes a few times its text.
 * Every generation worker holds its own cache, so 512 entries of the benchmark's 6.5 KB devfiles were about
 * 27 MB of heap per worker, and with no template shared they never hit. A million characters keeps about 150
 * such devfiles, plenty for the templates of one installation.
 */
export const DEVFILE_CACHE_CHARACTERS = 1_000_000;

type Entry = { ok: true; devfile: Devfile } | { ok: false; failure: GenerationFailure };
const entries = new Map<string, Entry>();
let characters = 0;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function readDevfileCached(text: string | null): Devfile {
  if (text === null) return readDevfile(text);
  let entry = entries.get(text);
  if (entry === undefined) {
    try {
      entry = { ok: true, devfile: deepFreeze(readDevfile(text)) };
    } catch (error) {
      if (!(error instanceof GenerationFailure)) throw error;
      // Found by counting characters, before any parsing; kept, a text over GitLab's limit (up to the whole
      // budget) would evict the devfiles worth keeping. So every entry is within that limit, far below the budget.
      if (error.kind === 'devfile_too_large') throw error;
      entry = { ok: false, failure: error };
    }
    remember(text, entry);
  }
  if (entry.ok) return entry.devfile;
  throw entry.failure;
}

function remember(text: string, entry: Entry): void {
  // Map iteration order is insertion order: the first key is the oldest entry.
  for (const oldest of entries.keys()) {
    if (characters + text.length <= DEVFILE_CACHE_CHARACTERS) break;
    entries.delete(oldest);
    characters -= oldest.length;
  }
  entries.set(text, entry);
  characters += text.length;
}

/** What the cache holds now (its tests). */
export function devfileCacheSize(): { entries: number; characters: number } {
  return { entries: entries.size, characters };
}
