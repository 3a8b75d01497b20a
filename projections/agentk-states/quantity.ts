/**
 * Kubernetes resource quantities, canonicalized the way GitLab's devfile CLI (Go, `resource.ParseQuantity`
 * then JSON marshalling) prints them (spec §6.4): `2048Mi` → `2Gi`, `1.5Gi` → `1536Mi`, `0.5` → `500m`,
 * `1000` → `1k`, `1e3` → `1e3`.
 *
 * This is a port of apimachinery's `parseQuantityString` / `ParseQuantity` / `CanonicalizeBytes`, with
 * bigint arithmetic in place of int64 and inf.Dec. Two Go details matter for byte-exact output beyond the
 * spec's summary, and both leave every example of the spec unchanged:
 * - Go keeps the caller's text when its fast path finds it already canonical (`1500m`, `50Gi`, `1G`): so a
 *   leading `+`, leading zeros (`01Gi`), an upper-case exponent (`1E3`) or `1.500k` come out as written.
 * - A decimal value whose exponent lands above 18 (e.g. `1000E`) has no SI suffix in Go's table, and Go
 *   prints the bare mantissa. We reproduce Go rather than invent a suffix.
 */

/** The message GitLab's devfile CLI reports for every malformed quantity (spec §6.4). */
export const QUANTITY_FORMAT_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
  constructor() {
    super(QUANTITY_FORMAT_MESSAGE);
  }
}

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

