/**
 * The last step of a rebuild's build phase from Kafka: generate each workspace's row once, from its final
 * folded state, into the shadow. Folding first and generating once is what makes a rebuild cost one generation
 * and one row write per workspace instead of one per batch its events were spread over (K updates each).
 *
 * Pages of live folds, in id order, through the page pipeline (page-pipeline.ts: read ahead while a page is
 * written). Each page replaces its range of ids in the shadow, so a materialize run again after a crash starts
 * over cleanly.
 */
import type { Database } from '../sink/postgres/database.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { IdRange, RowSink } from '../sink/postgres/row-sink.js';
import { withClient, withTransaction } from '../sink/postgres/transaction.js';
import { readLiveFoldsPage } from '../sink/postgres/workspace-states.js';
import { inThreadGenerator, type Generator } from './generation/generator.js';
import { runPagePipeline } from './generation/page-pipeline.js';
import { generateFolds, KAFKA_SOURCE, prepareFolds, type PreparedFolds } from './project-folds.js';
import { writeProjectedBatch, type BatchCounts } from './workspace-batch.js';

interface FoldsPage {
  /** Workspaces on the page. */
  size: number;
  range: IdRange;
  prepared: PreparedFolds;
}

export async function materializeShadow(
  db: Database,
  shadowProjection: string,
  sink: RowSink,
  options: { batchSize: number; agentConfigMode: AgentConfigMode; generator?: Generator | undefined; onProgress?: (done: number) => void },
): Promise<BatchCounts> {
  const counts: BatchCounts = { written: 0, unchanged: 0, failed: 0 };
  let done = 0;
  const generator = options.generator ?? inThreadGenerator;
  await runPagePipeline(liveFoldPages(db, shadowProjection, options.batchSize, options.agentConfigMode), {
    generate: (page) => generateFolds(page.prepared, generator),
    write: async (page, projected) => {
      const batch = await withTransaction(db, (client) => writeProjectedBatch(client, sink, projected, KAFKA_SOURCE, new Map(), page.range));
      counts.written += batch.written;
      counts.unchanged += batch.unchanged;
      counts.failed += batch.failed;
      done += page.size;
      if (page.size > 0) options.onProgress?.(done);
    },
  });
  return counts;
}

/**
 * The live folds, one page at a time in id order, with their generation inputs resolved (the client is
 * released before generation). The last page is empty and unbounded above: whatever an earlier pass wrote
 * past the last live fold belongs to workspaces deleted since, and its write removes it.
 */
async function* liveFoldPages(db: Database, shadowProjection: string, batchSize: number, agentConfigMode: AgentConfigMode): AsyncGenerator<FoldsPage> {
  let after = 0;
  for (;;) {
    const page = await withClient(db, async (client) => {
      const folds = await readLiveFoldsPage(client, shadowProjection, after, batchSize);
      const prepared = await prepareFolds(client, folds, agentConfigMode);
      return { size: folds.size, upTo: folds.size === 0 ? undefined : Math.max(...folds.keys()), prepared };
    });
    yield { size: page.size, range: { after, upTo: page.upTo }, prepared: page.prepared };
    if (page.upTo === undefined) return;
    after = page.upTo;
  }
}
