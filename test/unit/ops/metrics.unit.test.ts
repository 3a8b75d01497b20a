import { describe, expect, it } from 'vitest';
import type { AppliedBatch } from '../../../src/engine/apply-kafka-batch.js';
import { Metrics } from '../../../src/ops/metrics.js';
import { sample, samples } from '../../support/ops-endpoint.js';

const batch = (counts: Partial<AppliedBatch>): AppliedBatch => ({
  consumed: 0, skipped: 0, deleted: 0, parked: 0, held: 0, badMessages: 0, written: 0, unchanged: 0, failed: 0, deadLetterKinds: [], nextOffset: undefined,
  ...counts,
});

describe('metrics', () => {
  it('exports every event outcome and row result at 0 before the first batch', async () => {
    const text = await new Metrics({ readyMaxLag: 1000 }).registry.metrics();
    for (const outcome of ['applied', 'skipped', 'parked', 'held', 'dead_lettered']) {
      expect(sample(text, 'rebuild_projection_events_total', { outcome })).toBe(0);
    }
    for (const result of ['written', 'unchanged', 'deleted']) expect(sample(text, 'rebuild_projection_rows_total', { result })).toBe(0);
    expect(sample(text, 'rebuild_projection_ready')).toBe(0);
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('counts each message under one outcome, dead letters by reason, rows by result, and the batch duration', async () => {
    const metrics = new Metrics({ readyMaxLag: 1000 });
    // 10 fetched: 1 below the checkpoint, 9 consumed of which 2 parked, 1 held, 1 bad message; 5 applied.
    metrics.observer.batchApplied({
      topic: 't', partition: 0, durationS: 0.2,
      applied: batch({ consumed: 9, skipped: 1, parked: 2, held: 1, badMessages: 1, written: 3, unchanged: 1, deleted: 1, failed: 2, deadLetterKinds: ['invalid_json', 'devfile_invalid'] }),
    });
    metrics.observer.batchApplied({ topic: 't', partition: 1, durationS: 3, applied: batch({ consumed: 1, badMessages: 1, failed: 1, deadLetterKinds: ['invalid_json'] }) });
    const text = await metrics.registry.metrics();
    expect(Object.fromEntries(samples(text, 'rebuild_projection_events_total').map((s) => [s.labels.outcome, s.value]))).toEqual({
      applied: 5, skipped: 1, parked: 2, held: 1, dead_lettered: 2,
    });
    expect(sample(text, 'rebuild_projection_dead_letters_total', { reason: 'invalid_json' })).toBe(2);
    expect(sample(text, 'rebuild_projection_dead_letters_total', { reason: 'devfile_invalid' })).toBe(1);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'written' })).toBe(3);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'unchanged' })).toBe(1);
    expect(sample(text, 'rebuild_projection_rows_total', { result: 'deleted' })).toBe(1);
    expect(sample(text, 'rebuild_projection_batch_duration_seconds_count')).toBe(2);
    expect(sample(text, 'rebuild_projection_batch_duration_seconds_bucket', { le: '0.25' })).toBe(1);
    expect(sample(text, 'rebuild_projection_batch_duration_seconds_sum')).toBeCloseTo(3.2);
  });

  it('shows the lag of each assigned partition, and readiness', async () => {
    const metrics = new Metrics({ readyMaxLag: 5 });
    metrics.observer.assigned([{ topic: 't', partition: 0, next: '3', high: '10' }, { topic: 't', partition: 2, next: '7', high: '7' }]);
    let text = await metrics.registry.metrics();
    expect(sample(text, 'rebuild_projection_consumer_lag', { topic: 't', partition: '0' })).toBe(7);
    expect(sample(text, 'rebuild_projection_consumer_lag', { topic: 't', partition: '2' })).toBe(0);
    expect(sample(text, 'rebuild_projection_assigned_partitions')).toBe(2);
    expect(sample(text, 'rebuild_projection_ready')).toBe(0);
    metrics.observer.position({ topic: 't', partition: 0, next: '10', high: '10' });
    text = await metrics.registry.metrics();
    expect(sample(text, 'rebuild_projection_consumer_lag', { topic: 't', partition: '0' })).toBe(0);
    expect(sample(text, 'rebuild_projection_ready')).toBe(1);
    metrics.observer.stopped();
    text = await metrics.registry.metrics();
    expect(samples(text, 'rebuild_projection_consumer_lag')).toEqual([]);
    expect(sample(text, 'rebuild_projection_assigned_partitions')).toBe(0);
  });

  it("shows a rebuild's current phase only, with its progress, and how it ended", async () => {
    const metrics = new Metrics({ readyMaxLag: 1000 });
    expect(samples(await metrics.registry.metrics(), 'rebuild_projection_rebuild_phase')).toEqual([]);
    metrics.rebuildProgress({ phase: 'building', done: 40, total: 100 });
    metrics.rebuildProgress({ phase: 'materializing', done: 3, total: 10 });
    let text = await metrics.registry.metrics();
    expect(samples(text, 'rebuild_projection_rebuild_phase')).toEqual([{ labels: { phase: 'materializing' }, value: 1 }]);
    expect(sample(text, 'rebuild_projection_rebuild_items_done')).toBe(3);
    expect(sample(text, 'rebuild_projection_rebuild_items_expected')).toBe(10);
    metrics.rebuildProgress({ phase: 'switching', done: 0, total: undefined });
    expect(sample(await metrics.registry.metrics(), 'rebuild_projection_rebuild_items_expected')).toBeNaN();
    metrics.rebuildEnded('switched');
    text = await metrics.registry.metrics();
    expect(samples(text, 'rebuild_projection_rebuild_phase')).toEqual([{ labels: { phase: 'switched' }, value: 1 }]);
  });
});
