/**
 * Ruby `inspect` of symbol-keyed hashes and the max-resources sha256 (spec §3.1, §3.2). Texts and digests
 * are the spec's.
 */
import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  maxResourcesInspectText,
  maxResourcesSha256,
} from '../../../projections/agentk-states/max-resources-digest.js';
import { rubyInspect, rubyStringInspect, rubySymbolInspect } from '../../../projections/agentk-states/ruby-inspect.js';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('the max-resources sha256 (§3.2)', () => {
  it('is 44136fa3… for an empty mapping, the sha256 of the text {}', () => {
    expect(maxResourcesInspectText({})).toBe('{}');
    expect(sha256('{}')).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    expect(maxResourcesSha256({})).toBe('44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it("hashes the deep-sorted text of the spec's example, in any key order", () => {
    const text = '{:limits=>{:cpu=>"2", :memory=>"4Gi"}, :requests=>{:cpu=>"1", :memory=>"1Gi"}}';
    const asGiven = { requests: { memory: '1Gi', cpu: '1' }, limits: { memory: '4Gi', cpu: '2' } };
    const asJsonb = { limits: { cpu: '2', memory: '4Gi' }, requests: { cpu: '1', memory: '1Gi' } };

    expect(maxResourcesInspectText(asGiven)).toBe(text);
    expect(maxResourcesInspectText(asJsonb)).toBe(text);
    expect(maxResourcesSha256(asGiven)).toBe('06879e20c353a4d871fb360635f6a87483987d44953ac6384af0451e8faa47ca');
    expect(maxResourcesSha256(asJsonb)).toBe('06879e20c353a4d871fb360635f6a87483987d44953ac6384af0451e8faa47ca');
  });

  it('never produces the retired shallow-sorted digest 24aefc31…', () => {
    const shallow = '{:limits=>{:memory=>"4Gi", :cpu=>"2"}, :requests=>{:memory=>"1Gi", :cpu=>"1"}}';
    // rubyInspect keeps key order as given, so this is the shallow text and its digest.
    expect(rubyInspect({ limits: { memory: '4Gi', cpu: '2' }, requests: { memory: '1Gi', cpu: '1' } })).toBe(shallow);
    expect(sha256(shallow)).toBe('24aefc317e11db538ede450d1773e273966b9801b988d49e1219f2a9bf8e7f66');
    expect(maxResourcesSha256({ requests: { memory: '1Gi', cpu: '1' }, limits: { memory: '4Gi', cpu: '2' } })).not.toBe(
      '24aefc317e11db538ede450d1773e273966b9801b988d49e1219f2a9bf8e7f66',
    );
  });

  it('sorts nested keys in byte order, including mappings inside arrays', () => {
    expect(maxResourcesInspectText({ b: [{ z: 1, a: 2 }], a: { B: 1, a: 2 } })).toBe('{:a=>{:B=>1, :a=>2}, :b=>[{:a=>2, :z=>1}]}');
  });
});

describe('rubyInspect (§3.2 rendering rules)', () => {
  it('writes plain identifier keys bare and other keys as quoted strings', () => {
    expect(rubyInspect({ limits: {} })).toBe('{:limits=>{}}');
    expect(rubyInspect({ 'limits.cpu': '1' })).toBe('{:"limits.cpu"=>"1"}');
    expect(rubySymbolInspect('valid?')).toBe(':valid?');
    expect(rubySymbolInspect('save!')).toBe(':save!');
    expect(rubySymbolInspect('_x1')).toBe(':_x1');
    expect(rubySymbolInspect('1cpu')).toBe(':"1cpu"');
    expect(rubySymbolInspect('a-b')).toBe(':"a-b"');
    expect(rubySymbolInspect('')).toBe(':""');
  });

  it('quotes strings, escaping " and \\, newline, tab, and # before {, $ or @', () => {
    expect(rubyStringInspect('4Gi')).toBe('"4Gi"');
    expect(rubyStringInspect('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(rubyStringInspect('line\nnext\tcol')).toBe('"line\\nnext\\tcol"');
    expect(rubyStringInspect('#{x} #$y #@z #plain')).toBe('"\\#{x} \\#$y \\#@z #plain"');
  });

  it('writes integers in decimal, true, false, nil, and arrays joined by ", "', () => {
    expect(rubyInspect({ a: 2, b: true, c: false, d: null, e: [1, 'x', []] })).toBe(
      '{:a=>2, :b=>true, :c=>false, :d=>nil, :e=>[1, "x", []]}',
    );
  });
});
