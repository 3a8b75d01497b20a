/**
 * The build phase's pipeline over pages of workspaces (a snapshot rebuild's batches, a Kafka rebuild's
 * materialize): pages are read in order, generated with read-ahead, and written one at a time, in order.
 *
 * Read-ahead: up to GENERATING pages are generating while the previous page is written, so the generator
 * always has the next page queued (with `--workers 2`, materialize's main thread was about 45% idle with one
 * page at a time: it waited for each page's generation). Bounded: at most GENERATING pages generating, one
 * generated and waiting for its write, one writing — memory does not grow with the number of pages.
 *
 * Failure: the first error (reading, generating or writing a page) ends the run with that error, after the
 * write in flight has settled (no transaction left running behind the caller); no later page is written, so
 * every written page is whole, and pages read ahead but not written are dropped. An aborted `signal` stops
 * reading; the write in flight completes, and the pages read ahead are dropped.
 */

/** Pages generating at once: one whose write waits, one more keeping the generator busy meanwhile. */
const GENERATING = 2;

export interface PageStages<P, G> {
  /** Starts generating a page's rows; called in page order, before the previous page is written. */
  generate(page: P): Promise<G>;
  /** Writes a generated page; called in page order, one at a time. */
  write(page: P, generated: G): Promise<void>;
}

/** Runs every page of `pages` through `stages`; resolves once the last page is written. */
export async function runPagePipeline<P, G>(pages: AsyncIterable<P>, stages: PageStages<P, G>, signal?: AbortSignal): Promise<void> {
  const iterator = pages[Symbol.asyncIterator]();
  const generating: { page: P; generated: Promise<G> }[] = [];
  let writing: Promise<void> = Promise.resolve();
  let exhausted = false;
  let failed = false;
  try {
    while (!signal?.aborted) {
      while (generating.length < GENERATING && !exhausted) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const generated = stages.generate(next.value);
        // Observed when its turn to be written comes, or dropped on an earlier failure: never unhandled.
        generated.catch(() => undefined);
        generating.push({ page: next.value, generated });
      }
      const head = generating.shift();
      if (head === undefined) break;
      const generated = await head.generated;
      await writing;
      if (signal?.aborted) break;
      writing = stages.write(head.page, generated);
      // Observed by the next iteration's `await writing` (or the one below); meanwhile not unhandled.
      writing.catch(() => undefined);
    }
    await writing;
  } catch (error) {
    failed = true;
    // Whatever failed, the write in flight must not outlive the run (its client, its pool).
    await writing.catch(() => undefined);
    throw error;
  } finally {
    // Stopped early (aborted, or failed): let the source release what it holds (a cursor, a client).
    if (!exhausted) {
      const closing = iterator.return?.();
      // After a failure, that failure is the one to report.
      if (failed) await closing?.catch(() => undefined);
      else await closing;
    }
  }
}