interface Scanned {
  positive: boolean;
  /** The numeric text (sign, digits, point) as Go's `value`. */
  value: string;
  num: string;
  denom: string;
  suffix: string;
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
/**
 * Exponents beyond this are refused instead of emulating Go's int32 wrap-around or building a number with
 * millions of digits; no real resource value comes near it.
 */
const MAX_EXPONENT_MAGNITUDE = 1000;

const DECIMAL_SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['', 0],
  ['n', -9],
  ['u', -6],
  ['m', -3],
  ['k', 3],
  ['M', 6],
  ['G', 9],
  ['T', 12],
  ['P', 15],
  ['E', 18],
]);
const DECIMAL_SUFFIX_BY_EXPONENT: ReadonlyMap<number, string> = new Map(
  [...DECIMAL_SUFFIXES].map(([suffix, exponent]) => [exponent, suffix]),
);
const BINARY_SUFFIXES: ReadonlyMap<string, number> = new Map([
  ['Ki', 10],
  ['Mi', 20],
  ['Gi', 30],
  ['Ti', 40],
  ['Pi', 50],
  ['Ei', 60],
]);
/** Index = number of factors of 1024; index 0 has no suffix in Go's table, so nothing is printed. */
const BINARY_SUFFIX_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** apimachinery `parseQuantityString`, character for character. */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;

  if (pos < end) {
    const first = str[0];
    if (first === '-') {
      positive = false;
      pos++;
    } else if (first === '+') {
      pos++;
    }
  }

  // Leading zeros are skipped; a string of only zeros (or only a sign) is zero.
  for (let i = pos; ; i++) {
    if (i >= end) return { positive, value: '0', num: '0', denom: '', suffix: '' };
    if (str[i] === '0') pos++;
    else break;
  }

  let num = '';
  let i = pos;
  for (; ; i++) {
    if (i >= end) return { positive, value: str, num: str.slice(pos), denom: '', suffix: '' };
    if (!isDigit(str.charCodeAt(i))) break;
  }
  num = str.slice(pos, i);
  pos = i;
  if (num.length === 0) num = '0';

  let denom = '';
  if (pos < end && str[pos] === '.') {
    pos++;
    let j = pos;
    for (; ; j++) {
      if (j >= end) return { positive, value: str, num, denom: str.slice(pos), suffix: '' };
      if (!isDigit(str.charCodeAt(j))) break;
    }
    denom = str.slice(pos, j);
    pos = j;
  }
  const value = str.slice(0, pos);

  const suffixStart = pos;
  for (let k = pos; ; k++) {
    if (k >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
    if (!'eEinumkKMGTP'.includes(str.charAt(k))) {
      pos = k;
      break;
    }
  }
  if (pos < end && (str[pos] === '-' || str[pos] === '+')) pos++;
  for (let k = pos; ; k++) {
    if (k >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
    if (!isDigit(str.charCodeAt(k))) break;
  }
  throw new QuantityError();
}

interface Interpreted {
  base: 2 | 10;
  exponent: number;
  format: Format;
}

/** apimachinery `suffixHandler.interpret`. */
function interpret(suffix: string): Interpreted {
  const decimal = DECIMAL_SUFFIXES.get(suffix);
  if (decimal !== undefined) return { base: 10, exponent: decimal, format: 'DecimalSI' };
  const binary = BINARY_SUFFIXES.get(suffix);
  if (binary !== undefined) return { base: 2, exponent: binary, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E')) {
    // Go's strconv.ParseInt(s, 10, 64): optional sign, then decimal digits only.
    const digits = suffix.slice(1);
    if (/^[+-]?[0-9]+$/.test(digits)) {
      const exponent = Number(digits);
      if (Math.abs(exponent) <= MAX_EXPONENT_MAGNITUDE) return { base: 10, exponent, format: 'DecimalExponent' };
    }
  }
  throw new QuantityError();
}

/** inf.Dec `SetString`: optional sign, digits with at most one point, at least one digit. */
function parseDecimal(text: string): { unscaled: bigint; scale: number } {
  const match = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (match === null || whole.length + fraction.length === 0) throw new QuantityError();
  const magnitude = BigInt(whole + fraction);
  return { unscaled: match[1] === '-' ? -magnitude : magnitude, scale: fraction.length };
}

function pow10(exponent: number): bigint {
  return 10n ** BigInt(exponent);
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value;
}

/**
 * apimachinery `CanonicalizeBytes` for the value `mantissa × 10^exponent`.
 */
function canonicalize(mantissa: bigint, exponent: number, format: Format): string {
  if (mantissa === 0n) return '0';

  let effective = format;
  let integer = 0n;
  if (effective === 'BinarySI') {
    // |value| < 1024, or not a whole number: shown as decimal so nothing is rounded.
    if (exponent >= 0) {
      integer = mantissa * pow10(exponent);
      if (abs(integer) < 1024n) effective = 'DecimalSI';
    } else {
      const divisor = pow10(-exponent);
      const whole = mantissa / divisor;
      if (mantissa % divisor !== 0n || abs(mantissa) < 1024n * divisor) effective = 'DecimalSI';
      else integer = whole;
    }
  }

  if (effective === 'BinarySI') {
    let power = 0;
    while (integer % 1024n === 0n) {
      integer /= 1024n;
      power++;
    }
    return `${integer}${BINARY_SUFFIX_BY_POWER[power] ?? ''}`;
  }

  // Move every factor of ten into the exponent, then lower the exponent to a multiple of three.
  let digits = mantissa;
  let tens = exponent;
  while (digits % 10n === 0n) {
    digits /= 10n;
    tens++;
  }
  const remainder = ((tens % 3) + 3) % 3;
  if (remainder !== 0) {
    digits *= pow10(remainder);
    tens -= remainder;
  }
  if (effective === 'DecimalExponent') return tens === 0 ? `${digits}` : `${digits}e${tens}`;
  return `${digits}${DECIMAL_SUFFIX_BY_EXPONENT.get(tens) ?? ''}`;
}

/**
 * The canonical text of a quantity (spec §6.4), or {@link QuantityError} for text Go refuses.
 */
export function canonicalQuantity(str: string): string {
  if (str.length === 0) throw new QuantityError();
  if (str === '0') return '0';

  const { positive, value, num, denom, suffix } = scan(str);
  const { base, exponent, format } = interpret(suffix);

  // Go's int64 fast path, including its reuse of already-canonical input text.
  let precision: number;
  let scale = 0;
  let multiplier = 1n;
  if (format === 'BinarySI') {
    if (exponent >= 0 && denom.length === 0) {
      multiplier = 1n << BigInt(exponent);
      precision = 15 - num.length - Math.trunc((exponent * 3) / 10) - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  }
  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= -9) {
      const shifted = num + denom;
      const parsed = BigInt(shifted);
      let result = parsed * multiplier;
      if (result <= INT64_MAX && result >= INT64_MIN) {
        if (!positive) result = -result;
        if (format === 'BinarySI') {
          if (exponent % 10 === 0 && (parsed & 7n) !== 0n) return str;
        } else if (scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0') {
          return str;
        }
        return canonicalize(result, scale, format);
      }
    }
  }

  // Go's arbitrary-precision path.
  const decimal = parseDecimal(value);
  let unscaled = decimal.unscaled;
  let decimalScale = decimal.scale;
  if (base === 10) decimalScale -= exponent;
  else unscaled *= 1n << BigInt(exponent);

  const negative = unscaled < 0n;
  if (negative) unscaled = -unscaled;
  // Round non-zero values up (away from zero) to a multiple of 10^-9.
  if (unscaled !== 0n && decimalScale > 9) {
    const divisor = pow10(decimalScale - 9);
    unscaled = (unscaled + divisor - 1n) / divisor;
    decimalScale = 9;
  }
  let effective: Format = format;
  if (format === 'BinarySI') {
    if (decimalScale <= 0 ? unscaled * pow10(-decimalScale) > INT64_MAX : unscaled > INT64_MAX * pow10(decimalScale)) {
      unscaled = INT64_MAX;
      decimalScale = 0;
    }
    const one = decimalScale <= 0 ? 1n : pow10(decimalScale);
    const compared = decimalScale <= 0 ? unscaled * pow10(-decimalScale) : unscaled;
    if (compared < one && unscaled > 0n) effective = 'DecimalSI';
  }
  if (negative) unscaled = -unscaled;
  return canonicalize(unscaled, -decimalScale, effective);
}
