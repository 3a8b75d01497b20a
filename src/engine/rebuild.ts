/**
 * Rebuild from zero without downtime. Phases (recorded in rebuild_projection.rebuilds):
 *
 *   building     the shadow is filled from the source (Kafka from its earliest offsets, or one snapshot of
 *                `workspaces`); its resume point commits with every batch, so a crash (even kill -9) loses
 *                nothing and the same command resumes it. From Kafka, the events are only folded, and the
 *                rows are then generated once per workspace from the final states (materializing)
 *   catching_up  (Kafka, or a snapshot handed off to Kafka) the shadow consumes until it has reached the live
 *                projection's checkpoints, so events a running --follow consumer applied meanwhile are in it
 *   switched     one transaction, holding the projection's exclusive lock, merged the shadow into the live
 *                table and adopted the shadow's folded states and checkpoints (switch-shadow.ts)
 *
 * The live table is untouched until the switch. One rebuild at a time: a session-level advisory lock.
 */
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { workspaceRowSchema } from '../events/workspace-event.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { assertFullHistory } from '../sources/kafka/history-check.js';
import { partitionKey, readPartitionRanges } from '../sources/kafka/kafka-client.js';
import type { SnapshotRecord } from '../sources/snapshot/snapshot-source.js';
import { readCheckpoints, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { lockProjectionExclusive, tryLockRebuild, unlockRebuild } from '../sink/postgres/projection-locks.js';
import {
  adoptRebuild,
  discardShadow,
  findUnfinishedRebuild,
  startRebuild,
  updateRebuild,
  type Rebuild,
  type RebuildSource,
} from '../sink/postgres/rebuilds.js';
import { shadowAgentkStates } from '../sink/postgres/shadow-agentk-states.js';
import { adoptShadowBookkeeping, switchShadowIntoLive, type SwitchCounts } from '../sink/postgres/switch-shadow.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { listUnappliedParked, saveFolds, type UnappliedParked } from '../sink/postgres/workspace-states.js';
import { snapshotState, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import { runKafkaReplay } from './kafka-replayer.js';
import { materializeShadow } from './materialize-shadow.js';
import { runSnapshotBackfill } from './snapshot-backfill.js';

export type RebuildPhaseName = 'building' | 'materializing' | 'catching_up' | 'switching';

export interface RebuildProgress {
  phase: RebuildPhaseName;
  done: number;
  /** Undefined while unknown. */
  total: number | undefined;
}

export interface RebuildOptions {
  db: pg.Pool;
  /** Where the snapshot is read (GitLab's database or a replica). */
  sourceDb: pg.Pool;
  projection: string;
  source: RebuildSource;
  /** Kafka, for a Kafka rebuild and for a snapshot handed off to the stream. */
  kafka: { kafka: Kafka; topics: string[]; groupId: string } | undefined;
  batchSize: number;
  agentConfigMode: AgentConfigMode;
  signal: AbortSignal;
  log: (line: string) => void;
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildResult {
  rebuild: Rebuild;
  resumed: boolean;
  switched: SwitchCounts;
  failed: number;
  /** Updates still parked at the switch: the history lacks their workspaces' creates (exit 2, named). */
  parked: UnappliedParked;
  buildMs: number;
  switchMs: number;
}

export class RebuildRefusedError extends Error {
  override readonly name = 'RebuildRefusedError';
}

export class RebuildInterruptedError extends Error {
  override readonly name = 'RebuildInterruptedError';
}

/** Catch-up rounds before giving up on reaching a live consumer that keeps running ahead. */
const MAX_CATCH_UP_ROUNDS = 20;

export async function runRebuild(options: RebuildOptions): Promise<RebuildResult> {
  const { db, projection, log } = options;
  if (options.source === 'kafka') {
    if (!options.kafka) throw new RebuildRefusedError('a Kafka rebuild needs brokers: pass --brokers or set KAFKA_BROKERS');
    const admin = options.kafka.kafka.admin();
    await admin.connect();
    try {
      await assertFullHistory(admin, options.kafka.topics);
    } finally {
      await admin.disconnect();
    }
  }
  const lockClient = await db.connect();
  try {
    if (!(await tryLockRebuild(lockClient, projection))) {
      const holder = await findUnfinishedRebuild(db, projection);
      throw new RebuildRefusedError(
        holder
          ? `a rebuild of ${projection} is already running: rebuild #${holder.id} on host ${holder.host}, pid ${holder.pid}, started ${holder.started_at.toISOString()}`
          : `a rebuild of ${projection} is already running (it holds the advisory lock but has not registered yet)`,
      );
    }
    try {
      return await rebuildHoldingLock(options);
    } finally {
      await unlockRebuild(lockClient, projection);
    }
  } finally {
    lockClient.release();
  }
}

async function rebuildHoldingLock(options: RebuildOptions): Promise<RebuildResult> {
  const { db, projection, log } = options;
  const started = performance.now();
  let rebuild = await findUnfinishedRebuild(db, projection);
  let resumed = false;
  if (rebuild && rebuild.source === options.source) {
    log(`resuming rebuild #${rebuild.id} (${rebuild.source}, started ${rebuild.started_at.toISOString()} by pid ${rebuild.pid} on ${rebuild.host})`);
    rebuild = await adoptRebuild(db, rebuild.id);
    resumed = true;
  } else {
    if (rebuild) {
      log(`abandoning unfinished rebuild #${rebuild.id} from ${rebuild.source}: this one reads ${options.source}`);
      const stale = rebuild;
      await withTransaction(db, async (client) => {
        await discardShadow(client, stale);
        await updateRebuild(client, stale.id, { phase: 'abandoned' });
      });
    }
    rebuild = await startRebuild(db, projection, options.source);
  }
  const sink = shadowAgentkStates(rebuild.id);
  let failed = 0;

  if (options.source === 'snapshot') {
    failed += await buildFromSnapshot(options, rebuild, sink);
    if (options.kafka) failed += await catchUpShadow(options, rebuild, sink, 'catching_up');
  } else {
    failed += await catchUpShadow(options, rebuild, sink, 'building');
    failed += await materialize(options, rebuild, sink);
  }
  await updateRebuild(db, rebuild.id, { builtAt: new Date() });
  const buildMs = performance.now() - started;

  const switchStarted = performance.now();
  for (let round = 1; ; round++) {
    interruptIfAborted(options.signal, rebuild);
    options.onProgress?.({ phase: 'switching', done: 0, total: undefined });
    const outcome = await withTransaction(db, async (client) => {
      await lockProjectionExclusive(client, projection);
      if (options.kafka) {
        const behind = await shadowBehindLive(client, projection, rebuild!, options.kafka.topics);
        if (behind.length > 0) return { behind };
      }
      const parked = await listUnappliedParked(client, rebuild!.shadow_projection);
      // The switch reads the shadow's folded states (which workspaces were deleted): adopt them after it.
      const counts = await switchShadowIntoLive(client, rebuild!.shadow_projection, rebuild!.id);
      if (options.kafka) await adoptShadowBookkeeping(client, projection, rebuild!.shadow_projection);
      await client.query('DELETE FROM rebuild_projection.shadow_agentk_states WHERE rebuild_id = $1', [rebuild!.id]);
      await updateRebuild(client, rebuild!.id, { phase: 'switched', switched: counts });
      return { counts, parked };
    });
    if (outcome.counts) {
      const switchMs = performance.now() - switchStarted;
      return { rebuild: { ...rebuild, phase: 'switched' }, resumed, switched: outcome.counts, failed, parked: outcome.parked, buildMs, switchMs };
    }
    if (round >= MAX_CATCH_UP_ROUNDS) {
      throw new RebuildRefusedError(`the shadow could not catch up with the live consumer after ${round} rounds (${outcome.behind?.join(', ')})`);
    }
    log(`shadow is behind the live consumer on ${outcome.behind?.join(', ')}: catching up`);
    failed += await catchUpShadow(options, rebuild, sink, 'catching_up');
  }
}

function interruptIfAborted(signal: AbortSignal, rebuild: Rebuild): void {
  if (signal.aborted) {
    throw new RebuildInterruptedError(`rebuild #${rebuild.id} interrupted before its switch; run the same command again to resume it`);
  }
}

async function materialize(options: RebuildOptions, rebuild: Rebuild, sink: ReturnType<typeof shadowAgentkStates>): Promise<number> {
  const { rows } = await options.db.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM rebuild_projection.workspace_states WHERE projection = $1 AND NOT deleted',
    [rebuild.shadow_projection],
  );
  const total = Number(rows[0]?.n ?? 0);
  options.onProgress?.({ phase: 'materializing', done: 0, total });
  const counts = await materializeShadow(options.db, rebuild.shadow_projection, sink, {
    batchSize: options.batchSize,
    agentConfigMode: options.agentConfigMode,
    onProgress: (done) => options.onProgress?.({ phase: 'materializing', done, total }),
  });
  interruptIfAborted(options.signal, rebuild);
  return counts.failed;
}

/** Partitions where the live projection has applied more than the shadow has (a running --follow consumer). */
async function shadowBehindLive(client: pg.ClientBase, projection: string, rebuild: Rebuild, topics: string[]): Promise<string[]> {
  const shadow = new Map((await readCheckpoints(client, rebuild.shadow_projection, topics)).map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
  return (await readCheckpoints(client, projection, topics))
    .filter((live) => BigInt(live.nextOffset) > BigInt(shadow.get(partitionKey(live.topic, live.partition)) ?? '0'))
    .map((live) => `${partitionKey(live.topic, live.partition)} (live ${live.nextOffset}, shadow ${shadow.get(partitionKey(live.topic, live.partition)) ?? 'none'})`);
}

/** Consumes into the shadow from its checkpoints up to the end offsets of now. Returns the dead-lettered count. */
async function catchUpShadow(
  options: RebuildOptions,
  rebuild: Rebuild,
  sink: ReturnType<typeof shadowAgentkStates>,
  phase: 'building' | 'catching_up',
): Promise<number> {
  const kafka = options.kafka!;
  await updateRebuild(options.db, rebuild.id, { phase });
  const total = await remainingEvents(options, rebuild);
  options.onProgress?.({ phase, done: 0, total });
  const totals = await runKafkaReplay({
    kafka: kafka.kafka,
    db: options.db,
    projection: rebuild.shadow_projection,
    topics: kafka.topics,
    // Its own group: the shadow must not take partitions away from a live --follow consumer.
    groupId: `${kafka.groupId}.rebuild-${rebuild.id}`,
    follow: false,
    start: { kind: 'checkpoints' },
    agentConfigMode: options.agentConfigMode,
    sink,
    // The first pass over the history only folds; later catch-ups are small and write rows directly.
    materialize: phase !== 'building',
    signal: options.signal,
    log: options.log,
    onBatch: (t) => {
      options.onProgress?.({ phase, done: t.consumed + t.skipped, total });
    },
  });
  await updateRebuild(options.db, rebuild.id, { done: totals.consumed });
  interruptIfAborted(options.signal, rebuild);
  return totals.failed;
}

/** Events between the shadow's checkpoints (or the log start) and the end offsets: the progress total. */
async function remainingEvents(options: RebuildOptions, rebuild: Rebuild): Promise<number> {
  const kafka = options.kafka!;
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    const ranges = await readPartitionRanges(admin, kafka.topics);
    const checkpoints = new Map(
      (await readCheckpoints(options.db, rebuild.shadow_projection, kafka.topics)).map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]),
    );
    return ranges.reduce((sum, r) => sum + Number(BigInt(r.high) - BigInt(checkpoints.get(partitionKey(r.topic, r.partition)) ?? r.low)), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Fills the shadow from one snapshot. With Kafka configured this is a handoff: the end offsets are recorded
 * BEFORE the snapshot is taken and become the shadow's checkpoints, and the snapshot's rows become folded
 * states at version 0, so every event from those offsets on applies over them (an event the snapshot already
 * reflects is re-applied, harmlessly, before the later ones). Nothing that happened during the snapshot is lost.
 */
async function buildFromSnapshot(options: RebuildOptions, rebuild: Rebuild, sink: ReturnType<typeof shadowAgentkStates>): Promise<number> {
  const { db } = options;
  if (options.kafka && rebuild.start_offsets === null) {
    const admin = options.kafka.kafka.admin();
    await admin.connect();
    try {
      const ranges = await readPartitionRanges(admin, options.kafka.topics);
      const startOffsets = Object.fromEntries(ranges.map((r) => [partitionKey(r.topic, r.partition), r.high]));
      await withTransaction(db, async (client) => {
        await saveCheckpoints(client, rebuild.shadow_projection, ranges.map((r) => ({ topic: r.topic, partition: r.partition, nextOffset: r.high })));
        await updateRebuild(client, rebuild.id, { startOffsets });
      });
    } finally {
      await admin.disconnect();
    }
  }
  let done = rebuild.done;
  let afterId = rebuild.snapshot_after_id ?? 0;
  let total: number | undefined;
  const summary = await runSnapshotBackfill(options.sourceDb, db, {
    batchSize: options.batchSize,
    agentConfigMode: options.agentConfigMode,
    afterWorkspaceId: rebuild.snapshot_after_id ?? undefined,
    changedSince: rebuild.snapshot_taken_at ?? undefined,
    sink,
    onSnapshotOpened: async (snapshot) => {
      total = done + snapshot.total;
      if (rebuild.snapshot_taken_at === null) await updateRebuild(db, rebuild.id, { snapshotTakenAt: snapshot.takenAt, total });
    },
    withinBatch: async (client, records) => {
      afterId = Math.max(afterId, ...records.map((r) => r.workspaceId));
      done += records.length;
      await updateRebuild(client, rebuild.id, { snapshotAfterId: afterId, done });
      if (options.kafka) await saveFolds(client, rebuild.shadow_projection, snapshotFolds(records));
    },
    onProgress: () => options.onProgress?.({ phase: 'building', done, total }),
    signal: options.signal,
  });
  interruptIfAborted(options.signal, rebuild);
  return summary.failed;
}

function snapshotFolds(records: readonly SnapshotRecord[]): Map<number, WorkspaceFold> {
  const folds = new Map<number, WorkspaceFold>();
  for (const record of records) {
    const row = workspaceRowSchema.safeParse(record.row);
    // A row that does not parse was dead-lettered by the projection; it gets no folded state either.
    if (row.success) folds.set(record.workspaceId, { state: snapshotState(row.data), parked: [] });
  }
  return folds;
}
