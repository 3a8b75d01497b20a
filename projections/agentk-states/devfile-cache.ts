/**
 * Parsed devfiles memoized by their text. Reading (YAML + zod) is most of a generation's cost, and in a
 * rebuild the same devfile text comes back for every event of a workspace and for every workspace created
 * from the same project template. The result is deterministic in the text, so memoizing keeps the
 * generator pure; entries are deep-frozen so a consumer that mutated one would fail loudly, not silently
 * corrupt the next workspace's config. Failures are memoized too (a broken devfile fails the same way).
 */
import { readDevfile, type Devfile } from './devfile.js';
import { GenerationFailure } from './errors.js';

/** Bounded: at ~10–50 KB per parsed devfile, a few tens of MB at most. */
const MAX_ENTRIES = 512;

type Entry = { ok: true; devfile: Devfile } | { ok: false; failure: GenerationFailure };
const entries = new Map<string, Entry>();

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
      entry = { ok: false, failure: error };
    }
    // Map iteration order is insertion order: dropping the first key evicts the oldest entry.
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    entries.set(text, entry);
  }
  if (entry.ok) return entry.devfile;
  throw entry.failure;
}
