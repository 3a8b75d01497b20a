/**
 * (d) The end-to-end rebuild from Kafka (the CLI's default rebuild mode, or `--kafka-mode replay`) and
 * (e) the snapshot backfill: the CLI as a subprocess against a target reset to fresh (see resetTarget),
 * timed from spawn to exit.
 *
 * (d2) and (e2), the routine rebuilds (issue 12, rows 2 and 4): the same command again over the table the
 * previous run left right, after a chosen share of its rows was made to differ (see makeRowsDiffer); the
 * rebuilder's own schema (folded states, checkpoints, history) is kept, as after a deploy.
 *
 * Every run records what PostgreSQL counted written into the live table, the shadow and the undo log
 * (pg-stats.ts). Afterwards (untimed) the read model is summarized, so that the report can show that (b),
 * (d), (d2), (e) and (e2) hold the same rows.
 */
import pg from 'pg';
import { kafkaRebuildArgs, kafkaReplayArgs, snapshotBackfillArgs, type KafkaTarget } from './cli-invocation.js';
import { resetTarget, summarizeReadModel, type ReadModelSummary } from './load-postgres.js';
import { settledWrites, writesBetween, type WritesByTable } from './pg-stats.js';
import { failureOf, runRebuilder, type RebuilderOptions, type RebuilderRun } from './rebuilder-process.js';

export interface RebuildResult {
  run: RebuilderRun;
  /** Undefined when verification was skipped (profiling runs) or the run failed. */
  summary: ReadModelSummary | undefined;
  /** What PostgreSQL counted written during the run (undefined for profiling runs). */
  writes?: WritesByTable | undefined;
  /** Routine rebuilds: the rows made to differ before the run. */
  differing?: number | undefined;
  /** Why the run did not succeed (its exit, the tail of its output); undefined when it did. */
  error?: string | undefined;
}

export type KafkaMode = 'rebuild' | 'replay';

export type RebuildSource = { from: 'kafka'; target: KafkaTarget; mode: KafkaMode } | { from: 'snapshot'; databaseUrl: string };

export type MeasureOptions = RebuilderOptions & {
  /** false: neither summarize nor count writes (profiling runs). */
  verify?: boolean;
  /** Run over the table as the previous run left it, after making this share of its rows differ; default: into a fresh target. */
  differShare?: number;
};

export async function measureRebuild(source: RebuildSource, options: MeasureOptions = {}): Promise<RebuildResult> {
  const url = source.from === 'kafka' ? source.target.databaseUrl : source.databaseUrl;
  let differing: number | undefined;
  if (options.differShare === undefined) await resetTarget(url);
  else differing = await makeRowsDiffer(url, options.differShare);
  const verify = options.verify !== false;
  const before = verify ? await settledWrites(url) : undefined;
  const args =
    source.from === 'snapshot' ? snapshotBackfillArgs(url) : source.mode === 'replay' ? kafkaReplayArgs(source.target) : kafkaRebuildArgs(source.target);
  const run = await runRebuilder(args, options);
  const error = failureOf(run, source.from === 'kafka' ? 'rebuild from Kafka' : 'snapshot rebuild');
  const writes = before ? writesBetween(before, await settledWrites(url)) : undefined;
  if (error !== undefined) return { run, summary: undefined, writes, differing, error };
  return { run, summary: verify ? await summarizeReadModel(url) : undefined, writes, differing };
}

/**
 * Makes `share` of the live rows differ from what the generator makes: every ⌈1/share⌉-th workspace id
 * loses the last object of its desired config (a config from before an object was added: what a deploy of
 * a new generator version leaves to rebuild). Returns how many rows now differ; then CHECKPOINT, so the
 * run does not pay for flushing this.
 */
async function makeRowsDiffer(url: string, share: number): Promise<number> {
  const every = Math.max(1, Math.ceil(1 / share));
  const client = new pg.Client({ connectionString: url, application_name: 'rebuild-projection bench (differ)' });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      `UPDATE workspace_agentk_states SET desired_config = desired_config - (-1)
        WHERE workspace_id % $1 = 0 AND jsonb_array_length(desired_config) > 0`,
      [every],
    );
    await client.query('CHECKPOINT');
    return rowCount ?? 0;
  } finally {
    await client.end();
  }
}
