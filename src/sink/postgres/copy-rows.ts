/**
 * Bulk writes with `COPY … FROM STDIN (FORMAT binary)`: no SQL text to parse, no escaping of kilobytes of
 * JSON per row, and one round trip per batch. Binary pays here because the rows are ids and jsonb, whose
 * binary form is a version byte and the JSON text as it is: encoding costs a copy, not an escape pass.
 *
 * The embedded PostgreSQL (PGlite) has no COPY FROM STDIN; on it the same rows go through one INSERT from
 * arrays, which is slower but the same in effect.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Session } from './database.js';

/**
 * The column types copyRows can encode: a bigint (a safe integer), jsonb (its JSON text), text, a boolean (0
 * or 1), or a timestamptz (microseconds since 2000-01-01 UTC, PostgreSQL's own epoch: see postgresNow).
 */
export type CopyType = 'bigint' | 'jsonb' | 'text' | 'boolean' | 'timestamptz';
export type CopyValue = number | string;

export interface CopyColumn {
  name: string;
  type: CopyType;
}

/** How the INSERT fallback passes each type: as an array parameter, turned into the column's value. */
const ARRAY_PARAMETER: Record<CopyType, string> = { bigint: 'bigint', jsonb: 'text', text: 'text', boolean: 'int', timestamptz: 'bigint' };
const VALUE_OF: Record<CopyType, (expr: string) => string> = {
  bigint: (e) => e,
  jsonb: (e) => `${e}::jsonb`,
  text: (e) => e,
  boolean: (e) => `${e} <> 0`,
  timestamptz: (e) => `timestamptz '2000-01-01 00:00:00+00' + ${e} * interval '1 microsecond'`,
};

/** The transaction's `now()` in microseconds since 2000-01-01 UTC, for a timestamptz column. */
export async function postgresNow(client: Session): Promise<number> {
  const { rows } = await client.query<{ us: string }>(`SELECT ((extract(epoch FROM now()) - 946684800) * 1000000)::bigint::text AS us`);
  return Number(rows[0]!.us);
}

/** `PGCOPY\n\377\r\n\0`, then flags and header extension length (both 0). */
const HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
const TRAILER = Buffer.from([0xff, 0xff]);
const JSONB_VERSION = 1;

/** Appends `rows` (values in `columns` order) to `table`, in the caller's transaction. */
export async function copyRows(client: Session, table: string, columns: readonly CopyColumn[], rows: readonly (readonly CopyValue[])[]): Promise<void> {
  if (rows.length === 0) return;
  const names = columns.map((c) => c.name).join(', ');
  if (!(client instanceof pg.Client)) {
    const casts = columns.map((c, i) => `$${i + 1}::${ARRAY_PARAMETER[c.type]}[]`).join(', ');
    const select = columns.map((c, i) => VALUE_OF[c.type](`c${i}`)).join(', ');
    await client.query(
      `INSERT INTO ${table} (${names}) SELECT ${select} FROM unnest(${casts}) AS t(${columns.map((_, i) => `c${i}`).join(', ')})`,
      columns.map((_, i) => rows.map((row) => row[i])),
    );
    return;
  }
  const stream = client.query(copyFrom(`COPY ${table} (${names}) FROM STDIN (FORMAT binary)`));
  await pipeline(Readable.from(encodeRows(columns, rows)), stream);
}

/** The binary COPY stream in chunks of about a megabyte. */
function* encodeRows(columns: readonly CopyColumn[], rows: readonly (readonly CopyValue[])[]): Generator<Buffer> {
  const chunk: Buffer[] = [HEADER];
  let size = HEADER.length;
  for (const row of rows) {
    const count = Buffer.allocUnsafe(2);
    count.writeInt16BE(columns.length);
    chunk.push(count);
    size += 2;
    columns.forEach((column, i) => {
      const field = encodeField(column, row[i]!);
      chunk.push(field);
      size += field.length;
    });
    if (size >= 1 << 20) {
      yield Buffer.concat(chunk);
      chunk.length = 0;
      size = 0;
    }
  }
  chunk.push(TRAILER);
  yield Buffer.concat(chunk);
}

/** One field: its length (int32), then its bytes. */
function encodeField(column: CopyColumn, value: CopyValue): Buffer {
  if (column.type === 'boolean') return Buffer.from([0, 0, 0, 1, value ? 1 : 0]);
  if (column.type === 'bigint' || column.type === 'timestamptz') {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new TypeError(`copyRows: ${column.name} must be a safe integer, got ${String(value)}`);
    const field = Buffer.allocUnsafe(12);
    field.writeInt32BE(8, 0);
    field.writeBigInt64BE(BigInt(value), 4);
    return field;
  }
  const text = String(value);
  const prefix = column.type === 'jsonb' ? 1 : 0;
  const bytes = Buffer.byteLength(text, 'utf8');
  const field = Buffer.allocUnsafe(4 + prefix + bytes);
  field.writeInt32BE(prefix + bytes, 0);
  if (prefix) field[4] = JSONB_VERSION;
  field.write(text, 4 + prefix, 'utf8');
  return field;
}
