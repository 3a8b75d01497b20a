/**
 * A YAML reader that accepts what both of GitLab's readers of the processed devfile accept (spec §1.4):
 * the Go devfile library (go-yaml v2, YAML 1.1 plain scalars) and Ruby's `YAML.safe_load`.
 *
 * - Plain scalars resolve the YAML 1.1 way where js-yaml's 1.2 core schema differs: `yes`/`no`/`on`/`off`/
 *   `y`/`n` are booleans and `0755` is octal. A devfile with `value: yes` therefore fails the string check,
 *   as it fails GitLab's JSON-schema validation of the Go-decoded document.
 * - Aliases are refused (Ruby: `Psych::BadAlias`). Anchors alone are fine, as in Ruby.
 * - Duplicate mapping keys: the last one wins, as in both of GitLab's readers.
 * - Non-JSON scalars are refused: plain timestamps (Ruby: `Date`/`Time`, disallowed classes), plain
 *   `:symbols` (Ruby: `Symbol`), `.inf`/`.nan`, and every explicit tag outside str/int/float/bool/null/
 *   seq/map (`!!binary`, `!!timestamp`, `!!set`, `!ruby/object`, …), which js-yaml reports as unknown.
 *
 * js-yaml has no option to refuse aliases. Every alias lookup goes through the loader state's
 * `anchorMap` (`hasOwnProperty.call(anchorMap, name)`), so the `listener` hook swaps that map for a proxy
 * whose lookup trap throws. Anchor *definitions* only write to the map and pass. The unit tests pin this
 * behaviour, so a js-yaml upgrade that changes the internals fails loudly instead of letting aliases in.
 */
import { FAILSAFE_SCHEMA, load, Type, YAMLException, type State } from 'js-yaml';

/** Why a document was refused; `path` locates the refused value in the document when it can be found. */
export class YamlRefusal extends Error {
  override readonly name = 'YamlRefusal';
  constructor(
    message: string,
    readonly path: ReadonlyArray<string | number> | undefined = undefined,
  ) {
    super(message);
  }
}

/**
 * Stands in for a refused scalar while js-yaml builds the document, so the refusal can name the value's
 * path afterwards (js-yaml itself only knows lines).
 */
class RefusedScalar {
  constructor(
    readonly reason: string,
    readonly text: string,
  ) {}
}

/*
 * Implicit scalar types, written out (js-yaml's own are not in its typings). They follow go-yaml v2, the
 * reader that validates the devfile first: YAML 1.1 booleans, octal `0755`, `_` separators in numbers.
 */
// The resolvers below test a length first: a Set lookup hashes the whole scalar, and most are long.
const NULL_FORMS = new Set(['~', 'null', 'Null', 'NULL', '']);
const yamlNull = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (data: unknown) => data === null || (typeof data === 'string' && data.length <= 4 && NULL_FORMS.has(data)),
  construct: () => null,
});

/** YAML 1.1 booleans as go-yaml v2 resolves them (Psych agrees except for `y`/`n`, which it never emits unquoted). */
const YAML11_TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const YAML11_FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
const yamlBool = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && data.length <= 5 && (YAML11_TRUE.has(data) || YAML11_FALSE.has(data)),
  construct: (data: string) => YAML11_TRUE.has(data),
});

/** Integers; `0755` is YAML 1.1 octal (js-yaml's 1.2 reading would be decimal 755). */
const INT_FORMS: ReadonlyArray<readonly [RegExp, number]> = [
  [/^[-+]?0b[01_]+$/, 2],
  [/^[-+]?0x[0-9a-fA-F_]+$/, 16],
  [/^[-+]?0o[0-7_]+$/, 8],
  [/^[-+]?0[0-7_]+$/, 8],
  [/^[-+]?[0-9][0-9_]*$/, 10],
];
/**
 * Whether `data` can be a number or a date: each of those forms starts with a sign, a dot or a digit. Most
 * plain scalars of a devfile are names and images; this one test spares them every pattern below.
 */
function mayBeNumeric(data: string): boolean {
  const c = data.charCodeAt(0);
  return (c >= 48 && c <= 57) || c === 45 /* - */ || c === 43 /* + */ || c === 46 /* . */;
}

function intForm(data: string): number | undefined {
  if (!mayBeNumeric(data)) return undefined;
  // At least one digit after any radix prefix: `0x` or `0b_` alone are not numbers.
  const hasDigits = /[0-9a-fA-F]/.test(data.replace(/^[-+]?0[box]/, ''));
  for (const [pattern, radix] of INT_FORMS) if (hasDigits && pattern.test(data)) return radix;
  return undefined;
}
const yamlInt = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && intForm(data) !== undefined,
  construct: (data: string): number => {
    const radix = intForm(data) ?? 10;
    const sign = data.startsWith('-') ? -1 : 1;
    let digits = data.replace(/_/g, '').replace(/^[-+]/, '');
    if (radix !== 10) digits = digits.replace(/^0[box]?/, '');
    return sign * (digits === '' ? 0 : parseInt(digits, radix));
  },
});

