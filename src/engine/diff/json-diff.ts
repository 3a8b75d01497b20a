/**
 * Where two JSON values differ, as paths (`desired_config[3].spec.replicas`, `metadata.labels["agent.gitlab.com/id"]`).
 * Pure and general: objects are compared by key (key order aside, as jsonb compares), arrays by index, scalars
 * by value. A path names the outermost place that differs: a key present on one side only, an index past the
 * shorter array's end, or a value of a different type or content. Used by `--verify` (and meant for an
 * impact preview), so it bounds what it keeps: at most `maxPaths` paths, with `total` always exact.
 */

export interface JsonDiff {
  /** The first `maxPaths` differing paths, in the expected value's key order (then keys only in the actual). */
  paths: string[];
  /** How many paths differ in all (≥ `paths.length`). */
  total: number;
}

export interface JsonDiffOptions {
  /** The name of the compared values, the prefix of every path (e.g. `desired_config`). Default: empty. */
  root?: string;
  /** At most this many paths are kept. Default: 10. */
  maxPaths?: number;
}

export const DEFAULT_MAX_DIFF_PATHS = 10;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `a.b` for identifier-like keys, `a["agent.gitlab.com/id"]` (JSON-quoted) for the rest. */
export function keyPath(parent: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${parent}[${JSON.stringify(key)}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function jsonDiff(expected: unknown, actual: unknown, options: JsonDiffOptions = {}): JsonDiff {
  const maxPaths = options.maxPaths ?? DEFAULT_MAX_DIFF_PATHS;
  const result: JsonDiff = { paths: [], total: 0 };
  const report = (path: string) => {
    if (result.paths.length < maxPaths) result.paths.push(path);
    result.total++;
  };
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (Array.isArray(a) && Array.isArray(b)) {
      const shared = Math.min(a.length, b.length);
      for (let i = 0; i < shared; i++) walk(a[i], b[i], `${path}[${i}]`);
      for (let i = shared; i < Math.max(a.length, b.length); i++) report(`${path}[${i}]`);
      return;
    }
    if (isObject(a) && isObject(b)) {
      for (const key of Object.keys(a)) {
        if (Object.hasOwn(b, key)) walk(a[key], b[key], keyPath(path, key));
        else report(keyPath(path, key));
      }
      for (const key of Object.keys(b)) if (!Object.hasOwn(a, key)) report(keyPath(path, key));
      return;
    }
    // Scalars (or a type mismatch, which `!==` also catches since containers never reach here paired).
    if (a !== b) report(path === '' ? '(root)' : path);
  };
  walk(expected, actual, options.root ?? '');
  return result;
}

/** Whether two JSON values are equal as jsonb compares them (key order aside). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return jsonDiff(a, b, { maxPaths: 0 }).total === 0;
}
