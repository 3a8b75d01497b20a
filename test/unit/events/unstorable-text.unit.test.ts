import { describe, expect, it } from 'vitest';
import { decodeUtf8, findUnstorableText } from '../../../src/events/codec/util.js';
import { storableText } from '../../../src/sink/postgres/dead-letters.js';

describe('strict UTF-8', () => {
  it('decodes valid UTF-8, emoji and combining marks included', () => {
    expect(decodeUtf8(Buffer.from('a🚀é'), 'the value')).toEqual({ ok: true, text: 'a🚀é' });
  });

  it.each([
    ['a lone continuation byte', [0x61, 0x62, 0x80, 0x63], 2],
    ['an overlong slash', [0x61, 0xc0, 0xaf], 1],
    ['an encoded surrogate', [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22], 2],
    ['a truncated 3-byte sequence at the end', [0x61, 0x62, 0x63, 0xe2, 0x82], 3],
    ['0xff after a complete 4-byte emoji', [...Buffer.from('🚀'), 0xff], 4],
  ])('rejects %s, naming the byte where it starts', (_name, bytes, at) => {
    expect(decodeUtf8(Buffer.from(bytes), 'the value')).toEqual({
      ok: false,
      failure: { reason: 'invalid_utf8', detail: `the value is not valid UTF-8 at byte ${at}` },
    });
  });
});

describe('text PostgreSQL cannot store', () => {
  it('finds NUL and lone surrogates in values and keys, with the field path', () => {
    expect(findUnstorableText({ a: { b: ['ok', 'x\u0000'] } })).toMatchObject({ reason: 'unstorable_text', path: 'a.b[1]', detail: expect.stringContaining('U+0000 (NUL) at character 1') });
    expect(findUnstorableText({ 'k\ud800': 1 })).toMatchObject({ reason: 'unstorable_text', path: 'k\ud800', detail: expect.stringContaining('lone surrogate U+D800') });
    expect(findUnstorableText({ a: 'y\udc00' })).toMatchObject({ path: 'a' });
    expect(findUnstorableText('\u0000')).toMatchObject({ path: '(root)' });
  });

  it('reports the first offending field in document order', () => {
    expect(findUnstorableText({ first: 'a\u0000', second: 'b\u0000' })?.path).toBe('first');
  });

  it('accepts valid text: surrogate pairs, RTL, combining marks, and U+FFFD unless the decoder was lossy', () => {
    expect(findUnstorableText({ name: '🚀 مساحة cafe\u0301 \ufffd' })).toBeUndefined();
    expect(findUnstorableText({ name: 'a\ufffd' }, true)).toMatchObject({ reason: 'invalid_utf8', path: 'name' });
  });

  it('walks 100,000 levels of nesting without overflowing the stack, in linear time', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}"\\u0000"${']'.repeat(100_000)}`) as unknown;
    const started = performance.now();
    expect(findUnstorableText(deep)?.reason).toBe('unstorable_text');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('escapes NUL and lone surrogates for the dead-letter table, keeping valid pairs', () => {
    expect(storableText('a\u0000b\ud800c\udc00🚀')).toBe('a\\u0000b\\ud800c\\udc00🚀');
    expect(storableText(null)).toBeNull();
  });
});
