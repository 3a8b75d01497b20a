/** `--status`: what an operator needs at a glance, read from the bookkeeping (and Kafka, for lag). */
import type { Kafka } from 'kafkajs';
import type { Database } from '../sink/postgres/database.js';
import { readCheckpoints } from '../sink/postgres/checkpoints.js';
import { countDeadLetters } from '../sink/postgres/dead-letters.js';
import { latestRebuilds, type Rebuild } from '../sink/postgres/rebuilds.js';
import { markCrashedRuns, unfinishedAndCrashedRuns, type RunRow } from '../sink/postgres/runs.js';
import { withClient } from '../sink/postgres/transaction.js';
import { partitionKey, readPartitionRanges } from '../sources/kafka/kafka-client.js';

const seconds = (from: Date | null, to: Date | null) =>
  from && to ? `${((to.getTime() - from.getTime()) / 1000).toFixed(1)} s` : '–';

function describeRebuild(r: Rebuild): string {
  const counts = r.inserted === null ? '' : `, ${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deleted`;
  return `#${r.id} from ${r.source}, ${r.phase}, started ${r.started_at.toISOString()} by pid ${r.pid} on ${r.host}, build ${seconds(r.started_at, r.built_at)}, switch ${seconds(r.built_at, r.switched_at)}${counts}`;
}

const describeRun = (r: RunRow) =>
  `#${r.id} ${r.mode}, started ${r.startedAt.toISOString()} by pid ${r.pid} on ${r.host}${r.finishedAt ? `, found crashed ${r.finishedAt.toISOString()}` : ''}`;

export async function statusReport(db: Database, projection: string, kafka: { kafka: Kafka; topics: string[] } | undefined): Promise<string[]> {
  const lines: string[] = [`projection: ${projection}`];
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

  const topics = kafka?.topics ?? [...new Set((await db.query<{ topic: string }>('SELECT DISTINCT topic FROM rebuild_projection.checkpoints WHERE projection = $1', [projection])).rows.map((r) => r.topic))];
  const checkpoints = await readCheckpoints(db, projection, topics);
  let ends = new Map<string, string>();
  if (kafka) {
    const admin = kafka.kafka.admin();
    await admin.connect();
    try {
      ends = new Map((await readPartitionRanges(admin, kafka.topics)).map((r) => [partitionKey(r.topic, r.partition), r.high]));
    } finally {
      await admin.disconnect();
    }
  }
  lines.push(checkpoints.length === 0 ? 'checkpoints: none (nothing consumed from Kafka yet)' : 'checkpoints:');
  for (const c of checkpoints) {
    const end = ends.get(partitionKey(c.topic, c.partition));
    lines.push(`  ${c.topic}[${c.partition}] next offset ${c.nextOffset}${end === undefined ? '' : `, end ${end}, lag ${BigInt(end) - BigInt(c.nextOffset)}`}`);
  }
  lines.push(`dead letters: ${await countDeadLetters(db, projection)}`);
  await withClient(db, markCrashedRuns);
  const runs = await unfinishedAndCrashedRuns(db, projection, 5);
  for (const r of runs.running) lines.push(`running: ${describeRun(r)}`);
  lines.push(`crashed runs: ${runs.crashedTotal}${runs.crashed.length > 0 ? ' (latest first)' : ''}`);
  for (const r of runs.crashed) lines.push(`  ${describeRun(r)}`);
  return lines;
}
