/**
 * The embedded database's directory lock under contention: processes (the lock is per process) that all try
 * at the same moment, on a directory with no lock and on one whose lock a dead process left. Exactly one may
 * hold it. The contenders run the built module (dist/), like the CLI tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/sink/postgres/data-dir-lock.js';

const LOCK_MODULE = new URL('../../dist/src/sink/postgres/data-dir-lock.js', import.meta.url).href;
const CONTENDERS = 8;

// Waits (spinning, so that all start within a millisecond or so) until the agreed moment, tries once and says
// how it went; a winner holds the lock until its stdin closes, which the test does once every contender has
// answered, so that none can find it released, however late it starts.
const CONTENDER = `
import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
const [dir, at] = process.argv.slice(1);
while (Date.now() < Number(at));
try {
  const unlock = lockDataDir(dir, (message) => new Error(message));
  console.log('locked');
  process.stdin.resume().on('end', unlock);
} catch (error) {
  console.log('refused: ' + error.message);
}`;

interface Contender {
  line: Promise<string>;
  exited: Promise<void>;
  release: () => void;
}

function contend(dir: string, at: number): Contender {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CONTENDER, dir, String(at)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const line = new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`contender exited ${code} before answering: ${out}`)));
  });
  const exited = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`contender exited ${code}: ${out}`)))));
  return { line, exited, release: () => child.stdin.end() };
}

/** Every contender's one line, all started at once (about 2 s after spawning, time enough for 8 to load). */
async function race(dir: string): Promise<string[]> {
  const at = Date.now() + 2_000;
  const contenders = Array.from({ length: CONTENDERS }, () => contend(dir, at));
  try {
    return await Promise.all(contenders.map((c) => c.line));
  } finally {
    for (const c of contenders) c.release();
    await Promise.allSettled(contenders.map((c) => c.exited));
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'data-dir-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the data directory lock', () => {
  it('goes to exactly one of eight processes trying at once on a directory without a lock', async () => {
    const lines = await race(dir);
    expect(lines.filter((line) => line === 'locked')).toHaveLength(1);
    expect(lines.filter((line) => /^refused: the embedded database in .+ is in use by process \d+ on /.test(line))).toHaveLength(CONTENDERS - 1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('goes to exactly one of eight processes that find the same dead process\'s lock at once (each round)', async () => {
    for (let round = 0; round < 3; round++) {
      const dead = spawnSync(process.execPath, ['-e', '']).pid!;
      writeFileSync(join(dir, 'rebuild-projection.lock'), JSON.stringify({ pid: dead, host: hostname() }));
      const lines = await race(dir);
      expect(lines.filter((line) => line === 'locked'), `round ${round}: ${lines.join('\n')}`).toHaveLength(1);
      expect(lines.filter((line) => line.startsWith('refused: the embedded database in ')), `round ${round}`).toHaveLength(CONTENDERS - 1);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it('names the takeover file a process left when it died taking over a stale lock', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(dir, 'rebuild-projection.lock'), JSON.stringify({ pid: dead, host: hostname() }));
    writeFileSync(join(dir, 'rebuild-projection.lock.takeover'), '');
    expect(() => lockDataDir(dir, (message) => new Error(message))).toThrow(
      `the embedded database in ${dir} is in use by another process (one process at a time; its lock: ${join(dir, 'rebuild-projection.lock')}, ` +
        `being taken over: ${join(dir, 'rebuild-projection.lock.takeover')}, to be removed if no process is starting on this directory)`,
    );
    // Its own draft is gone; the others are left for whoever looks.
    expect(readdirSync(dir).sort()).toEqual(['rebuild-projection.lock', 'rebuild-projection.lock.takeover']);
  });

  it('takes over a lock that is not JSON (left half-written by an earlier version), and releases only its own', () => {
    writeFileSync(join(dir, 'rebuild-projection.lock'), '{"pid": 12');
    const unlock = lockDataDir(dir, (message) => new Error(message));
    expect(readdirSync(dir)).toEqual(['rebuild-projection.lock']);
    // Replaced by hand meanwhile: not ours to remove.
    writeFileSync(join(dir, 'rebuild-projection.lock'), JSON.stringify({ pid: 1, host: 'elsewhere' }));
    unlock();
    expect(readdirSync(dir)).toEqual(['rebuild-projection.lock']);
  });
});
