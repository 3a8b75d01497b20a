/**
 * Prometheus metrics (prom-client), fed by the engine's ConsumerObserver and a rebuild's progress. The
 * README's "Metrics" table lists every metric registered here (a unit test keeps the two in step).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppliedBatch } from '../engine/apply-kafka-batch.js';
import type { AppliedBatchReport, ConsumerObserver } from '../engine/consumer-observer.js';
import type { RebuildProgress } from '../engine/rebuild.js';
import { LAG_REFRESH_MS } from '../sources/kafka/kafka-source.js';
import { ConsumerState } from './consumer-state.js';

/** How a rebuild ended: switched in, or built and kept (--no-switch). */
export type RebuildEnd = 'switched' | 'built';

export class Metrics {
  readonly registry = new Registry();
  readonly consumer = new ConsumerState();
  /** What the engine's consumer reports to. */
  readonly observer: ConsumerObserver;

  private readonly events = new Counter({
    name: 'rebuild_projection_events_total',
    help: 'Kafka messages fetched, by outcome: applied (folded, changed something or not), skipped (below the checkpoint: delivered again), parked (an update before its create), held (behind its workspace\'s bad message), dead_lettered (a bad message)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly deadLetters = new Counter({
    name: 'rebuild_projection_dead_letters_total',
    help: 'Dead letters recorded, by reason (the error kind: bad messages and workspaces whose row could not be generated)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly rows = new Counter({
    name: 'rebuild_projection_rows_total',
    help: 'workspace_agentk_states rows, by result: written (inserted or changed), unchanged (generated equal to the stored row), deleted',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly batchDuration = new Histogram({
    name: 'rebuild_projection_batch_duration_seconds',
    help: 'One partition batch, from its delivery to its PostgreSQL commit (transient retries included)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly rebuildPhase = new Gauge({
    name: 'rebuild_projection_rebuild_phase',
    help: "1 for the phase of this process's rebuild (building, materializing, catching_up, switching; then switched, or built with --no-switch)",
    labelNames: ['phase'] as const,
    registers: [this.registry],
  });
  private readonly rebuildDone = new Gauge({
    name: 'rebuild_projection_rebuild_items_done',
    help: 'Events (from Kafka) or workspaces (snapshot, materializing) done in the current rebuild phase',
    registers: [this.registry],
  });
  private readonly rebuildExpected = new Gauge({
    name: 'rebuild_projection_rebuild_items_expected',
    help: 'Events or workspaces the current rebuild phase expects (NaN while unknown)',
    registers: [this.registry],
  });

  /** What /readyz answers, and the `ready` gauge shows: one decision, with this run's --ready-max-lag. */
  readonly readiness: () => ReturnType<ConsumerState['readiness']>;

  constructor(options: { readyMaxLag: number }) {
    const { consumer } = this;
    const readiness = (this.readiness = () => consumer.readiness(options.readyMaxLag));
    new Gauge({
      name: 'rebuild_projection_consumer_lag',
      help: `Records between each assigned partition's checkpoint and its high watermark, as of the latest fetch, commit or watermark read (every ${LAG_REFRESH_MS / 1000} s)`,
      labelNames: ['topic', 'partition'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const { topic, partition, lag } of consumer.lags()) this.set({ topic, partition: String(partition) }, lag);
      },
    });
    new Gauge({
      name: 'rebuild_projection_assigned_partitions',
      help: "Partitions this process's consumer holds",
      registers: [this.registry],
      collect() {
        this.set(consumer.lags().length);
      },
    });
    new Gauge({
      name: 'rebuild_projection_ready',
      help: '1 when /readyz answers 200 (joined its group, every assigned partition within --ready-max-lag, no rebuild running)',
      registers: [this.registry],
      collect() {
        this.set(readiness().ready ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    this.count({ consumed: 0, skipped: 0, parked: 0, held: 0, badMessages: 0, written: 0, unchanged: 0, deleted: 0 });
    this.observer = {
      assigned: (partitions) => consumer.assigned(partitions),
      stopped: () => consumer.stopped(),
      position: (position) => consumer.position(position),
      batchApplied: (report) => this.countBatch(report),
    };
  }

  /** A rebuild's progress sample (the same the progress line shows). */
  rebuildProgress(progress: RebuildProgress): void {
    this.showPhase(progress.phase);
    this.consumer.rebuilding(progress.phase);
    this.rebuildDone.set(progress.done);
    this.rebuildExpected.set(progress.total ?? Number.NaN);
  }

  /** The rebuild ended (switched, or built with --no-switch); a failure leaves the phase it failed in. */
  rebuildEnded(end: RebuildEnd): void {
    this.showPhase(end);
    this.consumer.rebuilding(undefined);
  }

  private showPhase(phase: string): void {
    this.rebuildPhase.reset();
    this.rebuildPhase.set({ phase }, 1);
  }

  private countBatch({ applied, durationS }: AppliedBatchReport): void {
    this.count(applied);
    for (const reason of applied.deadLetterKinds) this.deadLetters.inc({ reason });
    this.batchDuration.observe(durationS);
  }

  /** Adds a batch's counts; every outcome and result is exported from the start (at 0), so rates begin at once. */
  private count(applied: Pick<AppliedBatch, 'consumed' | 'skipped' | 'parked' | 'held' | 'badMessages' | 'written' | 'unchanged' | 'deleted'>): void {
    const events = {
      applied: applied.consumed - applied.parked - applied.held - applied.badMessages,
      skipped: applied.skipped,
      parked: applied.parked,
      held: applied.held,
      dead_lettered: applied.badMessages,
    };
    for (const [outcome, n] of Object.entries(events)) this.events.inc({ outcome }, n);
    const rows = { written: applied.written, unchanged: applied.unchanged, deleted: applied.deleted };
    for (const [result, n] of Object.entries(rows)) this.rows.inc({ result }, n);
  }
}
