/** The README's metrics table and the registered metrics cannot drift apart: names, types and labels. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/ops/metrics.js';
import { samples } from '../../support/ops-endpoint.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** `| \`name\` | type | \`label\`, … | meaning |` rows of the README's metrics table. */
const documented = [...readme.matchAll(/^\| `(rebuild_projection_\w+)` \| (\w+) \|([^|]*)\|/gm)].map((m) => ({
  name: m[1]!,
  type: m[2]!,
  labels: [...m[3]!.matchAll(/`(\w+)`/g)].map((l) => l[1]!).sort(),
}));

async function registered() {
  const metrics = new Metrics({ readyMaxLag: 1000 });
  // Every metric with at least one sample, so that its labels show.
  metrics.observer.assigned([{ topic: 't', partition: 0, next: '0', high: '1' }]);
  metrics.observer.batchApplied({
    topic: 't', partition: 0, durationS: 0.1,
    applied: { consumed: 1, skipped: 0, deleted: 0, parked: 0, held: 0, badMessages: 1, written: 0, unchanged: 0, failed: 1, deadLetterKinds: ['not_json'], nextOffset: '1' },
  });
  metrics.rebuildProgress({ phase: 'building', done: 1, total: 2 });
  const text = await metrics.registry.metrics();
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => {
    const series = type === 'histogram' ? samples(text, `${name}_bucket`) : samples(text, name!);
    const labels = new Set(series.flatMap((s) => Object.keys(s.labels)).filter((l) => l !== 'le'));
    return { name: name!, type: type!, labels: [...labels].sort() };
  });
}

describe("the README's metrics table", () => {
  it('lists every metric we register, with its type and labels, and nothing else', async () => {
    const ours = (await registered()).filter((m) => m.name.startsWith('rebuild_projection_'));
    expect(documented.length).toBeGreaterThanOrEqual(10);
    expect(documented.sort((a, b) => a.name.localeCompare(b.name))).toEqual(ours.sort((a, b) => a.name.localeCompare(b.name)));
  });

  it("says truly that the others are prom-client's process_* and nodejs_* defaults", async () => {
    const others = (await registered()).filter((m) => !m.name.startsWith('rebuild_projection_'));
    expect(others.length).toBeGreaterThan(5);
    expect(others.filter((m) => !/^(process|nodejs)_/.test(m.name))).toEqual([]);
  });
});
