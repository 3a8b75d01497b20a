/**
 * Ruby's `inspect` text (Ruby 3.3 and older) of a JSON value whose hash keys are symbols, as GitLab
 * prints `max_resources_per_workspace` before hashing it (spec §3.2): `{:limits=>{:cpu=>"2"}}`,
 * `{:"limits.cpu"=>"1"}`.
 */
import type { JsonValue } from './inputs.js';
import { isJsonObject } from './json.js';

/** Ruby `String#inspect` escapes with a letter. */
const LETTER_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x07, '\\a'],
  [0x08, '\\b'],
  [0x09, '\\t'],
  [0x0a, '\\n'],
  [0x0b, '\\v'],
  [0x0c, '\\f'],
  [0x0d, '\\r'],
  [0x1b, '\\e'],
  [0x22, '\\"'],
  [0x5c, '\\\\'],
]);

/**
 * Characters Ruby does not print as themselves in a UTF-8 string: controls, format, unassigned, line and
 * paragraph separators, lone surrogates (an approximation of Onigmo's `print` class).
 */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}\u2028\u2029]/u;

function hex(code: number): string {
  return code.toString(16).toUpperCase();
}

/** Ruby `String#inspect` for a UTF-8 string. */
export function rubyStringInspect(text: string): string {
  let out = '"';
  let index = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const escape = LETTER_ESCAPES.get(code);
    if (escape !== undefined) out += escape;
    else if (code === 0x23 /* # */) {
      // `#` starts interpolation only before `{`, `$` or `@`, so only then is it escaped.
      const next = text[index + 1];
      out += next === '{' || next === '$' || next === '@' ? '\\#' : '#';
    } else if (code < 0x20 || code === 0x7f || NON_PRINTABLE.test(char)) {
      out += code < 0x10000 ? `\\u${hex(code).padStart(4, '0')}` : `\\u{${hex(code)}}`;
    } else out += char;
    index += char.length;
  }
  return `${out}"`;
}

/** Identifier characters in Ruby: ASCII alphanumerics, `_`, and any printable non-ASCII character. */
const IDENT = String.raw`(?:[A-Za-z0-9_]|[^\x00-\x7f\p{C}\p{Z}])`;
const IDENT_START = String.raw`(?:[A-Za-z_]|[^\x00-\x7f\p{C}\p{Z}])`;
const NAME = `${IDENT_START}${IDENT}*`;
/**
 * Symbols Ruby prints bare after the colon: method-like names (optionally ending in `?`, `!` or `=`),
 * instance/class/global variable names, and operator method names. Everything else is quoted.
 */
const BARE_SYMBOL = new RegExp(
  '^(?:' +
    [
      `${NAME}[?!=]?`,
      `@@?${NAME}`,
      String.raw`\$(?:${NAME}|[~*$?!@/\\;,.=:<>"&\x60'+0]|[1-9][0-9]*|-${IDENT})`,
      String.raw`\[\]=?|[+\-]@?|\*\*?|[/%~!^&|\x60]|!=|!~|=~|===?|<=>|<<|>>|<=?|>=?`,
    ].join('|') +
    ')$',
  'u',
);

/** Ruby `Symbol#inspect`. */
export function rubySymbolInspect(name: string): string {
  return BARE_SYMBOL.test(name) ? `:${name}` : `:${rubyStringInspect(name)}`;
}

/**
 * Ruby `Float#inspect`: shortest round-trip digits (as JavaScript), fixed notation when the decimal point
 * falls within 16 digits, else `d.ddde+XX` with at least two exponent digits.
 */
export function rubyFloatInspect(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa = '', exponentText = '0'] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  // Ruby's `decpt`: value = 0.DIGITS × 10^decpt.
  const decpt = Number(exponentText) + 1;
  if (decpt < -3 || decpt > 16) {
    const exponent = decpt - 1;
    const fraction = digits.length > 1 ? digits.slice(1) : '0';
    const exponentDigits = String(Math.abs(exponent)).padStart(2, '0');
    return `${sign}${digits[0]}.${fraction}e${exponent < 0 ? '-' : '+'}${exponentDigits}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * `inspect` of a JSON value whose hash keys are symbols. Integral numbers print as Ruby Integers: jsonb
 * hands us no way to tell `2` from `2.0`, and GitLab's values are strings in practice.
 */
export function rubyInspect(value: JsonValue): string {
  if (value === null) return 'nil';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return rubyStringInspect(value);
  if (typeof value === 'number') {
    return Number.isInteger(value) ? BigInt(value).toString() : rubyFloatInspect(value);
  }
  if (Array.isArray(value)) return `[${value.map(rubyInspect).join(', ')}]`;
  if (!isJsonObject(value)) return 'nil';
  const entries = Object.keys(value).map((key) => `${rubySymbolInspect(key)}=>${rubyInspect(value[key] as JsonValue)}`);
  return `{${entries.join(', ')}}`;
}
