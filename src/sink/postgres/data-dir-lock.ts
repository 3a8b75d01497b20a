/**
 * The lock of an embedded database's directory: one process at a time (the single session's advisory locks
 * guard nothing across processes). The lock file names its holder (pid, host); a lock whose holder died on
 * this host is taken over.
 *
 * Without races: the lock is written whole under a name of its own, then hard-linked into place (a link fails
 * when the lock exists), so no process ever reads a lock half-written and takes it for a dead one's. And a stale
 * lock is removed only by the process holding the takeover file (created exclusively), after reading it again:
 * two processes that found the same stale lock cannot both remove it, where the second would remove the lock
 * the first had just made, and both would run.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const LOCK_FILE = 'rebuild-projection.lock';
const TAKEOVER_FILE = `${LOCK_FILE}.takeover`;

/** Whether a name in the data directory is one of the lock's files (the lock, the takeover file, a draft). */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name.startsWith(`${LOCK_FILE}.`);
}

const holderSchema = z.object({ pid: z.number().int(), host: z.string() });
type Holder = z.infer<typeof holderSchema>;
/** What a lock file holds: its holder, nothing (gone), or what no version of this lock writes. */
type Read = Holder | 'absent' | 'unreadable';

/** Attempts at the lock: each one that finds a stale lock removes it, so the next one links, or meets a new holder. */
const ATTEMPTS = 3;

/** The lock is held (by `holder`); `how` adds what the message should say. */
class LockHeld extends Error {
  constructor(
    readonly holder: Read,
    readonly how = '',
  ) {
    super('held');
  }
}

/**
 * Takes the lock of `dataDir`, or throws `fail(message)`: naming its holder, or the file system's refusal.
 * Returns its remover. `fail` makes the caller's error (the embedded database's).
 */
export function lockDataDir(dataDir: string, fail: (message: string, cause?: unknown) => Error): () => void {
  const path = join(dataDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname() };
  const draft = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(draft, JSON.stringify(me), { flag: 'wx' });
    try {
      return take(dataDir, path, draft, me);
    } finally {
      rmSync(draft, { force: true });
    }
  } catch (error) {
    if (!(error instanceof LockHeld)) throw fail(`could not lock the embedded database in ${dataDir} (${path}): ${(error as Error).message}`, error);
    const { holder, how } = error;
    throw fail(
      `the embedded database in ${dataDir} is in use by ${typeof holder === 'object' ? `process ${holder.pid} on ${holder.host}` : 'another process'} ` +
        `(one process at a time; its lock: ${path}${how}): wait for it to end, or pass another --data-dir (or --database-url for a PostgreSQL server)`,
    );
  }
}

function take(dataDir: string, path: string, draft: string, me: Holder): () => void {
  let holder: Read = 'absent';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (linked(draft, path)) return () => releaseIfMine(path, me);
    holder = readLock(path);
    if (holder === 'absent') continue;
    if (holder !== 'unreadable' && (holder.host !== hostname() || isAlive(holder.pid))) throw new LockHeld(holder);
    removeStale(dataDir, path, holder);
  }
  throw new LockHeld(holder);
}

/** Links `draft` as the lock: false when a lock is there. */
function linked(draft: string, path: string): boolean {
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Removes the lock `stale` (read from `path`) if it still holds that, under the takeover file. */
function removeStale(dataDir: string, path: string, stale: Read): void {
  const takeover = join(dataDir, TAKEOVER_FILE);
  try {
    writeFileSync(takeover, '', { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Held for a moment by a process taking over the same stale lock: that one gets it. Left behind only by a
    // process that died in that moment, so the message says which file to remove then.
    throw new LockHeld('absent', `, being taken over: ${takeover}, to be removed if no process is starting on this directory`);
  }
  try {
    if (JSON.stringify(readLock(path)) === JSON.stringify(stale)) rmSync(path, { force: true });
  } finally {
    rmSync(takeover, { force: true });
  }
}

/** Removes the lock if it is still this process's (it always is, unless someone removed it by hand). */
function releaseIfMine(path: string, me: Holder): void {
  const holder = readLock(path);
  if (typeof holder === 'object' && holder.pid === me.pid && holder.host === me.host) rmSync(path, { force: true });
}

function readLock(path: string): Read {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  try {
    const parsed = holderSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : 'unreadable';
  } catch {
    // Not JSON: a lock that an earlier version of this file left half-written when its process died.
    return 'unreadable';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
