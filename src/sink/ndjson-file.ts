/**
 * Writes lines to a new file, appearing under its name only when complete: the lines go to a temporary file
 * next to it, which is flushed to disk and renamed at the end (a failed or interrupted export leaves no file
 * that looks whole). An existing file is never overwritten.
 */
import { constants } from 'node:fs';
import { access, open, rename, rm, type FileHandle } from 'node:fs/promises';

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
      await handle.write(chunk);
      bytes += chunk.length;
    },
    commit: async () => {
      await handle.sync();
      await close();
      await rename(temporary, path);
    },
    discard: async () => {
      await close();
      await rm(temporary, { force: true });
    },
  };
}
