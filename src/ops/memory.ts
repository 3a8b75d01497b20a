/**
 * The process's memory bound. V8 lets its old space grow to up to 4× what survived the last full GC before it
 * collects again, and with our batches (devfiles, generated rows: short-lived but promoted) that is where the
 * peak RSS went: the live heap of a Kafka rebuild stays at 45–85 MB (--trace-gc, N = 10,000 and 30,000),
 * while the old space grew to 200–340 MB between collections and RSS to 360–490 MB, growing with N.
 * Capping the growth factor at 2× keeps the heap a fixed multiple of the live set, at no measurable CPU
 * (N = 10,000: peak RSS 392 → 262 MB, user CPU 13.0 → 12.0 s, both on a loaded machine). A hard
 * --max-old-space-size would bound it too, but fails the run (out of memory) the day the live set grows.
 *
 * The young generation is the other share: the main thread's fills with each batch's short-lived objects up to
 * V8's bound for it. The bin's shebang (src/cli/main.ts, read back by bin-flags.ts) passes
 * --max-semi-space-size=2, which V8 reads only when it sets up the heap (setting it here changes nothing:
 * measured). On the benchmark's Kafka rebuild into an empty table with 2 workers, alternated against 8 MB:
 * N = 100,000, peak RSS 295–299 → 249–256 MB for 4–11% more CPU (4 MB, one run: 271 MB, no measurable CPU);
 * N = 10,000, 265–279 → 225–234 MB (bench/results/semi-space-9dcc3bc.md). The generation workers' young
 * generation is bounded by worker-pool.ts.
 */
import { setFlagsFromString } from 'node:v8';

/** The old space may grow to (1 + this / 100) × its live size before the next full GC (V8's default: up to 4×). */
export const HEAP_GROWING_PERCENT = 100;

/** Read by V8 at each full GC, so setting it at startup takes effect (unlike the heap size limits). */
export function boundHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
