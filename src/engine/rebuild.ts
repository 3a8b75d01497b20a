/**
 * Rebuild from zero without downtime. Phases (recorded in rebuild_projection.rebuilds):
 *
 *   building     the shadow is filled from the source (Kafka from its earliest offsets, a file, or one snapshot
 *                of `workspaces`); its resume point commits with every batch, so a crash (even kill -9) loses
 *                nothing and the same command resumes it. From Kafka or a file, the events are only folded, and the
 *                rows are then generated once per workspace from the final states (materializing)
 *   catching_up  (Kafka, or a snapshot handed off to Kafka) the shadow consumes until it has reached the live
 *                projection's checkpoints, so events a running --follow consumer applied meanwhile are in it.
 *                After at most UNLOCKED_CATCH_UP_ROUNDS rounds beside a busy consumer, the last round runs
 *                holding the projection's exclusive lock (the consumer's batches wait), so it always converges
 *   switched     in that same transaction, on the session holding the rebuild lock, the shadow was merged
 *                into the live table and its folded states and checkpoints adopted (switch-shadow.ts)
 *
 * `built_at` is set once the shadow is complete (cleared while a resumed run builds it again). Two ways to
 * stop short of the switch, both leaving the rebuild unfinished with its shadow kept:
 *   --no-switch        (`until: 'built'`) the run ends after the unlocked catch-up rounds; `--preview` then
 *                      reports on the shadow, and `--switch` (`switchOnly`) switches it without building again
 *   a guard refusing   (`guard`: `--fingerprint`, `--max-restarts`) inside the switch transaction, under the
 *                      projection lock and with the live table locked against writes, the impact of the
 *                      merge is computed (impact/) and the switch refused when it is not the previewed diff
 *                      or restarts more running workspaces than allowed: nothing is switched
 *
 * The live table is untouched until the switch, except on a first install (no consumer of ours has written it, and
 * nothing waits to preview the switch): there the rows of workspaces that have no live row are inserted as they
 * are generated, once, instead of into the shadow and again by the switch. One rebuild at a time: a session-level advisory lock on a
 * dedicated connection; losing that connection stops the rebuild before its switch (RebuildLockLostError).
 * Each rebuild consumes in its own Kafka group (rebuildGroupId), deleted once the rebuild switched or was
 * abandoned. A transient failure of a pooled connection is retried; every phase is idempotent.
 */
