/**
 * Writes lines to a new file, appearing under its name only when complete: the lines go to a temporary file
 * next to it, which is flushed to disk and renamed at the end (a failed or interrupted export leaves no file
 * that looks whole). An existing file is never overwritten.
 */
import { constants } from 'node:fs';
import { access, link, open, rm, type FileHandle } from 'node:fs/promises';

export class OutputFileError extends Error {
  override readonly name = 'OutputFileError';
}

export interface LineFile {
  append(lines: readonly Buffer[]): Promise<void>;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Flushes, closes and renames into place. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file. */
  discard(): Promise<void>;
}

export async function createLineFile(path: string): Promise<LineFile> {
  const exists = await access(path, constants.F_OK).then(() => true, () => false);
  if (exists) throw new OutputFileError(`${path} already exists: choose a new file (it is never overwritten)`);
  const temporary = `${path}.partial-${process.pid}`;
  let handle: FileHandle;
  try {
    handle = await open(temporary, 'wx');
  } catch (error) {
    throw new OutputFileError(`cannot create ${path}: ${(error as Error).message}`);
  }
  let bytes = 0;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close();
  };
  return {
    get bytes() {
      return bytes;
    },
    append: async (lines) => {
      const chunk = Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
      // writeFile loops until every byte is written: write() may write fewer without an error (a full disk).
      await handle.writeFile(chunk);
      bytes += chunk.length;
    },
    commit: async () => {
      await handle.sync();
      await close();
      // link, not rename: rename would silently replace a file created at `path` since the check above.
      try {
        await link(temporary, path);
      } catch (error) {
        throw new OutputFileError(`cannot put the export at ${path}: ${(error as Error).message} (it is left in ${temporary})`, { cause: error });
      }
      await rm(temporary, { force: true });
    },
    discard: async () => {
      await close();
      await rm(temporary, { force: true });
    },
  };
}
