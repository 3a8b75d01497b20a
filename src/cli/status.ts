/**
 * `--status`: what an operator needs at a glance, read from the bookkeeping (and Kafka, for lag).
 * Read-only: no migration, no table, no row written, so a role with only SELECT can run it. Kafka is asked
 * within a bound; when it cannot answer, the PostgreSQL part is printed with one line saying so.
 */
import type { Kafka } from 'kafkajs';
import type { Database } from '../sink/postgres/database.js';
import { checkpointTopics, readCheckpoints } from '../sink/postgres/checkpoints.js';
import { countDeadLetters } from '../sink/postgres/dead-letters.js';
import { pendingMigrations, readAppliedMigrations } from '../sink/postgres/migrate.js';
import { latestRebuilds, type Rebuild } from '../sink/postgres/rebuilds.js';
import { findGoneRuns, unfinishedAndCrashedRuns, type RunRow } from '../sink/postgres/runs.js';
import { withClient } from '../sink/postgres/transaction.js';
import { partitionKey, readPartitionRanges, withKafkaAdmin } from '../sources/kafka/kafka-client.js';

/**
 * How long Kafka may take: the report must come, Kafka or not. Above the startup check's own bound (3 attempts
 * of 3 s at most), so its line usually says why; the reads after it are retried by kafkajs for ~40 s.
 */
export const STATUS_KAFKA_TIMEOUT_MS = 15_000;

export interface StatusReport {
  lines: string[];
  /** Kafka was configured but could not be read (the report lacks the lag): why, for the one line on stderr. */
  kafkaError: Error | undefined;
}

const seconds = (from: Date | null, to: Date | null) =>
  from && to ? `${((to.getTime() - from.getTime()) / 1000).toFixed(1)} s` : '–';

function describeRebuild(r: Rebuild): string {
  const counts = r.inserted === null ? '' : `, ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted`;
  return `#${r.id} from ${r.source}, ${r.phase}, started ${r.started_at.toISOString()} by pid ${r.pid} on ${r.host}, build ${seconds(r.started_at, r.built_at)}, switch ${seconds(r.built_at, r.switched_at)}${counts}`;
}

const describeRun = (r: RunRow) =>
  `#${r.id} ${r.mode}, started ${r.startedAt.toISOString()} by pid ${r.pid} on ${r.host}${r.finishedAt ? `, found crashed ${r.finishedAt.toISOString()}` : r.status === 'running' ? '' : ', its process is gone (marked crashed by the next run)'}`;