import type { Kafka } from 'kafkajs';
import { logRetry, type Logger } from '../ops/logger.js';
import type { Database, Session } from '../sink/postgres/database.js';
import { createWorkspaceDecoder, type WorkspaceDecoder } from '../events/decode.js';
import { workspaceRowSchema } from '../../projections/agentk-states/events.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { assertFullHistory } from '../sources/kafka/history-check.js';
import { partitionKey, readPartitionRanges, withKafkaAdmin } from '../sources/kafka/kafka-client.js';
import { FILE_SOURCE_PREFIX, type EventFile } from '../sources/file/file-source.js';
import type { SnapshotRecord } from '../sources/snapshot/snapshot-source.js';
import { checkpointTopics, readCheckpoints, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { withProjectionFrozen } from '../sink/postgres/projection-locks.js';
import { withRebuildLock } from '../sink/postgres/rebuild-lock.js';
import {
  adoptRebuild,
  discardShadow,
  findUnfinishedRebuild,
  rebuildGroupId,
  startRebuild,
  updateRebuild,
  type Rebuild,
  type RebuildSource,
} from '../sink/postgres/rebuilds.js';
import { dropShadowRows, pruneShadowRange, shadowAgentkStates } from '../sink/postgres/shadow-agentk-states.js';
import { adoptShadowBookkeeping, LiveRowsChangedError, lockLiveAgainstWrites, switchShadowIntoLive, type SwitchCounts } from '../sink/postgres/switch-shadow.js';
import { withClient, withTransaction } from '../sink/postgres/transaction.js';
import { countLiveFolds, listUnappliedParked, saveFolds, type UnappliedParked } from '../sink/postgres/workspace-states.js';
import { snapshotFold, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import { runFileReplay } from './file-replayer.js';
import type { Generator } from './generation/generator.js';
import { computeImpact, type ImpactCache } from './impact/compute-impact.js';
import type { Impact } from './impact/impact.js';
import { runKafkaReplay } from './kafka-replayer.js';
import { materializeShadow } from './materialize-shadow.js';
import { retryTransient } from './retry.js';
import { runSnapshotBackfill } from './snapshot-backfill.js';

/** The phases a rebuild reports progress in, in order. */
export const REBUILD_PHASES = ['building', 'materializing', 'catching_up', 'switching'] as const;
export type RebuildPhaseName = (typeof REBUILD_PHASES)[number];

export interface RebuildProgress {
  phase: RebuildPhaseName;
  done: number;
  /** Undefined while unknown. */
  total: number | undefined;
  /** The switch counts steps (`done` of `total`): the one now running. */
  step?: string;
}

/** The topics a rebuild consumes, and the group its own consumer group is named after. */
export interface RebuildStream {
  kafka: Kafka;
  topics: string[];
  groupId: string;
}

/** Where a rebuild's shadow is built from. */
export type SourcePlan =
  | { from: 'kafka'; stream: RebuildStream }
  /** `file` is undefined only when switching a built rebuild (nothing is read from it then). */
  | { from: 'file'; file: EventFile | undefined }
  /** One snapshot of `workspaces` read from `sourceDb`; `handoff`: then the stream from the offsets of before it. */
  | { from: 'snapshot'; sourceDb: Database; handoff: RebuildStream | undefined };

/**
 * What a run does: build (or resume) a shadow from a source, or (`built`, --switch) switch the unfinished
 * rebuild whose shadow is built, whose own source decides; `stream` lets it catch up with Kafka first.
 */
export type RebuildPlan = SourcePlan | { from: 'built'; stream: RebuildStream | undefined };

/** The file topic (`file:<name>`) a file rebuild records, null for the other sources. */
function fileTopic(plan: SourcePlan): string | null {
  return plan.from === 'file' ? (plan.file?.topic ?? null) : null;
}

/** The stream a source catches up with before its switch, if any. */
function streamOf(plan: SourcePlan): RebuildStream | undefined {
  return plan.from === 'kafka' ? plan.stream : plan.from === 'snapshot' ? plan.handoff : undefined;
}

export interface RebuildOptions {
  db: Database;
  projection: string;
  plan: RebuildPlan;
  batchSize: number;
  agentConfigMode: AgentConfigMode;
  /** The Kafka decoder (--schemas); default: the package's catalog. */
  decode?: WorkspaceDecoder | undefined;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (progress: RebuildProgress) => void;
  /** `'built'` (--no-switch): stop once the shadow is built and caught up, keeping it. Default `'switched'`. */
  until?: 'built' | 'switched';
  /** Checked inside the switch transaction; refusing leaves the shadow for --preview. */
  guard?: SwitchGuard;
  /** Switches whose undo logs are kept after this one (--rollback-history). Default 3. */
  rollbackHistory?: number;
  /** Where the build generates rows (--workers); default: this thread. */
  generator?: Generator | undefined;
}

export interface SwitchGuard {
  /** Switch only if the diff's fingerprint is this one (--fingerprint, from --preview or --no-switch). */
  fingerprint?: string;
  /** Refuse when more running workspaces than this would restart (--max-restarts). */
  maxRestarts?: number;
}

interface RebuildOutcome {
  rebuild: Rebuild;
  resumed: boolean;
  failed: number;
  /** Updates still parked: the history lacks their workspaces' creates (exit 2, named). */
  parked: UnappliedParked;
  buildMs: number;
  /** Workspaces this run generated shadow rows for while building (not an earlier run's): the build rate's count. */
  generated: number;
}

/** What a build step did: workspaces dead-lettered, and workspaces it generated rows for. */
interface Built {
  failed: number;
  generated: number;
}

export type RebuildResult =
  | (RebuildOutcome & { outcome: 'switched'; switched: SwitchCounts; switchMs: number; /** Computed when a guard was given. */ impact: Impact | undefined })
  | (RebuildOutcome & { outcome: 'built' });

export class RebuildRefusedError extends Error {
  override readonly name: string = 'RebuildRefusedError';
}

/** A switch guard (--fingerprint, --max-restarts) refused: nothing was switched, the shadow is kept. */
export class SwitchRefusedError extends RebuildRefusedError {
  override readonly name = 'SwitchRefusedError';
}

export class RebuildInterruptedError extends Error {
  override readonly name = 'RebuildInterruptedError';
}

/** The rebuild lock's session ended (terminated, network): the rebuild stopped before its switch. */
export class RebuildLockLostError extends Error {
  override readonly name = 'RebuildLockLostError';
}

/**
 * Catch-up rounds beside a live consumer before the last one runs holding the projection's exclusive lock.
 * Each unlocked round shrinks the gap, so the locked one (which makes the consumer wait) is short.
 */
const UNLOCKED_CATCH_UP_ROUNDS = 2;

/** The options once the plan is resolved: the source, and whether this run only switches a built shadow. */
interface ResolvedOptions extends Omit<RebuildOptions, 'plan'> {
  plan: SourcePlan;
  /** --switch: switch the built shadow without building it again (it still catches up first). */
  switchOnly: boolean;
  /** The stream the shadow catches up with before its switch (streamOf(plan)). */
  stream: RebuildStream | undefined;
}

export async function runRebuild(requested: RebuildOptions): Promise<RebuildResult> {
  const { db, projection } = requested;
  const plan = requested.plan.from === 'built' ? await builtPlan(db, projection, requested.plan.stream) : requested.plan;
  const options: ResolvedOptions = { ...requested, plan, switchOnly: requested.plan.from === 'built', stream: streamOf(plan) };
  let compacted = new Set<string>();
  if (plan.from === 'kafka') {
    compacted = await withKafkaAdmin(plan.stream.kafka, (admin) => assertFullHistory(admin, plan.stream.topics));
  }
  const outcome = await withRebuildLock(db, projection, async (lock) => {
    try {
      return await rebuildHoldingLock({ ...options, signal: AbortSignal.any([options.signal, lock.lost]) }, lock.client, compacted);
    } catch (error) {
      const lostBecause = lock.lostBecause();
      if (lostBecause) {
        throw new RebuildLockLostError(
          `lost the rebuild lock (its database session ended: ${lostBecause.message}); the rebuild stopped before its switch and the live table is untouched; run the same command again to resume it`,
          { cause: error },
        );
      }
      throw error;
    }
  });
  if (outcome.held) return outcome.value;
  const holder = await findUnfinishedRebuild(db, projection);
  throw new RebuildRefusedError(
    holder
      ? `a rebuild of ${projection} is already running: rebuild #${holder.id} on host ${holder.host}, pid ${holder.pid}, started ${holder.started_at.toISOString()}`
      : `a rebuild of ${projection} is already running (it holds the advisory lock but has not registered yet)`,
  );
}

/**
 * --switch: the built rebuild's own source; it needs the stream when it was built from Kafka or handed off to it
 * (a snapshot's source database is not read again).
 */
async function builtPlan(db: Database, projection: string, stream: RebuildStream | undefined): Promise<SourcePlan> {
  const built = await requireBuiltShadow(db, projection, 'switch');
  const needsStream = built.source === 'kafka' || built.start_offsets !== null;
  if (needsStream && !stream) throw new RebuildRefusedError(`rebuild #${built.id} catches up with Kafka before its switch: pass --brokers or set KAFKA_BROKERS`);
  if (built.source === 'kafka') return { from: 'kafka', stream: stream! };
  if (built.source === 'file') return { from: 'file', file: undefined };
  return { from: 'snapshot', sourceDb: db, handoff: needsStream ? stream : undefined };
}

async function rebuildHoldingLock(options: ResolvedOptions, lockClient: Session, compacted: ReadonlySet<string>): Promise<RebuildResult> {
  const { db, projection } = options;
  const started = performance.now();
  let rebuild = await findUnfinishedRebuild(db, projection);
  let resumed = false;
  if (options.switchOnly) {
    // Read again under the lock: the rebuild peeked at before may have been resumed and finished since.
    const built = await requireBuiltShadow(db, projection, 'switch');
    if (built.source !== options.plan.from) throw new RebuildRefusedError(`rebuild #${built.id} changed while --switch waited for it: run --preview again`);
    options.log.info(`switching rebuild #${built.id} (${built.source}, built ${built.built_at!.toISOString()})`, { rebuildId: built.id });
    rebuild = await adoptRebuild(db, built.id);
    resumed = true;
  } else if (rebuild && rebuild.source === options.plan.from && rebuild.source_file === fileTopic(options.plan)) {
    options.log.info(`resuming rebuild #${rebuild.id} (${rebuild.source_file ?? rebuild.source}, started ${rebuild.started_at.toISOString()} by pid ${rebuild.pid} on ${rebuild.host})`, {
      rebuildId: rebuild.id,
    });
    rebuild = await adoptRebuild(db, rebuild.id);
    resumed = true;
  } else {
    if (rebuild) {
      options.log.warn(`abandoning unfinished rebuild #${rebuild.id} from ${rebuild.source_file ?? rebuild.source}: this one reads ${fileTopic(options.plan) ?? options.plan.from}`, { rebuildId: rebuild.id });
      await abandonRebuild(options, rebuild);
    }
    rebuild = await startRebuild(db, projection, options.plan.from, fileTopic(options.plan));
  }
  const current = rebuild;
  const log = options.log.child({ rebuildId: current.id });
  // Every phase resumes from what has committed, so a transient failure (a pooled connection lost) is retried.
  const retrying = <T>(step: string, work: () => Promise<T>): Promise<T> =>
    retryTransient(work, {
      signal: options.signal,
      onRetry: logRetry(log, `rebuild #${current.id}: ${step}`),
    });
  // A first install (no consumer of ours has written the live table) that switches as soon as it is built writes
  // the rows of workspaces without a live row straight into it, once (shadow-agentk-states.ts).
  // Not from a compacted topic: its switch may be refused (parked updates), which must leave the table as it was.
  const firstInstall =
    !options.switchOnly && options.until !== 'built' && !options.guard && compacted.size === 0 && (await retrying('build', () => checkpointTopics(db, projection))).length === 0;
  const sink = shadowAgentkStates(current.id, firstInstall ? { liveProjection: projection } : undefined);
  let failed = 0;
  let generated = 0;

  const { plan } = options;
  if (!options.switchOnly) {
    // Not switchable (--switch, --preview) until built again: a run killed halfway leaves a mixed shadow.
    await retrying('build', () => updateRebuild(db, current.id, { builtAt: null }));
    if (plan.from === 'snapshot') {
      // A rebuild interrupted while catching up has a complete snapshot; re-reading it would overwrite folded
      // states the catch-up already advanced past the checkpoints.
      if (current.phase === 'building') {
        const built = await retrying('snapshot', () => buildFromSnapshot(options, plan.sourceDb, sink));
        failed += built.failed;
        generated = built.generated;
      }
      if (options.stream) failed += await retrying('catch-up', () => catchUpShadow(options, current, sink, 'catching_up'));
    } else {
      // A topic's or a file's history: folded first, then each workspace generated once.
      failed += await retrying('build', () => (plan.from === 'file' ? buildFromFile(options, plan.file!, current, sink) : catchUpShadow(options, current, sink, 'building')));
      const built = await retrying('materialize', () => materialize(options, current, sink));
      failed += built.failed;
      generated = built.generated;
    }
    await retrying('build', () => updateRebuild(db, current.id, { builtAt: new Date() }));
  }
  const buildMs = performance.now() - started;

  const switchStarted = performance.now();
  if (options.stream) {
    const { topics } = options.stream;
    for (let round = 1; round <= UNLOCKED_CATCH_UP_ROUNDS; round++) {
      const behind = await retrying('catch-up', () => shadowBehindLive(db, projection, current, topics));
      if (behind.length === 0) break;
      log.info(`shadow is behind the live consumer on ${behind.join(', ')}: catching up`, { round });
      failed += await retrying('catch-up', () => catchUpShadow(options, current, sink, 'catching_up'));
    }
  }
  interruptIfAborted(options.signal, current);
  if (options.until === 'built') {
    const parked = await retrying('build', () => listUnappliedParked(db, current.shadow_projection));
    log.info(`rebuild #${current.id}: shadow built, not switched (--no-switch); preview it with --preview, switch it with --switch --fingerprint F`);
    return { outcome: 'built', rebuild: (await findUnfinishedRebuild(db, projection)) ?? current, resumed, failed, parked, buildMs, generated };
  }
  // The switch reports its steps, so that a long merge (or a catch-up under the lock) shows where it is.
  const steps = [
    ...(options.guard ? [SWITCH_STEPS.impact] : []),
    ...(options.stream ? [SWITCH_STEPS.catchUp] : []),
    ...(options.guard ? [SWITCH_STEPS.lockedImpact] : []),
    SWITCH_STEPS.merge,
  ];
  const step = (name: string) => options.onProgress?.({ phase: 'switching', done: steps.indexOf(name), total: steps.length, step: name });
  // A guard's diff is measured twice: here without locks (summarizing every changed row), then inside the
  // switch transaction, where only rows written since cost a summary, so the consumers wait for less.
  const impactCache: ImpactCache = new Map();
  if (options.guard) {
    step(SWITCH_STEPS.impact);
    await retrying('impact', () => withClient(db, (client) => computeImpact(client, current, { cache: impactCache })));
  }
  // Retried as a whole when transient (e.g. GitLab deleting a workspace between the switch's check and insert).
  const switching = retrying('switch', () => withProjectionFrozen(lockClient, projection, async () => {
    if (options.stream) {
      step(SWITCH_STEPS.catchUp);
      // The live consumer now waits for this transaction: what it applied is final, and one round reaches it.
      const { topics } = options.stream;
      if ((await shadowBehindLive(lockClient, projection, current, topics)).length > 0) {
        // Counted as a step of the switch, not as a phase of its own.
        failed += await catchUpShadow({ ...options, onProgress: undefined }, current, sink, 'catching_up');
        const behind = await shadowBehindLive(lockClient, projection, current, topics);
        if (behind.length > 0) throw new RebuildRefusedError(`rebuild #${current.id}: the shadow stopped short of the live consumer on ${behind.join(', ')}`);
      }
    }
    interruptIfAborted(options.signal, current);
    if (options.plan.from === 'file') await refuseDroppingLiveTopics(lockClient, projection, current);
    const unapplied = await listUnappliedParked(lockClient, current.shadow_projection);
    // On a compacted topic, a parked workspace means compaction removed the create its updates need: the
    // topic does not carry full rows, and a switch would keep those workspaces' stale rows. Refuse it.
    if (unapplied.workspaces > 0 && options.plan.from === 'kafka' && compacted.size > 0) {
      throw new RebuildRefusedError(
        `cannot rebuild from the compacted topic ${[...compacted].join(', ')}: ${describeParked(unapplied)}. ` +
          `Compaction removed their creates, so the topic's events are not full rows. Nothing was switched. Rebuild with --source snapshot`,
      );
    }
    let impact: Impact | undefined;
    if (options.guard) {
      // What is measured is what is merged: GitLab's own writes to the table wait until COMMIT too (its
      // readers do not), and the projection lock already holds back our consumers.
      step(SWITCH_STEPS.lockedImpact);
      await lockLiveAgainstWrites(lockClient);
      impact = await computeImpact(lockClient, current, { sampleSize: GUARD_REPORT_LIMIT, cache: impactCache });
      checkSwitchGuard(current, impact, options.guard);
    }
    step(SWITCH_STEPS.merge);
    // The switch reads the shadow's folded states (which workspaces were deleted): adopt them after it.
    const switched = await switchShadowIntoLive(lockClient, current.shadow_projection, current.id, options.rollbackHistory);
    // A file's folded states and checkpoints (the dump's topics, or the file's own) are the live ones from now on.
    if (options.stream || options.plan.from === 'file') await adoptShadowBookkeeping(lockClient, projection, current.shadow_projection);
    await dropShadowRows(lockClient, current.id);
    await updateRebuild(lockClient, current.id, { phase: 'switched', switched });
    return { counts: switched, parked: unapplied, impact };
  }));
  const { counts, parked, impact } = await switching.catch(async (error: unknown) => {
    if (!(error instanceof LiveRowsChangedError)) throw error;
    // The shadow no longer holds what those rows should be: the next run starts a new rebuild.
    await retrying('switch', () => abandonRebuild(options, current));
    throw new RebuildRefusedError(error.message, { cause: error });
  });
  await deleteRebuildGroup(options, current);
  const switchMs = performance.now() - switchStarted;
  return { outcome: 'switched', rebuild: { ...current, phase: 'switched' }, resumed, switched: counts, failed, parked, buildMs, generated, switchMs, impact };
}

const SWITCH_STEPS = {
  impact: 'measuring the impact',
  catchUp: 'catching up under the lock',
  lockedImpact: 'measuring the impact under the lock',
  merge: 'merging into the live table',
};

/**
 * A file rebuild's switch adopts the file's folded states and checkpoints. When a consumer also maintains the
 * live table from Kafka topics the file does not carry, what it applied would be replaced by the file's (older)
 * states, and it would not deliver those events again: refuse, before anything is switched.
 */
async function refuseDroppingLiveTopics(session: Session, projection: string, rebuild: Rebuild): Promise<void> {
  const fileTopics = new Set(await checkpointTopics(session, rebuild.shadow_projection));
  // Another file's checkpoints are no consumer's: a rebuild from a newer file replaces them, as it should.
  const others = (await checkpointTopics(session, projection)).filter((topic) => !fileTopics.has(topic) && !topic.startsWith(FILE_SOURCE_PREFIX));
  if (others.length === 0) return;
  throw new RebuildRefusedError(
    `rebuild #${rebuild.id} from ${rebuild.source_file}: the live table is also kept from ${others.join(', ')} (a consumer's checkpoints), ` +
      `which the file does not carry; switching would replace what that consumer applied. Nothing was switched: ` +
      `rebuild from Kafka or --source snapshot, or replay the file into the live table with --from-checkpoint`,
  );
}

/** Workspaces a guard's refusal names. */
const GUARD_REPORT_LIMIT = 10;

/** Throws SwitchRefusedError (one line) when the impact is not what the guard allows. */
export function checkSwitchGuard(rebuild: Pick<Rebuild, 'id'>, impact: Impact, guard: SwitchGuard): void {
  if (guard.fingerprint !== undefined && impact.fingerprint !== guard.fingerprint) {
    throw new SwitchRefusedError(
      `rebuild #${rebuild.id}: the diff is not the one previewed (its fingerprint is now ${impact.fingerprint}, not ${guard.fingerprint}): ` +
        `the shadow or the live table changed since the preview. Nothing was switched; run --preview again`,
    );
  }
  const restarts = impact.counts.restartRunning;
  if (guard.maxRestarts !== undefined && restarts > guard.maxRestarts) {
    const named = impact.sample.filter((w) => w.change === 'restart' && w.running).map((w) => w.workspaceId);
    throw new SwitchRefusedError(
      `rebuild #${rebuild.id}: ${restarts} running workspaces would restart, more than --max-restarts ${guard.maxRestarts} ` +
        `(${named.join(', ')}${restarts > named.length ? ', …' : ''}). Nothing was switched; the shadow is kept: ` +
        `inspect it with --preview, then switch it with --switch --fingerprint ${impact.fingerprint}`,
    );
  }
}

/** The unfinished rebuild whose shadow is built (for --preview and --switch), or a refusal that says what to run. */
export async function requireBuiltShadow(db: Session, projection: string, what: 'preview' | 'switch'): Promise<Rebuild> {
  const rebuild = await findUnfinishedRebuild(db, projection);
  if (!rebuild) {
    throw new RebuildRefusedError(
      `no built shadow to ${what}: build one with \`rebuild-projection agentk-states --no-switch\` (it stops before the switch and prints the preview)`,
    );
  }
  if (!rebuild.built_at) {
    throw new RebuildRefusedError(
      `rebuild #${rebuild.id} (${rebuild.source}, ${rebuild.phase}) has not finished building its shadow: finish it with ` +
        `\`rebuild-projection agentk-states --no-switch${rebuild.source === 'kafka' ? '' : rebuild.source === 'file' ? ' --source file:PATH' : ' --source snapshot'}\`, then ${what === 'preview' ? '--preview' : '--switch'}`,
    );
  }
  return rebuild;
}

/** "N workspaces (M updates) stay parked …: 12 (2 from t[0]@5, t[0]@9); …" for messages. */
export function describeParked(parked: UnappliedParked): string {
  const named = parked.sample.map((p) => `${p.workspaceId} (${p.updates} from ${p.from})`).join('; ');
  return (
    `${parked.workspaces} workspaces (${parked.updates} updates) stay parked, waiting for creates the topic does not hold: ` +
    `${named}${parked.workspaces > parked.sample.length ? '; …' : ''}`
  );
}

/**
 * A switched or abandoned rebuild's consumer group would linger in Kafka with a stale lag. Its positions live
 * in PostgreSQL, so failing to delete it only leaves that behind: said, not fatal.
 */
async function deleteRebuildGroup(options: ResolvedOptions, rebuild: Rebuild): Promise<void> {
  if (!options.stream) return;
  const groupId = rebuildGroupId(options.stream.groupId, rebuild);
  try {
    await withKafkaAdmin(options.stream.kafka, (admin) => admin.deleteGroups([groupId]));
  } catch (error) {
    const groups = (error as { groups?: { error?: { type?: string } }[] }).groups;
    // Never created (the rebuild consumed nothing from Kafka) is the same as deleted.
    if (!groups?.every((g) => g.error?.type === 'GROUP_ID_NOT_FOUND')) {
      options.log.warn(
        `rebuild #${rebuild.id}: could not delete its Kafka consumer group ${groupId} (delete it with kafka-consumer-groups --delete): ${(error as Error).message}`,
        { rebuildId: rebuild.id, groupId, err: error },
      );
    }
  }
}

/** Drops an unfinished rebuild's shadow and bookkeeping and marks it abandoned. */
async function abandonRebuild(options: ResolvedOptions, rebuild: Rebuild): Promise<void> {
  await withTransaction(options.db, async (client) => {
    await discardShadow(client, rebuild);
    await updateRebuild(client, rebuild.id, { phase: 'abandoned' });
  });
  await deleteRebuildGroup(options, rebuild);
}

function interruptIfAborted(signal: AbortSignal, rebuild: Rebuild): void {
  if (signal.aborted) {
    throw new RebuildInterruptedError(`rebuild #${rebuild.id} interrupted before its switch; run the same command again to resume it`);
  }
}

async function materialize(options: ResolvedOptions, rebuild: Rebuild, sink: ReturnType<typeof shadowAgentkStates>): Promise<Built> {
  const total = await countLiveFolds(options.db, rebuild.shadow_projection);
  options.onProgress?.({ phase: 'materializing', done: 0, total });
  const counts = await materializeShadow(options.db, rebuild.shadow_projection, sink, {
    batchSize: options.batchSize,
    agentConfigMode: options.agentConfigMode,
    generator: options.generator,
    onProgress: (done) => options.onProgress?.({ phase: 'materializing', done, total }),
  });
  interruptIfAborted(options.signal, rebuild);
  return { failed: counts.failed, generated: counts.written + counts.unchanged + counts.failed };
}

/** Partitions where the live projection has applied more than the shadow has (a running --follow consumer). */
async function shadowBehindLive(client: Session, projection: string, rebuild: Rebuild, topics: string[]): Promise<string[]> {
  const shadow = new Map((await readCheckpoints(client, rebuild.shadow_projection, topics)).map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
  return (await readCheckpoints(client, projection, topics))
    .filter((live) => BigInt(live.nextOffset) > BigInt(shadow.get(partitionKey(live.topic, live.partition)) ?? '0'))
    .map((live) => `${partitionKey(live.topic, live.partition)} (live ${live.nextOffset}, shadow ${shadow.get(partitionKey(live.topic, live.partition)) ?? 'none'})`);
}

/** Consumes into the shadow from its checkpoints up to the end offsets of now. Returns the dead-lettered count. */
async function catchUpShadow(
  options: ResolvedOptions,
  rebuild: Rebuild,
  sink: ReturnType<typeof shadowAgentkStates>,
  phase: 'building' | 'catching_up',
): Promise<number> {
  const kafka = options.stream!;
  await updateRebuild(options.db, rebuild.id, { phase });
  const total = await remainingEvents(options, rebuild);
  options.onProgress?.({ phase, done: 0, total });
  const totals = await runKafkaReplay({
    kafka: kafka.kafka,
    db: options.db,
    projection: rebuild.shadow_projection,
    topics: kafka.topics,
    // Its own group: the shadow must not take partitions away from a live --follow consumer, nor from
    // another database's rebuild.
    groupId: rebuildGroupId(kafka.groupId, rebuild),
    follow: false,
    start: { kind: 'checkpoints' },
    agentConfigMode: options.agentConfigMode,
    decode: options.decode,
    sink,
    // The first pass over the history only folds; later catch-ups are small and write rows directly.
    materialize: phase !== 'building',
    generator: options.generator,
    signal: options.signal,
    log: options.log.child({ rebuildId: rebuild.id }),
    onBatch: (t) => {
      options.onProgress?.({ phase, done: t.consumed + t.skipped, total });
    },
  });
  await updateRebuild(options.db, rebuild.id, { done: totals.consumed });
  interruptIfAborted(options.signal, rebuild);
  return totals.failed;
}

/** Folds the file into the shadow from the shadow's checkpoints (a resumed build skips what it applied). Returns the dead-lettered count. */
async function buildFromFile(options: ResolvedOptions, file: EventFile, rebuild: Rebuild, sink: ReturnType<typeof shadowAgentkStates>): Promise<number> {
  await updateRebuild(options.db, rebuild.id, { phase: 'building' });
  options.onProgress?.({ phase: 'building', done: 0, total: undefined });
  const totals = await runFileReplay({
    db: options.db,
    projection: rebuild.shadow_projection,
    file,
    start: 'checkpoints',
    agentConfigMode: options.agentConfigMode,
    sink,
    decode: options.decode ?? createWorkspaceDecoder(),
    // Like a Kafka build: fold only, then generate each workspace's row once (materialize).
    materialize: false,
    batchSize: options.batchSize,
    signal: options.signal,
    log: options.log,
    onBatch: (t) => options.onProgress?.({ phase: 'building', done: t.consumed + t.skipped, total: undefined }),
  });
  await updateRebuild(options.db, rebuild.id, { done: totals.consumed });
  interruptIfAborted(options.signal, rebuild);
  return totals.failed;
}

/** Events between the shadow's checkpoints (or the log start) and the end offsets: the progress total. */
async function remainingEvents(options: ResolvedOptions, rebuild: Rebuild): Promise<number> {
  const kafka = options.stream!;
  const ranges = await withKafkaAdmin(kafka.kafka, (admin) => readPartitionRanges(admin, kafka.topics));
  const checkpoints = new Map(
    (await readCheckpoints(options.db, rebuild.shadow_projection, kafka.topics)).map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]),
  );
  return ranges.reduce((sum, r) => sum + Number(BigInt(r.high) - BigInt(checkpoints.get(partitionKey(r.topic, r.partition)) ?? r.low)), 0);
}

/**
 * Fills the shadow from one snapshot. With Kafka configured this is a handoff: the end offsets are recorded
 * BEFORE the first snapshot is taken and become the shadow's checkpoints, and the snapshot's rows become folded
 * states at version 0, so every event from those offsets on applies over them (an event the snapshot already
 * reflects is re-applied, harmlessly, before the later ones). Nothing that happened during the snapshot is lost.
 *
 * Resumed, it reads the whole of a new snapshot again: each batch replaces what the shadow held for its range of
 * ids (the sink's range write), and what lies past the last workspace is pruned, so the shadow equals a fresh
 * snapshot's whatever `updated_at` says.
 */
async function buildFromSnapshot(options: ResolvedOptions, sourceDb: Database, sink: ReturnType<typeof shadowAgentkStates>): Promise<Built> {
  const { db } = options;
  // Read afresh: a retried attempt must see the start offsets an earlier attempt recorded.
  const rebuild = (await findUnfinishedRebuild(db, options.projection))!;
  const stream = options.stream;
  if (stream && rebuild.start_offsets === null) {
    const ranges = await withKafkaAdmin(stream.kafka, (admin) => readPartitionRanges(admin, stream.topics));
    const startOffsets = Object.fromEntries(ranges.map((r) => [partitionKey(r.topic, r.partition), r.high]));
    await withTransaction(db, async (client) => {
      await saveCheckpoints(client, rebuild.shadow_projection, ranges.map((r) => ({ topic: r.topic, partition: r.partition, nextOffset: r.high })));
      await updateRebuild(client, rebuild.id, { startOffsets });
    });
  }
  let done = 0;
  let afterId = 0;
  let total: number | undefined;
  let takenAt = '';
  const summary = await runSnapshotBackfill(sourceDb, db, {
    batchSize: options.batchSize,
    agentConfigMode: options.agentConfigMode,
    sink,
    generator: options.generator,
    onSnapshotOpened: async (snapshot) => {
      total = snapshot.total;
      takenAt = snapshot.takenAt.toISOString();
      await updateRebuild(db, rebuild.id, { snapshotTakenAt: snapshot.takenAt, total });
    },
    // Each batch replaced its id range in the shadow (the sink's range write).
    withinBatch: async (client, records) => {
      afterId = Math.max(afterId, ...records.map((r) => r.workspaceId));
      done += records.length;
      await updateRebuild(client, rebuild.id, { snapshotAfterId: afterId, done });
      if (options.stream) await saveFolds(client, rebuild.shadow_projection, snapshotFolds(records, takenAt));
    },
    onProgress: () => options.onProgress?.({ phase: 'building', done, total }),
    signal: options.signal,
  });
  interruptIfAborted(options.signal, rebuild);
  // Past the snapshot's last workspace: whatever an earlier pass generated there is gone from the table.
  await withTransaction(db, (client) => pruneShadowRange(client, rebuild.id, afterId, undefined, []));
  return { failed: summary.failed, generated: done };
}

function snapshotFolds(records: readonly SnapshotRecord[], takenAt: string): Map<number, WorkspaceFold> {
  const folds = new Map<number, WorkspaceFold>();
  for (const record of records) {
    const row = workspaceRowSchema.safeParse(record.row);
    // A row that does not parse was dead-lettered by the projection; it gets no folded state either.
    if (row.success) folds.set(record.workspaceId, snapshotFold(row.data, takenAt));
  }
  return folds;
}
