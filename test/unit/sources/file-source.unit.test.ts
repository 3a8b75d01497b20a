/**
 * The file source's reading of lines into positioned messages (sources/file/file-source.ts). Expected values
 * are written from the formats: NDJSON (one value per line, offset = line − 1) and kcat -J envelopes (bytes
 * in JSON strings as kcat writes them: raw, with `"`, `\` and control characters escaped).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { eventFile, readFileRecords, type FileFormat, type FileRecord } from '../../../src/sources/file/file-source.js';

const dir = mkdtempSync(join(tmpdir(), 'file-source-'));
let n = 0;
function file(content: Buffer | string, name = `f${++n}.ndjson`) {
  const path = join(dir, name);
  writeFileSync(path, content);
  return eventFile(path);
}
async function read(content: Buffer | string, name?: string): Promise<{ records: FileRecord[]; format: FileFormat | undefined }> {
  let format: FileFormat | undefined;
  const records: FileRecord[] = [];
  for await (const record of readFileRecords(file(content, name), (f) => (format = f))) records.push(record);
  return { records, format };
}

describe('the file source', () => {
  it('positions each NDJSON line under file:<name>, partition 0, offset = line - 1, skipping blank lines', async () => {
    const { records, format } = await read('{"a":1}\n\n  \n{"b":2}\r\n{"c":3}', 'events.ndjson');
    expect(format).toBe('events');
    expect(records.map((r) => [r.line, r.message.topic, r.message.partition, r.message.offset, r.message.key, r.message.value?.toString('utf8')])).toEqual([
      [1, 'file:events.ndjson', 0, '0', null, '{"a":1}'],
      [4, 'file:events.ndjson', 0, '3', null, '{"b":2}\r'],
      [5, 'file:events.ndjson', 0, '4', null, '{"c":3}'],
    ]);
  });

  it('keeps a line\'s bytes as they are, invalid UTF-8 included (the decoder judges them)', async () => {
    const line = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]);
    const { records } = await read(Buffer.concat([line, Buffer.from('\n')]));
    expect(records[0]!.message.value).toEqual(line);
  });

  it('gunzips a .gz file', async () => {
    const { records } = await read(gzipSync(Buffer.from('{"a":1}\n{"b":2}\n')), 'events.ndjson.gz');
    expect(records.map((r) => r.message.value?.toString('utf8'))).toEqual(['{"a":1}', '{"b":2}']);
    expect(records[0]!.message.topic).toBe('file:events.ndjson.gz');
  });

  it('reads a kcat -J dump at its own topic, partition and offset, with the key and payload bytes kcat wrote', async () => {
    const dump = Buffer.concat([
      Buffer.from('{"topic":"workspace-events","partition":2,"offset":17,"tstype":"create","ts":1796170975904,"broker":1,"key":"42","payload":"{\\"a\\":\\"'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from('\\"}"}\n'),
      Buffer.from('{"topic":"workspace-events","partition":2,"offset":18,"tstype":"create","ts":1796170975905,"broker":1,"key":"42","payload":null}\n'),
      // Binary: control bytes escaped, high bytes raw (kcat does not validate UTF-8).
      Buffer.from('{"topic":"workspace-events","partition":0,"offset":3,"ts":5,"headers":["h","v"],"key":null,"payload":"\\u0000\\u0000\\u0000\\u0000\\u0001'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n'),
      Buffer.from('{"topic":"other","partition":1,"offset":0,"key":"7","value":"{}"}\n'),
    ]);
    const { records, format } = await read(dump);
    expect(format).toBe('kcat');
    expect(records.map((r) => ({ ...r.message, key: r.message.key?.toString('hex') ?? null, value: r.message.value?.toString('hex') ?? null }))).toEqual([
      { topic: 'workspace-events', partition: 2, offset: '17', timestamp: '1796170975904', key: Buffer.from('42').toString('hex'), value: Buffer.from('{"a":"é"}').toString('hex') },
      { topic: 'workspace-events', partition: 2, offset: '18', timestamp: '1796170975905', key: Buffer.from('42').toString('hex'), value: null },
      { topic: 'workspace-events', partition: 0, offset: '3', timestamp: '5', key: null, value: '0000000001fffe' },
      { topic: 'other', partition: 1, offset: '0', timestamp: '-1', key: Buffer.from('7').toString('hex'), value: Buffer.from('{}').toString('hex') },
    ]);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3, 4]);
    expect(records.every((r) => r.failure === undefined)).toBe(true);
  });

  it('places a broken line of a kcat dump at its line in the file, with the reason and path', async () => {
    const good = '{"topic":"t","partition":0,"offset":0,"key":"1","payload":"{}"}';
    const { records } = await read([good, '{"topic":"t","partition":0,', '{"topic":"t","partition":-1,"offset":1,"payload":"{}"}', '{"topic":"t","partition":0,"offset":2,"key":"1"}'].join('\n'), 'dump.json');
    expect(records.map((r) => [r.line, r.message.topic, r.message.offset, r.failure?.reason, r.failure?.path])).toEqual([
      [1, 't', '0', undefined, undefined],
      [2, 'file:dump.json', '1', 'not_json', undefined],
      [3, 'file:dump.json', '2', 'schema_invalid', 'partition'],
      [4, 'file:dump.json', '3', 'schema_invalid', 'payload'],
    ]);
  });

  it('fails with one line naming the file when it cannot be read', async () => {
    const consume = async () => {
      for await (const _ of readFileRecords(eventFile(join(dir, 'missing.ndjson')))) void _;
    };
    await expect(consume()).rejects.toThrow(/^cannot read .*missing\.ndjson: ENOENT/);
    const notGzip = file('not gzip', 'broken.ndjson.gz');
    const gunzip = async () => {
      for await (const _ of readFileRecords(notGzip)) void _;
    };
    await expect(gunzip()).rejects.toThrow(/cannot read .*broken\.ndjson\.gz: incorrect header check/);
  });
});
