/**
 * `rebuild-projection agentk-states`: opens the resources a mode needs, runs it, records the run, and maps
 * the outcome to an exit code. Resources are released in reverse order of acquisition, whatever happens.
 */
import kafkajs from 'kafkajs';
import type pg from 'pg';
import { runKafkaReplay, type ReplayStart } from '../engine/kafka-replayer.js';
import { countDeadLetters } from '../sink/postgres/dead-letters.js';
import { createKafka, KafkaTopicMissingError } from '../sources/kafka/kafka-client.js';
import { runSnapshotBackfill, SNAPSHOT_SOURCE } from '../engine/snapshot-backfill.js';
import { AGENTK_STATES_PROJECTION } from '../engine/workspace-batch.js';
import { DatabaseUnavailableError, openPool } from '../sink/postgres/connect.js';
import { ensureAgentkStatesTable, NotAGitLabDatabaseError } from '../sink/postgres/ensure-agentk-states-table.js';
import { migrate } from '../sink/postgres/migrate.js';
import { liveAgentkStates } from '../sink/postgres/row-sink.js';
import { finishRun, startRun } from '../sink/postgres/runs.js';
import { withClient } from '../sink/postgres/transaction.js';
import { ExitCode } from './exit-codes.js';
import type { CliArgs } from './options.js';
import { UsageError } from './usage-error.js';

export interface CliIo {
  signal: AbortSignal;
  /** Diagnostics and progress (stderr). */
  log: (line: string) => void;
  /** The result people or scripts read (stdout). */
  report: (line: string) => void;
}

type Releaser = () => Promise<void>;

export async function runAgentkStates(args: CliArgs, io: CliIo): Promise<ExitCode> {
  const releasers: Releaser[] = [];
  try {
    if (!args.databaseUrl) throw new UsageError('no target database: pass --database-url or set DATABASE_URL');
    const target = await openPool(args.databaseUrl, 'target', 4);
    releasers.push(() => target.end());
    await withClient(target, async (client) => {
      await migrate(client);
      await ensureAgentkStatesTable(client);
    });
    if (args.source === 'snapshot') return await runSnapshot(args, io, target, releasers);
    return await runKafka(args, io, target);
  } catch (error) {
    if (error instanceof UsageError) {
      io.log(`rebuild-projection: ${error.message} (see --help)`);
      return ExitCode.usage;
    }
    if (
      error instanceof DatabaseUnavailableError ||
      error instanceof NotAGitLabDatabaseError ||
      error instanceof KafkaTopicMissingError ||
      error instanceof kafkajs.KafkaJSError
    ) {
      io.log(`rebuild-projection: ${error.message}`);
      return ExitCode.couldNotRun;
    }
    throw error;
  } finally {
    for (const release of releasers.reverse()) await release();
  }
}

async function runSnapshot(args: CliArgs, io: CliIo, target: pg.Pool, releasers: Releaser[]): Promise<ExitCode> {
  const source = args.sourceDatabaseUrl ? await openPool(args.sourceDatabaseUrl, 'source', 2) : target;
  if (source !== target) releasers.push(() => source.end());
  const runId = await startRun(target, { projection: AGENTK_STATES_PROJECTION, mode: 'backfill', source: SNAPSHOT_SOURCE });
  try {
    const summary = await runSnapshotBackfill(source, target, {
      batchSize: args.batchSize,
      agentConfigMode: args.agentConfigMode,
      sink: liveAgentkStates,
    });
    const status = summary.failed > 0 ? 'succeeded_with_dead_letters' : 'succeeded';
    await finishRun(target, runId, status, summary);
    const seconds = summary.elapsedMs / 1000;
    io.report(
      `agentk-states snapshot backfill: ${summary.total} workspaces, ${summary.written} written, ` +
        `${summary.unchanged} unchanged, ${summary.failed} failed (dead letters), ${seconds.toFixed(1)} s, ` +
        `${Math.round(summary.total / Math.max(seconds, 0.001))} workspaces/s`,
    );
    return summary.failed > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
  } catch (error) {
    await finishRun(target, runId, 'failed', { written: 0, unchanged: 0, failed: 0 }, (error as Error).message);
    throw error;
  }
}

function replayStart(args: CliArgs): ReplayStart {
  if (args.fromOffset) return { kind: 'offsets', offsets: args.fromOffset };
  if (args.fromTimestamp !== undefined) return { kind: 'timestamp', timestampMs: args.fromTimestamp };
  if (args.fromBeginning) return { kind: 'beginning' };
  return { kind: 'checkpoints' };
}

async function runKafka(args: CliArgs, io: CliIo, target: pg.Pool): Promise<ExitCode> {
  if (!args.brokers?.length) throw new UsageError('no Kafka brokers: pass --brokers or set KAFKA_BROKERS');
  if (!args.follow && !args.fromOffset && args.fromTimestamp === undefined && !args.fromBeginning && !args.fromCheckpoint) {
    throw new UsageError('choose a mode: --follow, or a replay with --from-offset, --from-timestamp, --from-beginning or --from-checkpoint');
  }
  const start = replayStart(args);
  const mode = args.follow ? 'follow' : start.kind === 'checkpoints' ? 'catch-up' : 'replay';
  const runId = await startRun(target, { projection: AGENTK_STATES_PROJECTION, mode, source: 'kafka' });
  const started = performance.now();
  try {
    const totals = await runKafkaReplay({
      kafka: createKafka({ brokers: args.brokers, log: io.log }),
      db: target,
      projection: AGENTK_STATES_PROJECTION,
      topics: args.topics,
      groupId: args.group,
      follow: args.follow,
      start,
      agentConfigMode: args.agentConfigMode,
      sink: liveAgentkStates,
      signal: io.signal,
      log: io.log,
    });
    const deadLetters = await countDeadLetters(target, AGENTK_STATES_PROJECTION);
    await finishRun(target, runId, totals.failed > 0 ? 'succeeded_with_dead_letters' : 'succeeded', totals);
    const seconds = (performance.now() - started) / 1000;
    io.report(
      `agentk-states kafka ${mode}: ${totals.consumed} events, ${totals.written} written, ${totals.unchanged} unchanged, ` +
        `${totals.deleted} deleted, ${totals.parked} parked, ${totals.failed} failed, ${totals.skipped} already applied, ` +
        `${seconds.toFixed(1)} s; ${deadLetters} dead letters in total`,
    );
    return totals.failed > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
  } catch (error) {
    await finishRun(target, runId, 'failed', { written: 0, unchanged: 0, failed: 0 }, (error as Error).message);
    throw error;
  }
}
