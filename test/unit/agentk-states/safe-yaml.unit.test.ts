/**
 * The YAML reader of spec §1.4: YAML 1.1 plain scalars where it matters, aliases and non-JSON scalars
 * refused, string values exactly as YAML defines them.
 */
import { describe, expect, it } from 'vitest';

import { loadSafeYaml, YamlRefusal, YAMLException } from '../../../projections/agentk-states/safe-yaml.js';

function refusal(text: string): YamlRefusal {
  try {
    loadSafeYaml(text);
  } catch (error) {
    if (error instanceof YamlRefusal) return error;
    throw error;
  }
  throw new Error('expected a YamlRefusal');
}

describe('aliases (refused, as Ruby safe_load refuses them)', () => {
  it('refuses an alias to a mapping, naming it', () => {
    const error = refusal('base: &b {a: 1}\ncopy: *b\n');
    expect(error.message).toMatch(/alias/);
    expect(error.message).toContain('*b');
  });

  it('refuses an alias to a scalar, in a sequence, and as a merge source', () => {
    expect(() => loadSafeYaml('a: &x 1\nb: [*x]\n')).toThrow(YamlRefusal);
    expect(() => loadSafeYaml('a: &x {k: 1}\nb:\n  <<: *x\n')).toThrow(YamlRefusal);
  });

  it('refuses an alias used as a mapping key', () => {
    expect(() => loadSafeYaml('a: &k key\n*k : 1\n')).toThrow(YamlRefusal);
  });

  it('refuses an alias to an undefined anchor as an alias, not as a syntax error', () => {
    expect(() => loadSafeYaml('a: *nowhere\n')).toThrow(YamlRefusal);
  });

  it('accepts anchors that no alias uses', () => {
    expect(loadSafeYaml('a: &x 1\nb: &y {c: 2}\n')).toEqual({ a: 1, b: { c: 2 } });
  });

  it('checks every document load afresh (the guard is per call)', () => {
    expect(loadSafeYaml('a: &x 1\n')).toEqual({ a: 1 });
    expect(() => loadSafeYaml('a: &x 1\nb: *x\n')).toThrow(YamlRefusal);
    expect(loadSafeYaml('a: &x 2\n')).toEqual({ a: 2 });
  });
});

describe('non-JSON scalars (refused)', () => {
  it('refuses an unquoted date and says where it is', () => {
    const error = refusal('a:\n  - x\n  - 2024-01-01\n');
    expect(error.message).toContain('2024-01-01');
    expect(error.path).toEqual(['a', 1]);
  });

  it('refuses unquoted timestamps in the forms a safe loader turns into times', () => {
    expect(() => loadSafeYaml('a: 2024-01-01T10:00:00Z\n')).toThrow(YamlRefusal);
    expect(() => loadSafeYaml('a: 2024-1-2 10:00:00\n')).toThrow(YamlRefusal);
  });

  it('accepts quoted dates as strings', () => {
    expect(loadSafeYaml("a: '2024-01-01'\nb: \"2024-01-01\"\n")).toEqual({ a: '2024-01-01', b: '2024-01-01' });
  });

  it('refuses explicit !!binary, !!timestamp, !!set and language-specific tags', () => {
    for (const text of ['a: !!binary aGVsbG8=\n', 'a: !!timestamp 2024-01-01\n', 'a: !!set {x: null}\n', 'a: !ruby/object {}\n']) {
      expect(() => loadSafeYaml(text), text).toThrow(/unknown tag|not allowed/);
    }
  });

  it('refuses plain :symbols, .inf and .nan', () => {
    expect(() => loadSafeYaml('a: :sym\n')).toThrow(YamlRefusal);
    expect(() => loadSafeYaml('a: .inf\n')).toThrow(YamlRefusal);
    expect(() => loadSafeYaml('a: -.Inf\n')).toThrow(YamlRefusal);
    expect(() => loadSafeYaml('a: .nan\n')).toThrow(YamlRefusal);
    expect(loadSafeYaml("a: ':sym'\n")).toEqual({ a: ':sym' });
  });
});

describe('plain scalars, resolved as YAML 1.1 where GitLab-generated devfiles could differ', () => {
  it('reads yes/no/on/off/y/n as booleans, and quoted ones as strings', () => {
    expect(loadSafeYaml('a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: true\n')).toEqual({
      a: true,
      b: false,
      c: true,
      d: false,
      e: true,
      f: false,
      g: true,
    });
    expect(loadSafeYaml("a: 'yes'\nb: 'false'\nc: '60001'\n")).toEqual({ a: 'yes', b: 'false', c: '60001' });
  });

  it('reads integers in decimal, hex, binary and YAML 1.1 octal, and floats', () => {
    expect(loadSafeYaml('a: 60001\nb: 0x1F\nc: 0b101\nd: 0755\ne: 1_000\nf: 1.5\ng: 1e3\nh: -7\n')).toEqual({
      a: 60001,
      b: 31,
      c: 5,
      d: 493,
      e: 1000,
      f: 1.5,
      g: 1000,
      h: -7,
    });
  });

  it('reads ~, null and empty values as null', () => {
    expect(loadSafeYaml('a: ~\nb: null\nc:\n')).toEqual({ a: null, b: null, c: null });
  });

  it('merges << mappings that are written inline', () => {
    expect(loadSafeYaml('a:\n  <<: {x: 1, z: 2}\n  z: 3\n')).toEqual({ a: { x: 1, z: 3 } });
  });

  it('resolves a plain key like y or on as a YAML 1.1 boolean too, as go-yaml v2 does', () => {
    expect(loadSafeYaml('y: 1\noff: 2\n')).toEqual({ true: 1, false: 2 });
  });
});

describe('strings exactly as YAML defines them (§1.4)', () => {
  it("folds a single-quoted scalar with an empty line as GitLab's fixture expects", () => {
    const text = "args:\n- 'tail -f /dev/null\n\n  '\n";
    expect(loadSafeYaml(text)).toEqual({ args: ['tail -f /dev/null\n'] });
  });

  it('keeps literal blocks with their final newline', () => {
    expect(loadSafeYaml('a: |\n  line 1\n  line 2\n')).toEqual({ a: 'line 1\nline 2\n' });
  });

  it('accepts a leading --- and an indented top-level mapping', () => {
    expect(loadSafeYaml('---\n  a: 1\n  b:\n    - c\n')).toEqual({ a: 1, b: ['c'] });
  });
});

describe('duplicate keys', () => {
  it('keep the last value, as go-yaml v2 and Psych do', () => {
    expect(loadSafeYaml('a: 1\nb: 2\na: 3\n')).toEqual({ a: 3, b: 2 });
  });
});

describe('syntax errors', () => {
  it("are js-yaml's YAMLException, with a position", () => {
    expect(() => loadSafeYaml('a: [unclosed\n')).toThrow(YAMLException);
  });

  it('refuse a second document', () => {
    expect(() => loadSafeYaml('a: 1\n---\nb: 2\n')).toThrow(YAMLException);
  });
});
