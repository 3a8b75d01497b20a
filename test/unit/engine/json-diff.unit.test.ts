import { describe, expect, it } from 'vitest';
import { jsonDiff, jsonEqual } from '../../../src/engine/diff/json-diff.js';

describe('jsonDiff (where two JSON values differ)', () => {
  it('finds nothing between equal values whose object keys come in another order', () => {
    const a = { kind: 'Deployment', metadata: { name: 'w', labels: { a: '1', b: '2' } }, spec: { replicas: 1 } };
    const b = { spec: { replicas: 1 }, metadata: { labels: { b: '2', a: '1' }, name: 'w' }, kind: 'Deployment' };
    expect(jsonDiff(a, b)).toEqual({ paths: [], total: 0 });
    expect(jsonEqual(a, b)).toBe(true);
  });

  it('names a changed scalar inside an array element by index and key, under the root name', () => {
    const expected = [{ kind: 'ConfigMap' }, { kind: 'Deployment', spec: { replicas: 1 } }];
    const actual = [{ kind: 'ConfigMap' }, { kind: 'Deployment', spec: { replicas: 0 } }];
    expect(jsonDiff(expected, actual, { root: 'desired_config' })).toEqual({ paths: ['desired_config[1].spec.replicas'], total: 1 });
  });

  it('names keys on one side only: the expected side first, then the actual side', () => {
    expect(jsonDiff({ a: 1, b: 2 }, { b: 2, c: 3 })).toEqual({ paths: ['a', 'c'], total: 2 });
  });

  it('quotes keys that are not identifiers', () => {
    const expected = { metadata: { labels: { 'agent.gitlab.com/id': '1' } } };
    const actual = { metadata: { labels: { 'agent.gitlab.com/id': '2' } } };
    expect(jsonDiff(expected, actual).paths).toEqual(['metadata.labels["agent.gitlab.com/id"]']);
  });

  it('names each index past the end of the shorter array', () => {
    expect(jsonDiff([1, 2, 3, 4], [1, 2], { root: 'x' })).toEqual({ paths: ['x[2]', 'x[3]'], total: 2 });
    expect(jsonDiff([1], [1, { a: 1 }], { root: 'x' })).toEqual({ paths: ['x[1]'], total: 1 });
  });

  it('treats a change of type as one difference at that path, without descending', () => {
    expect(jsonDiff({ a: [1, 2] }, { a: { 0: 1, 1: 2 } })).toEqual({ paths: ['a'], total: 1 });
    expect(jsonDiff({ a: null }, { a: {} })).toEqual({ paths: ['a'], total: 1 });
    expect(jsonDiff({ a: '1' }, { a: 1 })).toEqual({ paths: ['a'], total: 1 });
    expect(jsonDiff({ a: false }, { a: 0 })).toEqual({ paths: ['a'], total: 1 });
  });

  it('compares whole scalars and names the root when there is nothing to descend into', () => {
    expect(jsonDiff(1, 2)).toEqual({ paths: ['(root)'], total: 1 });
    expect(jsonDiff('x', 'x')).toEqual({ paths: [], total: 0 });
    expect(jsonDiff(1, 2, { root: 'project_id' })).toEqual({ paths: ['project_id'], total: 1 });
  });

  it('keeps at most maxPaths paths but counts every difference', () => {
    const expected = { a: 1, b: 2, c: 3, d: 4, e: 5 };
    const actual = { a: 0, b: 0, c: 0, d: 0, e: 0 };
    expect(jsonDiff(expected, actual, { maxPaths: 2 })).toEqual({ paths: ['a', 'b'], total: 5 });
    expect(jsonDiff(expected, actual).paths).toHaveLength(5);
    expect(jsonEqual(expected, actual)).toBe(false);
  });

  it('keeps ten paths by default', () => {
    const expected = Array.from({ length: 12 }, (_, i) => i);
    expect(jsonDiff(expected, [], { root: 'r' })).toEqual({ paths: Array.from({ length: 10 }, (_, i) => `r[${i}]`), total: 12 });
  });
});
