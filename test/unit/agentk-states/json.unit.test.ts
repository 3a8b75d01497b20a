/** Byte-order comparison and deep sort (§3.1), Ruby blank (§1.2), and error path formatting. */
import { describe, expect, it } from 'vitest';

import { compareBytes, deepSortKeys, formatPath, isRubyBlank, setOwn } from '../../../projections/agentk-states/json.js';

describe('compareBytes (§3.1 byte order)', () => {
  it('orders ASCII as bytes: upper case before lower case, shorter prefix first', () => {
    expect(['b', 'a', 'B', 'ab', 'A'].sort(compareBytes)).toEqual(['A', 'B', 'a', 'ab', 'b']);
  });

  it('orders astral characters after U+FFFD, as their UTF-8 bytes do (UTF-16 order would not)', () => {
    expect(['😀', '\ufffd'].sort(compareBytes)).toEqual(['\ufffd', '😀']);
  });
});

describe('deepSortKeys', () => {
  it('sorts keys at every depth, inside arrays too, keeping array order', () => {
    const sorted = deepSortKeys({ b: 1, a: [{ d: 1, c: 2 }, 3] });
    expect(JSON.stringify(sorted)).toBe('{"a":[{"c":2,"d":1},3],"b":1}');
  });
});

describe('isRubyBlank (ActiveSupport blank?)', () => {
  it('is true for empty and whitespace-only text, Unicode spaces included', () => {
    expect(isRubyBlank('')).toBe(true);
    expect(isRubyBlank(' \t\n')).toBe(true);
    expect(isRubyBlank('\u00a0\u3000')).toBe(true);
    expect(isRubyBlank(' x ')).toBe(false);
  });
});

describe('formatPath', () => {
  it('writes indexes in brackets, identifier keys with dots, other keys quoted', () => {
    expect(formatPath(['components', 2, 'container', 'memoryLimit'])).toBe('components[2].container.memoryLimit');
    expect(formatPath(['events', 'postStart', 1])).toBe('events.postStart[1]');
    expect(formatPath(['labels', 'team'])).toBe('labels.team');
    expect(formatPath(['labels', 'app.kubernetes.io/name'])).toBe('labels["app.kubernetes.io/name"]');
    expect(formatPath(['components', 0, 'attributes', 'gl/inject-editor'])).toBe('components[0].attributes["gl/inject-editor"]');
  });
});

describe('setOwn', () => {
  it('adds a __proto__ key as data, without touching the prototype', () => {
    const target: Record<string, string> = {};
    setOwn(target, '__proto__', 'x');
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect(Object.keys(target)).toEqual(['__proto__']);
  });
});
