/**
 * (d) The end-to-end rebuild from Kafka (the CLI's default rebuild mode, or `--kafka-mode replay`) and
 * (e) the snapshot backfill: the CLI as a subprocess against a
 * target reset to fresh (see resetTarget), timed from spawn to exit. Afterwards (untimed) the read model is
 * summarized, so that the report can show that (b), (d) and (e) hold the same rows.
 */
import { kafkaRebuildArgs, kafkaReplayArgs, snapshotBackfillArgs, type KafkaTarget } from './cli-invocation.js';
import { resetTarget, summarizeReadModel, type ReadModelSummary } from './load-postgres.js';
import { failureOf, runRebuilder, type RebuilderOptions, type RebuilderRun } from './rebuilder-process.js';

export interface RebuildResult {
  run: RebuilderRun;
  /** Undefined when verification was skipped (profiling runs) or the run failed. */
  summary: ReadModelSummary | undefined;
  /** Why the run did not succeed (its exit, the tail of its output); undefined when it did. */
  error?: string | undefined;
}

async function finish(run: RebuilderRun, what: string, databaseUrl: string, verify: boolean | undefined): Promise<RebuildResult> {
  const error = failureOf(run, what);
  if (error !== undefined) return { run, summary: undefined, error };
  return { run, summary: verify === false ? undefined : await summarizeReadModel(databaseUrl) };
}

export type KafkaMode = 'rebuild' | 'replay';

export async function measureKafkaRebuild(
  target: KafkaTarget,
  options: RebuilderOptions & { verify?: boolean; mode?: KafkaMode } = {},
): Promise<RebuildResult> {
  await resetTarget(target.databaseUrl);
  const run = await runRebuilder(options.mode === 'replay' ? kafkaReplayArgs(target) : kafkaRebuildArgs(target), options);
  return finish(run, 'rebuild from Kafka', target.databaseUrl, options.verify);
}

export async function measureSnapshotBackfill(databaseUrl: string, options: RebuilderOptions & { verify?: boolean } = {}): Promise<RebuildResult> {
  await resetTarget(databaseUrl);
  const run = await runRebuilder(snapshotBackfillArgs(databaseUrl), options);
  return finish(run, 'snapshot rebuild', databaseUrl, options.verify);
}
