/**
 * The last step of a rebuild's build phase from Kafka: generate each workspace's row once, from its final
 * folded state, into the shadow. Folding first and generating once is what makes a rebuild cost one generation
 * and one row write per workspace instead of one per batch its events were spread over (K updates each).
 *
 * Pipelined like the snapshot backfill: page n+1 is read and generated while page n is written. Each page
 * replaces its range of ids in the shadow, so a materialize run again after a crash starts over cleanly.
 */
import type { Database } from '../sink/postgres/database.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { withClient, withTransaction } from '../sink/postgres/transaction.js';
import { readLiveFoldsPage } from '../sink/postgres/workspace-states.js';
import type { Generator } from './generation/generator.js';
import { KAFKA_SOURCE, projectFolds } from './project-folds.js';
import { writeProjectedBatch, type BatchCounts } from './workspace-batch.js';

export async function materializeShadow(
  db: Database,
  shadowProjection: string,
  sink: RowSink,
  options: { batchSize: number; agentConfigMode: AgentConfigMode; generator?: Generator | undefined; onProgress?: (done: number) => void },
): Promise<BatchCounts> {
  const counts: BatchCounts = { written: 0, unchanged: 0, failed: 0 };
  let afterId = 0;
  let done = 0;
  let inFlight: Promise<void> = Promise.resolve();
  for (;;) {
    const { folds, projected } = await withClient(db, async (client) => {
      const page = await readLiveFoldsPage(client, shadowProjection, afterId, options.batchSize);
      return { folds: page, projected: await projectFolds(client, page, options.agentConfigMode, new Map(), options.generator) };
    });
    await inFlight;
    if (folds.size === 0) {
      // Past the last live fold: whatever an earlier pass wrote there belongs to workspaces deleted since.
      await withTransaction(db, (client) => writeProjectedBatch(client, sink, { rows: [], deadLetters: [] }, KAFKA_SOURCE, new Map(), { after: afterId, upTo: undefined }));
      break;
    }
    const range = { after: afterId, upTo: Math.max(...folds.keys()) };
    afterId = range.upTo;
    inFlight = withTransaction(db, (client) => writeProjectedBatch(client, sink, projected, KAFKA_SOURCE, new Map(), range)).then((batch) => {
      counts.written += batch.written;
      counts.unchanged += batch.unchanged;
      counts.failed += batch.failed;
      done += folds.size;
      options.onProgress?.(done);
    });
    // Observed by the next iteration's await; this only keeps it from counting as unhandled meanwhile.
    inFlight.catch(() => undefined);
  }
  return counts;
}
