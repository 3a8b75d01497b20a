/**
 * The workload's devfile texts, generated once per run: building a devfile (js-yaml dump) costs ~1 ms,
 * and three passes need them (the PostgreSQL load, the producer, the generator step), so the first pass
 * records them in a temp file and the later ones read them back sequentially. Every pass walks the
 * workspaces in id order (creates come in id order in the stream), so reads are one forward scan; a
 * lower id restarts the scan, an id not in the file is built.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import type { DevfileSource, DevfileTexts } from './workload.js';

const BUFFER_BYTES = 4 * 1024 * 1024;

/** Builds every devfile and appends it to `file`. Call close() when done. */
export class DevfileRecorder implements DevfileSource {
  private readonly fd: number;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(file: string) {
    this.fd = openSync(file, 'w');
  }

  texts(id: number, build: () => DevfileTexts): DevfileTexts {
    const texts = build();
    const processed = Buffer.from(texts.processed);
    const raw = Buffer.from(texts.raw);
    const header = Buffer.alloc(12);
    header.writeUInt32LE(id, 0);
    header.writeUInt32LE(processed.length, 4);
    header.writeUInt32LE(raw.length, 8);
    this.chunks.push(header, processed, raw);
    this.buffered += 12 + processed.length + raw.length;
    if (this.buffered >= BUFFER_BYTES) this.flush();
    return texts;
  }

  private flush(): void {
    if (this.buffered === 0) return;
    writeSync(this.fd, Buffer.concat(this.chunks, this.buffered));
    this.chunks = [];
    this.buffered = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/** Reads the texts back in id order. Call close() when done. */
export class DevfileReplayer implements DevfileSource {
  private fd: number | undefined;
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private eof = false;
  private lastId = 0;

  constructor(private readonly file: string) {}

  texts(id: number, build: () => DevfileTexts): DevfileTexts {
    if (id <= this.lastId) this.restart();
    for (;;) {
      const record = this.next();
      if (record === undefined) return build();
      this.lastId = record.id;
      if (record.id === id) return record.texts;
      if (record.id > id) {
        this.restart();
        return build();
      }
    }
  }

  private restart(): void {
    this.close();
    this.buffer = Buffer.alloc(0);
    this.offset = 0;
    this.eof = false;
    this.lastId = 0;
  }

  /** Makes at least `bytes` unread bytes available, unless the file ends first. */
  private fill(bytes: number): boolean {
    while (this.buffer.length - this.offset < bytes && !this.eof) {
      this.fd ??= openSync(this.file, 'r');
      const chunk = Buffer.allocUnsafe(Math.max(BUFFER_BYTES, bytes));
      const read = readSync(this.fd, chunk, 0, chunk.length, null);
      if (read === 0) this.eof = true;
      this.buffer = Buffer.concat([this.buffer.subarray(this.offset), chunk.subarray(0, read)]);
      this.offset = 0;
    }
    return this.buffer.length - this.offset >= bytes;
  }

  private next(): { id: number; texts: DevfileTexts } | undefined {
    if (!this.fill(12)) return undefined;
    const id = this.buffer.readUInt32LE(this.offset);
    const processedLength = this.buffer.readUInt32LE(this.offset + 4);
    const rawLength = this.buffer.readUInt32LE(this.offset + 8);
    if (!this.fill(12 + processedLength + rawLength)) return undefined;
    const start = this.offset + 12;
    const processed = this.buffer.toString('utf8', start, start + processedLength);
    const raw = this.buffer.toString('utf8', start + processedLength, start + processedLength + rawLength);
    this.offset = start + processedLength + rawLength;
    return { id, texts: { processed, raw } };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
