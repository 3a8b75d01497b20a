/** jsonb-digest.ts prints values exactly as PostgreSQL's `jsonb::text` does (checked against the server). */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jsonbDigest, jsonbText } from '../../projections/agentk-states/jsonb-digest.js';
import type { JsonValue } from '../../projections/agentk-states/inputs.js';

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await client.connect();
});
afterAll(() => client.end());

const printable: [string, JsonValue][] = [
  ['keys of different lengths and cases', { bb: 1, a: 2, B: 3, aaa: 4, ab: [1, 2, { z: null, y: true, x: false }] }],
  ['non-ASCII keys (UTF-8 length, then bytes)', { é: 1, z: 2, 日本: 3, ab: 4, '😀': 5, 'é1': 6 }],
  ['strings with escapes', ['quote " backslash \\ slash /', 'nl\n tab\t cr\r bs\b ff\f', '\u0001\u001f\u007f', '\u2028\u2029', 'é 日本 😀']],
  ['numbers', [0, -0, 1, -17, 0.5, 123.456, 9007199254740991, -9007199254740991, 1e20, 0.000001]],
  ['empty containers', { a: [], b: {}, c: [[]], d: [{}] }],
  ['a scalar', 'just a string'],
];

describe('jsonbText / jsonbDigest', () => {
  it.each(printable)('prints %s as jsonb::text does', async (_, value) => {
    const { rows } = await client.query<{ text: string; digest: string }>('SELECT $1::jsonb::text AS text, md5($1::jsonb::text) AS digest', [JSON.stringify(value)]);
    expect(jsonbText(value)).toBe(rows[0]!.text);
    expect(jsonbDigest(value)).toBe(rows[0]!.digest);
  });

  it('gives no digest for a number JavaScript prints with an exponent (PostgreSQL prints it in full)', async () => {
    for (const value of [1e21, 5e-7, [1, { a: 2e-9 }]] as JsonValue[]) {
      const { rows } = await client.query<{ text: string }>('SELECT $1::jsonb::text AS text', [JSON.stringify(value)]);
      expect(rows[0]!.text).not.toContain('e');
      expect(jsonbDigest(value)).toBeUndefined();
    }
  });
});
