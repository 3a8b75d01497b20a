/**
 * The rebuild's page pipeline (page-pipeline.ts) with scripted stages: pages written whole, in order, one at
 * a time; generation read ahead but bounded; the first failure rejects the run and nothing after it is written.
 */
import { describe, expect, it } from 'vitest';
import { runPagePipeline, type PageStages } from '../../../src/engine/generation/page-pipeline.js';

/** A promise the test settles by hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every promise continuation that can run, run. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function* pagesOf(count: number, read: number[] = []): AsyncGenerator<number> {
  for (let page = 1; page <= count; page++) {
    read.push(page);
    yield page;
  }
}

/** Stages whose generations and writes the test completes one by one; records what happened in order. */
function scripted() {
  const generations = new Map<number, ReturnType<typeof deferred<string>>>();
  const writes = new Map<number, ReturnType<typeof deferred<void>>>();
  const events: string[] = [];
  let generating = 0;
  let writing = 0;
  const peak = { generating: 0, writing: 0 };
  const stages: PageStages<number, string> = {
    generate: (page) => {
      events.push(`generate ${page}`);
      generating++;
      peak.generating = Math.max(peak.generating, generating);
      const d = deferred<string>();
      generations.set(page, d);
      return d.promise.finally(() => generating--);
    },
    write: (page, generated) => {
      events.push(`write ${page} (${generated})`);
      writing++;
      peak.writing = Math.max(peak.writing, writing);
      const d = deferred<void>();
      writes.set(page, d);
      return d.promise.finally(() => writing--);
    },
  };
  return { stages, events, peak, generations, writes };
}

describe('runPagePipeline', () => {
  it('generates the next page while one is written, at most two generating and one writing, and writes in page order', async () => {
    const s = scripted();
    const run = runPagePipeline(pagesOf(5), s.stages);
    await settle();
    // Read-ahead: two pages generating before any is written.
    expect(s.events).toEqual(['generate 1', 'generate 2']);
    // Page 2 done first: still written after page 1.
    s.generations.get(2)!.resolve('rows 2');
    await settle();
    expect(s.events).toEqual(['generate 1', 'generate 2']);
    s.generations.get(1)!.resolve('rows 1');
    await settle();
    expect(s.events).toEqual(['generate 1', 'generate 2', 'write 1 (rows 1)', 'generate 3']);
    // Page 2 is generated but waits for page 1's write: one write at a time.
    await settle();
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual(['write 1 (rows 1)']);
    s.writes.get(1)!.resolve();
    await settle();
    expect(s.events.slice(4)).toEqual(['write 2 (rows 2)', 'generate 4']);
    for (const page of [3, 4, 5]) {
      s.generations.get(page)?.resolve(`rows ${page}`);
      s.writes.get(page - 1)!.resolve();
      await settle();
    }
    s.generations.get(5)!.resolve('rows 5');
    await settle();
    s.writes.get(5)!.resolve();
    await run;
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual([1, 2, 3, 4, 5].map((p) => `write ${p} (rows ${p})`));
    expect(s.peak).toEqual({ generating: 2, writing: 1 });
  });

  it('writes nothing when there are no pages', async () => {
    const s = scripted();
    await runPagePipeline(pagesOf(0), s.stages);
    expect(s.events).toEqual([]);
  });

  it("rejects with a page's generation failure, writing no page after it, once the write in flight has committed", async () => {
    const s = scripted();
    let settled = false;
    const run = runPagePipeline(pagesOf(5), s.stages).finally(() => (settled = true));
    await settle();
    s.generations.get(1)!.resolve('rows 1');
    await settle();
    s.generations.get(2)!.reject(new Error('generation of page 2 failed'));
    await settle();
    // Page 1's write is still running: the run must not end under it.
    expect(settled).toBe(false);
    s.writes.get(1)!.resolve();
    await expect(run).rejects.toThrow('generation of page 2 failed');
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual(['write 1 (rows 1)']);
  });

  it("rejects with a page's write failure; later pages, generated or not, are not written", async () => {
    const s = scripted();
    const run = runPagePipeline(pagesOf(5), s.stages);
    await settle();
    s.generations.get(1)!.resolve('rows 1');
    s.generations.get(2)!.resolve('rows 2');
    await settle();
    s.writes.get(1)!.reject(new Error('write of page 1 failed'));
    await expect(run).rejects.toThrow('write of page 1 failed');
    // Page 3's generation, dropped, fails later: that must not surface as an unhandled rejection.
    s.generations.get(3)?.reject(new Error('dropped'));
    await settle();
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual(['write 1 (rows 1)']);
  });

  it('rejects with a read failure after the write in flight has settled, and closes the source', async () => {
    const s = scripted();
    let closed = false;
    async function* failingPages(): AsyncGenerator<number> {
      try {
        yield 1;
        yield 2;
        throw new Error('reading page 3 failed');
      } finally {
        closed = true;
      }
    }
    let settled = false;
    const run = runPagePipeline(failingPages(), s.stages).finally(() => (settled = true));
    await settle();
    s.generations.get(1)!.resolve('rows 1');
    await settle();
    expect(settled).toBe(false);
    s.writes.get(1)!.resolve();
    await expect(run).rejects.toThrow('reading page 3 failed');
    expect(closed).toBe(true);
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual(['write 1 (rows 1)']);
  });

  it('stops reading once aborted: the write in flight completes, the pages read ahead are dropped, the source is closed', async () => {
    const s = scripted();
    const read: number[] = [];
    const controller = new AbortController();
    const pages = pagesOf(10, read);
    const run = runPagePipeline(pages, s.stages, controller.signal);
    await settle();
    s.generations.get(1)!.resolve('rows 1');
    await settle();
    controller.abort();
    s.generations.get(2)!.resolve('rows 2');
    s.writes.get(1)!.resolve();
    await run;
    expect(s.events.filter((e) => e.startsWith('write'))).toEqual(['write 1 (rows 1)']);
    expect(read).toEqual([1, 2, 3]);
    expect((await pages.next()).done).toBe(true);
  });
});
