/**
 * How the benchmark runs the rebuilder: the built CLI as a subprocess, exactly as an operator would. Every
 * command line the benchmark uses is built here and nowhere else, so a change of the CLI (e.g. a no-flag
 * rebuild mode) is a change of this file only.
 */
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './environment.js';

let frozenCliPath = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** The CLI entry point the benchmark runs. */
export function cliPath(): string {
  return frozenCliPath;
}

/**
 * Freezes the built CLI for this run: copies dist/src and dist/projections under .cache/ (inside the
 * package, so node_modules, package.json and schemas/ resolve as usual), so that a `npm run build` by
 * someone else during a long benchmark cannot swap the code under measurement. Returns its remover.
 */
export function freezeCli(runId: string): () => void {
  const dir = path.join(REPO_ROOT, '.cache', `bench-cli-${runId}`);
  for (const part of ['src', 'projections']) cpSync(path.join(REPO_ROOT, 'dist', part), path.join(dir, part), { recursive: true });
  frozenCliPath = path.join(dir, 'src', 'cli', 'main.js');
  return () => rmSync(dir, { recursive: true, force: true });
}

export interface KafkaTarget {
  brokers: string;
  topic: string;
  /** A fresh consumer group per run. */
  group: string;
  databaseUrl: string;
}

/**
 * (d) The full rebuild from Kafka: the CLI's default mode (no mode flag): from the earliest offsets into a
 * shadow table, then one atomic switch into workspace_agentk_states.
 */
export function kafkaRebuildArgs(target: KafkaTarget): string[] {
  return ['agentk-states', '--source', 'kafka', ...kafkaFlags(target)];
}

/** (d, `--kafka-mode replay`) The replay variant: from the earliest offsets straight into the live table. */
export function kafkaReplayArgs(target: KafkaTarget): string[] {
  return ['agentk-states', '--source', 'kafka', '--from-beginning', ...kafkaFlags(target)];
}

function kafkaFlags(target: KafkaTarget): string[] {
  return ['--brokers', target.brokers, '--topic', target.topic, '--group', target.group, '--database-url', target.databaseUrl];
}

/** (e) The snapshot backfill from GitLab's `workspaces` table (default mode: shadow + switch; no Kafka hand-off). */
export function snapshotBackfillArgs(databaseUrl: string): string[] {
  return ['agentk-states', '--source', 'snapshot', '--database-url', databaseUrl];
}

/**
 * (f, f5, f6) Follow mode: resume from the checkpoints in PostgreSQL and keep consuming until SIGTERM;
 * with a metrics port, /metrics is served on the loopback interface only.
 */
export function followArgs(target: KafkaTarget, metricsPort?: number): string[] {
  const metrics = metricsPort === undefined ? [] : ['--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1'];
  return ['agentk-states', '--source', 'kafka', '--follow', ...kafkaFlags(target), ...metrics];
}

/**
 * The environment the CLI runs with: the benchmark's own, minus the variables the CLI would read as
 * defaults (KAFKA_BROKERS, DATABASE_URL), so that only the flags above decide what it does (a snapshot
 * rebuild must not hand off to a Kafka cluster the benchmark happens to use).
 */
export function cliEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.KAFKA_BROKERS;
  delete env.DATABASE_URL;
  return env;
}
