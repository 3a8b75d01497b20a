/**
 * Small helpers over JSON values: type guards, byte-order key comparison, deep sort, safe key writes.
 *
 * Keys come from user data (devfile, agent config), so writes go through {@link setOwn}: a plain
 * assignment of `__proto__` would change the prototype instead of adding a key.
 */
import type { JsonObject, JsonValue } from './inputs.js';

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function hasOwn(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** The own value at `key`, or `undefined` (never an inherited property such as `constructor`). */
export function ownValue(object: JsonObject, key: string): JsonValue | undefined {
  return hasOwn(object, key) ? object[key] : undefined;
}

/** Adds or replaces an own enumerable key, `__proto__` included. */
export function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

/**
 * Byte-wise comparison of the UTF-8 encodings (spec §3.1), which is code point order. JavaScript's `<`
 * compares UTF-16 code units and disagrees for astral characters versus U+E000–U+FFFF.
 */
export function compareBytes(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Only when a surrogate is involved can code unit order differ from code point order.
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) {
      return (a.codePointAt(i) ?? x) - (b.codePointAt(i) ?? y);
    }
    return x - y;
  }
  return a.length - b.length;
}

/** §3.1: every mapping at every depth gets its keys in byte order; arrays keep their order. New objects. */
export function deepSortKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(deepSortKeys);
  if (!isJsonObject(value)) return value;
  const sorted: JsonObject = {};
  for (const key of Object.keys(value).sort(compareBytes)) setOwn(sorted, key, deepSortKeys(value[key] as JsonValue));
  return sorted;
}

/** A structural copy, so output never aliases caller-owned input objects. Primitives are returned as is. */
export function cloneJson(value: JsonValue): JsonValue {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const copy: JsonObject = {};
  for (const key of Object.keys(value)) setOwn(copy, key, cloneJson(value[key] as JsonValue));
  return copy;
}

/**
 * Ruby's `String#blank?` (ActiveSupport): empty or only Unicode White_Space characters. GitLab decides
 * `shared_namespace` mode, `workingDir` presence and the NetworkPolicy pod selector with `present?`.
 */
const RUBY_BLANK = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
export function isRubyBlank(text: string): boolean {
  return RUBY_BLANK.test(text);
}

/** `components[2].container.memoryLimit`, `labels.team`, `labels["app.kubernetes.io/name"]`. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
