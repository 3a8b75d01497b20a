/** Small helpers for handling untyped decoded values before zod sees them. */
import { bigintId } from '../../../projections/agentk-states/inputs.js';
import type { CodecFailure } from './bad-message.js';
import { formatPath } from './bad-message.js';

export type UnknownObject = Record<string, unknown>;

export function isObject(value: unknown): value is UnknownObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A workspace id for error reports only: undefined unless it is a safe integer (number or decimal string). */
export function readWorkspaceId(value: unknown): number | undefined {
  const parsed = bigintId.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes UTF-8 strictly: Buffer#toString would replace invalid bytes with U+FFFD and the replacement would
 * be written as if it were the producer's text. `what` names the bytes in the failure (e.g. "the value").
 */
export function decodeUtf8(bytes: Uint8Array, what: string): { ok: true; text: string } | { ok: false; failure: CodecFailure } {
  try {
    return { ok: true, text: STRICT_UTF8.decode(bytes) };
  } catch {
    const at = firstInvalidUtf8(bytes);
    return { ok: false, failure: { reason: 'invalid_utf8', detail: `${what} is not valid UTF-8 at byte ${at}` } };
  }
}

/** The offset of the first byte that starts an invalid UTF-8 sequence (the decoder does not say). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let lo = 0;
  let hi = bytes.length;
  // The longest valid prefix, by bisection on whole prefixes (a cut inside a sequence is invalid too, so
  // probe a few bytes past the midpoint to let a sequence complete).
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (validPrefix(bytes, mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function validPrefix(bytes: Uint8Array, length: number): boolean {
  for (let extra = 0; extra < 4 && length + extra <= bytes.length; extra++) {
    try {
      STRICT_UTF8.decode(bytes.subarray(0, length + extra));
      return true;
    } catch {
      // try a longer cut: `length` may split a multi-byte sequence
    }
  }
  return false;
}

const UNSTORABLE_CHAR = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The first string (value or object key) PostgreSQL cannot store: U+0000 (rejected by text and jsonb) or a
 * lone surrogate (rejected by jsonb, and not Unicode text at all). `replacementIsInvalid`: the strings came
 * through a lossy decoder (avsc), so a U+FFFD stands for invalid UTF-8 bytes (a genuine U+FFFD in an Avro
 * string is dead-lettered too: avsc cannot tell them apart). Iterative: JSON.parse accepts nesting far
 * deeper than the call stack.
 */
export function findUnstorableText(root: unknown, replacementIsInvalid = false): CodecFailure | undefined {
  // Nearly every message has none: a pass that allocates nothing per string first; the one that builds paths
  // only for a message that has one.
  if (!holdsUnstorableText(root, replacementIsInvalid)) return undefined;
  // Each entry links to its parent, so the path is built only for the one string reported (copying a
  // path per node would be quadratic in the depth).
  interface Node {
    value: unknown;
    key?: PropertyKey;
    parent?: Node;
  }
  const pathOf = (node: Node): PropertyKey[] => {
    const path: PropertyKey[] = [];
    for (let n: Node | undefined = node; n?.key !== undefined; n = n.parent) path.push(n.key);
    return path.reverse();
  };
  const pending: Node[] = [{ value: root }];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    const { value } = node;
    if (typeof value === 'string') {
      const found = checkText(value, replacementIsInvalid);
      if (found) return { ...found, path: formatPath(pathOf(node)) || '(root)' };
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push({ value: value[i], key: i, parent: node });
    } else if (isObject(value)) {
      // Reversed onto the stack, so the first field (and a key before its value) is reported first.
      for (const [key, child] of Object.entries(value).reverse()) {
        pending.push({ value: child, key, parent: node });
        pending.push({ value: key, key, parent: node });
      }
    }
  }
  return undefined;
}

/** Whether findUnstorableText would find a string (the same strings and checks, without paths or order). */
function holdsUnstorableText(root: unknown, replacementIsInvalid: boolean): boolean {
  const unstorable = (text: string): boolean => UNSTORABLE_CHAR.test(text) || (replacementIsInvalid && text.includes('\ufffd'));
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (unstorable(value)) return true;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (isObject(value)) {
      for (const key of Object.keys(value)) {
        if (unstorable(key)) return true;
        pending.push(value[key]);
      }
    }
  }
  return false;
}

function checkText(text: string, replacementIsInvalid: boolean): Omit<CodecFailure, 'path'> | undefined {
  const index = text.search(UNSTORABLE_CHAR);
  if (index >= 0) {
    const code = text.charCodeAt(index).toString(16).toUpperCase().padStart(4, '0');
    const what = code === '0000' ? 'U+0000 (NUL)' : `a lone surrogate U+${code}`;
    return { reason: 'unstorable_text', detail: `${what} at character ${index}, which PostgreSQL cannot store` };
  }
  const replaced = replacementIsInvalid ? text.indexOf('\ufffd') : -1;
  if (replaced >= 0) return { reason: 'invalid_utf8', detail: `string is not valid UTF-8 (decoded to U+FFFD at character ${replaced})` };
  return undefined;
}
