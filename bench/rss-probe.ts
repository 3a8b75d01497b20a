/**
 * Preloaded into the rebuilder (`node --import …/rss-probe.js`) by the benchmark: at exit it writes the
 * process's own resource usage (peak RSS = getrusage ru_maxrss, CPU times) to $BENCH_PROBE_FILE. This is
 * exact where sampling /proc/<pid>/status could miss a peak in the last interval, and it needs no change to
 * the CLI.
 */
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    const heap = getHeapStatistics();
    writeFileSync(
      file,
      JSON.stringify({
        maxRssKb: usage.maxRSS,
        userCpuUs: usage.userCPUTime,
        systemCpuUs: usage.systemCPUTime,
        heapSizeLimit: heap.heap_size_limit,
        totalHeapSizeAtExit: heap.total_heap_size,
      }),
    );
  });
}
