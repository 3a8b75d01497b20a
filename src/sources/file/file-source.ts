/**
 * The file source (`--source file:PATH`): the events of our contract from a file instead of a broker,
 * streamed line by line (never the whole file in memory), gunzipped when the name ends in `.gz`.
 *
 * Two line formats, decided once per file by its first non-blank line:
 *   events   one message value per line (NDJSON: the README's JSON encoding, or a Debezium JSON event), no
 *            key. Positioned as topic `file:<name>`, partition 0, offset = line number − 1, so the usual
 *            checkpoints make a second run resume and `--from-beginning` replay
 *   kcat     a topic dump made with `kcat -C -e -J`: one JSON envelope per line, `topic`, `partition`,
 *            `offset`, `key`, `payload` (or `value`: other tools' name), null for a null key or a tombstone.
 *            Positioned at the dump's own topic/partition/offset, so replaying a backup leaves the checkpoints a
 *            `--follow` of that topic continues from
 *
 * kcat writes the key's and payload's bytes into its JSON strings as they are (only `"`, `\` and control
 * characters escaped), so a line is read as Latin-1 (one character per byte) and each string turned back into
 * exactly those bytes: the decoder then sees what Kafka held, invalid UTF-8 included.
 *
 * Every record goes through the same decoder, fold and dead letters as a Kafka message. A kcat line that is
 * not an envelope cannot be placed in its topic: it is dead-lettered at its place in the file (topic
 * `file:<name>`, offset = line − 1) with the reason `failure` carries, and the file goes on.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import type { CodecFailure } from '../../events/codec/bad-message.js';
import type { WorkspaceMessage } from '../../events/decode.js';

/** A file given with `--source file:PATH`. */
export interface EventFile {
  path: string;
  /** The topic name its bare lines are positioned under (`file:<basename>`): stable across runs. */
  topic: string;
}

export const FILE_SOURCE_PREFIX = 'file:';

export function eventFile(path: string): EventFile {
  return { path, topic: `${FILE_SOURCE_PREFIX}${basename(path)}` };
}

export type FileFormat = 'events' | 'kcat';

/** The file could not be read (missing, unreadable, not gzip): the run cannot go on (exit 1). */
export class FileSourceError extends Error {
  override readonly name = 'FileSourceError';
  readonly retriable = false;
}

export interface FileRecord {
  message: WorkspaceMessage;
  /** 1-based line number in the (decompressed) file. */
  line: number;
  /** Set when the line is a broken kcat envelope: dead-letter it with this, without decoding. */
  failure?: CodecFailure;
}

/** No broker timestamp: Kafka's own "none" (-1). */
const NO_TIMESTAMP = '-1';

const envelopeSchema = z.object({
  topic: z.string().min(1),
  partition: z.number().int().min(0).max(2 ** 31 - 1),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  key: z.string().nullable().optional(),
  payload: z.string().nullable().optional(),
  value: z.string().nullable().optional(),
  ts: z.number().int().optional(),
});

/** Whether a line (as Latin-1 text) is a kcat envelope: the first line decides a file's format. */
function looksLikeEnvelope(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && 'topic' in value && 'partition' in value && 'offset' in value;
  } catch {
    return false;
  }
}

/** The bytes a kcat string stands for (one character per byte; a \u escape above U+00FF as UTF-8). */
function bytesOf(text: string | null | undefined): Buffer | null {
  if (text === null || text === undefined) return null;
  if (!/[^\u0000-\u00ff]/.test(text)) return Buffer.from(text, 'latin1');
  return Buffer.concat([...text].map((c) => (c.codePointAt(0)! <= 0xff ? Buffer.from(c, 'latin1') : Buffer.from(c, 'utf8'))));
}

function envelopeRecord(file: EventFile, bytes: Buffer, line: number): FileRecord {
  const here: WorkspaceMessage = { topic: file.topic, partition: 0, offset: String(line - 1), key: null, value: bytes, timestamp: NO_TIMESTAMP };
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('latin1'));
  } catch (error) {
    return { message: here, line, failure: { reason: 'not_json', detail: `not a kcat -J envelope: ${(error as Error).message}` } };
  }
  const envelope = envelopeSchema.safeParse(parsed);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    const path = issue?.path.map(String).join('.') || undefined;
    return {
      message: here,
      line,
      failure: { reason: 'schema_invalid', detail: `not a kcat -J envelope: ${path ?? '(root)'}: ${issue?.message ?? 'invalid'}`, ...(path ? { path } : {}) },
    };
  }
  const e = envelope.data;
  if (e.payload === undefined && e.value === undefined) {
    return { message: here, line, failure: { reason: 'schema_invalid', path: 'payload', detail: 'a kcat -J envelope needs "payload" (or "value"), null for a tombstone' } };
  }
  const message: WorkspaceMessage = {
    topic: Buffer.from(e.topic, 'latin1').toString('utf8'),
    partition: e.partition,
    offset: String(e.offset),
    key: bytesOf(e.key),
    value: bytesOf(e.payload !== undefined ? e.payload : e.value),
    timestamp: e.ts === undefined ? NO_TIMESTAMP : String(e.ts),
  };
  return { message, line };
}

/** Splits a byte stream into lines (without their `\n`), each with its 1-based number. */
async function* lines(stream: Readable): AsyncGenerator<{ bytes: Buffer; line: number }> {
  let pending: Buffer[] = [];
  let line = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      pending.push(chunk.subarray(start, end));
      yield { bytes: Buffer.concat(pending), line: ++line };
      pending = [];
      start = end + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) yield { bytes: Buffer.concat(pending), line: ++line };
}

/** A blank line separates nothing and carries nothing (NDJSON readers skip them). */
const isBlank = (bytes: Buffer): boolean => bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

/**
 * Streams a file's records in file order. The file's format is decided by its first non-blank line and
 * reported through `onFormat` before the first record.
 */
export async function* readFileRecords(file: EventFile, onFormat?: (format: FileFormat) => void): AsyncGenerator<FileRecord> {
  const raw = createReadStream(file.path);
  const stream = file.path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  // A read error on the file stream does not travel through pipe(): forward it so the loop below throws it.
  raw.on('error', (error) => stream.destroy(error));
  let format: FileFormat | undefined;
  try {
    for await (const { bytes, line } of lines(stream)) {
      if (isBlank(bytes)) continue;
      if (format === undefined) {
        format = looksLikeEnvelope(bytes.toString('latin1')) ? 'kcat' : 'events';
        onFormat?.(format);
      }
      if (format === 'kcat') yield envelopeRecord(file, bytes, line);
      else yield { message: { topic: file.topic, partition: 0, offset: String(line - 1), key: null, value: bytes, timestamp: NO_TIMESTAMP }, line };
    }
  } catch (error) {
    throw new FileSourceError(`cannot read ${file.path}: ${(error as Error).message}`, { cause: error });
  } finally {
    raw.destroy();
  }
}