/** Floats, including `.inf`/`.nan` so that the listener can refuse them by value. */
const FLOAT = /^[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INFINITY = /^[-+]?\.(?:inf|Inf|INF)$/;
const NAN = /^\.(?:nan|NaN|NAN)$/;
const yamlFloat = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && mayBeNumeric(data) && (FLOAT.test(data) || INFINITY.test(data) || NAN.test(data)),
  construct: (data: string): number | RefusedScalar => {
    if (NAN.test(data) || INFINITY.test(data)) return new RefusedScalar('.inf and .nan are not JSON numbers', data);
    return Number(data.replace(/_/g, ''));
  },
});

/** `<<` merge keys, handled by js-yaml's loader when a key carries this tag (go-yaml and Psych merge too). */
const yamlMerge = new Type('tag:yaml.org,2002:merge', {
  kind: 'scalar',
  resolve: (data: unknown) => data === '<<' || data === null,
});

const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';
const SYMBOL_TAG = 'tag:gitlab.invalid,2024:ruby-symbol';
/** Psych's `ScalarScanner` DATE and TIME patterns: plain scalars Ruby turns into Date/Time. */
const RUBY_DATE = /^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$/;
const RUBY_TIME = /^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|[ \t\r\n\f\v]+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:[ \t\r\n\f\v]*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$/;
const refusedTimestamp = new Type(TIMESTAMP_TAG, {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && mayBeNumeric(data) && (RUBY_DATE.test(data) || RUBY_TIME.test(data)),
  construct: (data: string) => new RefusedScalar('dates and times are not allowed, quote the value', data),
});
/** Psych turns a plain `:name` into a Symbol, which `safe_load` refuses. */
const refusedSymbol = new Type(SYMBOL_TAG, {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && /^:./.test(data) && !data.includes('\n'),
  construct: (data: string) =>
    new RefusedScalar("a plain scalar starting with ':' is a Ruby symbol, quote the value", data),
});

const SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [yamlNull, yamlBool, yamlInt, yamlFloat, yamlMerge, refusedTimestamp, refusedSymbol],
});

/** The loader fields js-yaml's typings leave out; read only inside the listener. */
interface LoaderState extends State {
  anchorMap: object;
}

/** Depth-first, document order: the path of the first refused scalar, if it sits in a value position. */
function pathOf(value: unknown, target: RefusedScalar, path: Array<string | number>): Array<string | number> | undefined {
  if (value === target) return path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = pathOf(value[i], target, [...path, i]);
      if (found) return found;
    }
  } else if (typeof value === 'object' && value !== null && !(value instanceof RefusedScalar)) {
    for (const [key, child] of Object.entries(value)) {
      const found = pathOf(child, target, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Parses one YAML document into JSON values, or throws {@link YamlRefusal} / js-yaml's `YAMLException`.
 */
export function loadSafeYaml(text: string): unknown {
  const guarded = new WeakSet<object>();
  let line = 0;
  let refused: { scalar: RefusedScalar; line: number } | undefined;

  const listener = (event: 'open' | 'close', state: State): void => {
    const loader = state as LoaderState;
    line = state.line + 1;
    if (event === 'close') {
      if (refused === undefined && loader.result instanceof RefusedScalar) refused = { scalar: loader.result, line };
      return;
    }
    if (guarded.has(loader.anchorMap)) return;
    if (typeof loader.anchorMap !== 'object' || loader.anchorMap === null) {
      // Fail closed if js-yaml's internals ever change shape.
      throw new YamlRefusal('the YAML reader cannot check aliases (unexpected js-yaml internals)');
    }
    const refuse = (name: string | symbol): never => {
      throw new YamlRefusal(`aliases are not allowed: *${String(name)} (line ${line})`);
    };
    const proxy = new Proxy(loader.anchorMap, {
      // Anchor definitions write straight to the real map (a default [[Set]] would consult the trap below).
      set: (target, name, value) => Reflect.set(target, name, value),
      getOwnPropertyDescriptor: (_target, name) => refuse(name),
      get: (_target, name) => refuse(name),
    });
    guarded.add(proxy);
    loader.anchorMap = proxy;
  };

  // `json: true` only changes duplicate keys: the last one wins, as in go-yaml v2 and Psych, not an error.
  const document = load(text, { schema: SCHEMA, listener, json: true });
  if (refused !== undefined) {
    const { scalar } = refused;
    // A refused mapping key has been turned into text by js-yaml and has no path: the line still locates it.
    const path = pathOf(document, scalar, []);
    throw new YamlRefusal(`${scalar.reason}: ${scalar.text} (line ${refused.line})`, path);
  }
  return document;
}

export { YAMLException };