/** The high watermark of each partition, or why they could not be read within STATUS_KAFKA_TIMEOUT_MS. */
async function readEndOffsets({ connect, topics }: StatusKafka): Promise<Map<string, string> | Error> {
  let kafka: Kafka;
  try {
    kafka = await connect(); // bounded by the startup check itself
  } catch (error) {
    return error as Error;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${STATUS_KAFKA_TIMEOUT_MS / 1000} s`)), STATUS_KAFKA_TIMEOUT_MS);
  });
  // Past the deadline the read goes on in the background until kafkajs gives up; withKafkaAdmin then disconnects.
  const read = withKafkaAdmin(kafka, async (admin) => {
    // Kafka answers partitions in no particular order: print them in order.
    const ranges = (await readPartitionRanges(admin, topics)).sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    return new Map(ranges.map((r) => [partitionKey(r.topic, r.partition), r.high]));
  });
  // Reported through the race below; once the deadline has won, a later failure has nothing left to tell.
  read.catch(() => undefined);
  try {
    return await Promise.race([read, deadline]);
  } catch (error) {
    return error as Error;
  } finally {
    clearTimeout(timer);
  }
}

export interface StatusKafka {
  /** The client, after the startup check of the brokers and our credentials (openKafka). */
  connect: () => Promise<Kafka>;
  topics: string[];
}

export async function statusReport(db: Database, projection: string, kafka: StatusKafka | undefined): Promise<StatusReport> {
  const ends = kafka ? await readEndOffsets(kafka) : new Map<string, string>();
  const kafkaError = ends instanceof Error ? ends : undefined;
  const kafkaLine = kafkaError && `kafka: unavailable (topics ${kafka?.topics.join(',')}): ${kafkaError.message}; lag unknown`;
  const lines = [`projection: ${projection}`, ...(await bookkeepingLines(db, projection, kafka?.topics, ends instanceof Error ? undefined : ends, kafkaLine))];
  return { lines, kafkaError };
}

/**
 * The report from our schema. `ends`: the high watermarks when Kafka answered; `kafkaLine` says why it did not.
 * Without bookkeeping (nothing ran yet, or migrations pending) the end offsets are listed on their own.
 */
async function bookkeepingLines(db: Database, projection: string, kafkaTopics: string[] | undefined, ends: Map<string, string> | undefined, kafkaLine: string | undefined): Promise<string[]> {
  const applied = await withClient(db, readAppliedMigrations);
  const pending = applied === undefined ? undefined : pendingMigrations(applied);
  if (pending === undefined || pending.length > 0) {
    const kafkaEnds = ends && kafkaTopics ? [`kafka: end offsets ${[...ends].map(([partition, high]) => `${partition} ${high}`).join(', ') || 'none (no partitions)'}`] : [];
    return [
      pending === undefined
        ? 'bookkeeping: none (no rebuild_projection schema: nothing has run against this database yet)'
        : // Its tables may lack what the queries below read: say so rather than fail on a missing column.
          `bookkeeping: migration${pending.length > 1 ? 's' : ''} ${pending.join(', ')} not applied yet (the next rebuild, replay or --follow applies them; --status only reads)`,
      ...(kafkaLine ? [kafkaLine] : kafkaEnds),
    ];
  }
  const lines: string[] = [];
  const rebuilds = await latestRebuilds(db, projection, 20);
  const generation = rebuilds.find((r) => r.phase === 'switched');
  lines.push(`generation: ${generation ? `rebuild ${describeRebuild(generation)}` : 'never rebuilt'}`);
  const running = rebuilds.find((r) => r.phase === 'building' || r.phase === 'catching_up');
  if (running) {
    const built = running.built_at ? `, shadow built ${running.built_at.toISOString()} (see it with --preview, switch it with --switch)` : '';
    lines.push(`unfinished rebuild: ${describeRebuild(running)}, ${running.done}/${running.total ?? '?'} done${built}`);
  }
  const undoable = rebuilds.filter((r) => r.phase === 'switched' && r.undo_kept);
  lines.push(`rollback history: ${undoable.length === 0 ? 'none' : `${undoable.map((r) => `#${r.id}`).join(', ')} (latest first; --rollback [--to ID])`}`);
  const last = rebuilds[0];
  if (last && last !== generation && last !== running) lines.push(`last rebuild: ${describeRebuild(last)}`);

  const topics = kafkaTopics ?? (await checkpointTopics(db, projection));
  const checkpoints = await readCheckpoints(db, projection, topics);
  if (kafkaLine) lines.push(kafkaLine);
  lines.push(checkpoints.length === 0 ? 'checkpoints: none (nothing consumed from Kafka yet)' : 'checkpoints:');
  for (const c of checkpoints) {
    const end = ends?.get(partitionKey(c.topic, c.partition));
    lines.push(`  ${c.topic}[${c.partition}] next offset ${c.nextOffset}${end === undefined ? '' : `, end ${end}, lag ${BigInt(end) - BigInt(c.nextOffset)}`}`);
  }
  lines.push(`dead letters: ${await countDeadLetters(db, projection)}`);
  const gone = new Set(await withClient(db, findGoneRuns));
  const runs = await unfinishedAndCrashedRuns(db, projection, 5);
  const crashed = [...runs.running.filter((r) => gone.has(r.id)).map((r) => ({ ...r, status: 'crashed' })), ...runs.crashed].sort((a, b) => b.id - a.id).slice(0, 5);
  for (const r of runs.running.filter((r) => !gone.has(r.id))) lines.push(`running: ${describeRun(r)}`);
  lines.push(`crashed runs: ${runs.crashedTotal + gone.size}${crashed.length > 0 ? ' (latest first)' : ''}`);
  for (const r of crashed) lines.push(`  ${describeRun(r)}`);
  return lines;
}
