/**
 * A row's identity as PostgreSQL sees it: the md5 of its desired config as `jsonb::text` prints it, so a
 * rebuild can tell whether the live row already holds what it generated (`md5(desired_config::text)` on
 * the server) without reading the row back.
 *
 * jsonb's text form: object keys sorted by their UTF-8 length, then bytewise (duplicates cannot occur in a
 * generated value); `": "` after a key and `", "` between elements; strings escaped like JSON.stringify does
 * (the same set: `\" \\ \b \f \n \r \t` and `\u00XX` for the other control characters). Numbers are printed
 * as PostgreSQL's numeric prints them, which equals JavaScript's form for everything but exponent notation:
 * such a value gets no digest (undefined), and its row is treated as differing — never as equal by mistake.
 */
import { createHash } from 'node:crypto';
import type { JsonValue } from './inputs.js';

/**
 * {@link jsonbDigest} of a stored row's JSON text: parsed again rather than taken from the generator's value,
 * whose type does not rule out what JSON.stringify drops (an undefined property), which would change the digest.
 */
export function jsonTextDigest(json: string): string | undefined {
  return jsonbDigest(JSON.parse(json) as JsonValue);
}

/** The md5 (hex) of `value`'s jsonb text, or undefined when this module cannot print it exactly as PostgreSQL. */
export function jsonbDigest(value: JsonValue): string | undefined {
  const text = jsonbText(value);
  return text === undefined ? undefined : createHash('md5').update(text).digest('hex');
}

/** `value`'s jsonb text, or undefined when a number would need exponent notation (see above). */
export function jsonbText(value: JsonValue): string | undefined {
  try {
    return write(value);
  } catch (error) {
    if (error instanceof Unprintable) return undefined;
    throw error;
  }
}

class Unprintable extends Error {}

function write(value: JsonValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number': {
      const text = String(value);
      if (!Number.isFinite(value) || text.includes('e')) throw new Unprintable();
      return text;
    }
    case 'boolean':
      return value ? 'true' : 'false';
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i > 0 ? ', ' : '') + write(value[i]!);
    return text + ']';
  }
  const keys = Object.keys(value).sort(compareJsonbKeys);
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    text += (i > 0 ? ', ' : '') + JSON.stringify(key) + ': ' + write(value[key]!);
  }
  return text + '}';
}

const ASCII = /^[\x00-\x7f]*$/;

/** jsonb's key order: shorter UTF-8 first, then bytewise (for ASCII, UTF-16 order is byte order). */
function compareJsonbKeys(a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length - y.length || Buffer.compare(x, y);
}
