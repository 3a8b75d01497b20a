/**
 * The last step of a rebuild's build phase from a history (Kafka, a file): generate each workspace's row once,
 * from its final folded state, into the shadow. Generating once is what makes a rebuild cost one generation and
 * one row write per workspace instead of one per batch its events were spread over (K updates each).
 *
 * Where the final states come from:
 *   staged  the events the build staged (staged-events.ts), read back in (workspace, seq) order and folded a
 *           workspace at a time, with the same fold as a batch; each page's folds are saved, then generated.
 *           The states are written once per workspace instead of once per event
 *   folds   the folded states the build saved batch by batch (a rebuild that did not stage, or whose staged
 *           events were folded already and which folded later events over them)
 *
 * Pages in id order, through the page pipeline (page-pipeline.ts: read ahead while a page is written). Each
 * page replaces its range of ids in the shadow, and a staged fold starts by deleting the folds an interrupted
 * one saved, so a materialize run again after a crash starts over cleanly.
 */
import type { Database, Session } from '../sink/postgres/database.js';
import type { WorkspaceDecoder } from '../events/decode.js';
import { emptyFold, foldEvent, type WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { WorkspaceEvent } from '../../projections/agentk-states/events.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import { clearDeadLetters } from '../sink/postgres/dead-letters.js';
import { readStagedEvents, type StagedCursor, type StagedEvent, type StagedReadLimits } from '../sink/postgres/staged-events.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { IdRange, RowSink } from '../sink/postgres/row-sink.js';
import { withClient, withTransaction } from '../sink/postgres/transaction.js';
import { liveRowIds } from '../sink/postgres/shadow-agentk-states.js';
import { clearFolds, readLiveFoldsPage, saveFolds } from '../sink/postgres/workspace-states.js';
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

/** Where the final states come from (see above). */
export type MaterializeSource = { from: 'folds' } | { from: 'staged'; rebuildId: number; decode: WorkspaceDecoder };

export async function materializeShadow(
  db: Database,
  shadowProjection: string,
  sink: RowSink,
  options: { source: MaterializeSource; batchSize: number; agentConfigMode: AgentConfigMode; generator?: Generator | undefined; onProgress?: (done: number) => void },
): Promise<BatchCounts> {
  const counts: BatchCounts = { written: 0, unchanged: 0, failed: 0 };
  let done = 0;
  const generator = options.generator ?? inThreadGenerator;
  const { source } = options;
  const pages =
    source.from === 'staged'
      ? stagedFoldPages(db, shadowProjection, source, options.batchSize, options.agentConfigMode)
      : liveFoldPages(db, shadowProjection, options.batchSize, options.agentConfigMode);
  await runPagePipeline(pages, {
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
 * released before generation). A workspace that has a live row gets its digest computed with its row: the
 * shadow sink compares the two. The last page is empty and unbounded above: whatever an earlier pass wrote
 * past the last live fold belongs to workspaces deleted since, and its write removes it.
 */
async function* liveFoldPages(db: Database, shadowProjection: string, batchSize: number, agentConfigMode: AgentConfigMode): AsyncGenerator<FoldsPage> {
  let after = 0;
  for (;;) {
    const page = await withClient(db, async (client) => {
      const folds = await readLiveFoldsPage(client, shadowProjection, after, batchSize);
      return { size: folds.size, upTo: folds.size === 0 ? undefined : Math.max(...folds.keys()), prepared: await prepareWithDigests(client, folds, agentConfigMode) };
    });
    yield { size: page.size, range: { after, upTo: page.upTo }, prepared: page.prepared };
    if (page.upTo === undefined) return;
    after = page.upTo;
  }
}

/** prepareFolds, with the digest computed for the workspaces that have a live row (the shadow sink compares the two). */
async function prepareWithDigests(client: Session, folds: ReadonlyMap<number, WorkspaceFold>, agentConfigMode: AgentConfigMode): Promise<PreparedFolds> {
  const withLiveRow = await liveRowIds(client, [...folds.keys()]);
  return prepareFolds(client, folds, agentConfigMode, new Map(), withLiveRow);
}

/**
 * One read of staged events: about a page of a typical history (a create and a few updates per workspace),
 * and a bound on the message bytes held, whatever the messages' sizes.
 */
const STAGED_READ: StagedReadLimits = { rows: 1_000, bytes: 4 << 20 };

/**
 * A workspace whose fold has gathered this many new origins is saved before folding on (its origins appended):
 * a workspace with a long history (an agent report every few seconds for months) folds in bounded memory and
 * time, as it would batch by batch.
 */
const FOLD_SAVE_ORIGINS = 256;

/** A workspace being folded from its staged events: its fold, and what of it is saved already (undefined: nothing). */
interface StagedFold {
  fold: WorkspaceFold;
  saved: WorkspaceFold | undefined;
}

/**
 * The staged events folded a page of workspaces at a time, in id order. A read ends anywhere in a workspace's
 * events, so the last workspace read waits for the next read; the last page is unbounded above (see
 * liveFoldPages).
 */
async function* stagedFoldPages(
  db: Database,
  shadowProjection: string,
  source: Extract<MaterializeSource, { from: 'staged' }>,
  batchSize: number,
  agentConfigMode: AgentConfigMode,
): AsyncGenerator<FoldsPage> {
  await withTransaction(db, (client) => clearFolds(client, shadowProjection));
  // In id order (reads are), the last one possibly incomplete.
  const folding = new Map<number, StagedFold>();
  let cursor: StagedCursor | undefined;
  let after = 0;
  for (;;) {
    const read = await withClient(db, (client) => readStagedEvents(client, source.rebuildId, cursor, STAGED_READ));
    await source.decode.prepare(read.map((staged) => staged.message));
    for (const staged of read) {
      let entry = folding.get(staged.workspaceId);
      if (entry === undefined) folding.set(staged.workspaceId, (entry = { fold: emptyFold(), saved: undefined }));
      const { topic, partition, offset } = staged.message;
      entry.fold = foldEvent(entry.fold, decodeStaged(source.decode, staged), { topic, partition, offset }).fold;
      if (entry.fold.newOrigins.length >= FOLD_SAVE_ORIGINS) {
        const saving = entry;
        await withTransaction(db, (client) => saveStagedFolds(client, shadowProjection, new Map([[staged.workspaceId, saving]])));
      }
    }
    cursor = read.at(-1) ?? cursor;
    const done = read.length === 0;
    // The last workspace read may have more events in the next read.
    while (folding.size - (done ? 0 : 1) >= batchSize) yield await takePage(batchSize, false);
    if (done) {
      yield await takePage(folding.size, true);
      return;
    }
  }

  /** The first `size` workspaces of `folding`, saved and prepared; `last`: the page is unbounded above. */
  async function takePage(size: number, last: boolean): Promise<FoldsPage> {
    const page = new Map<number, StagedFold>();
    for (const [id, entry] of folding) {
      if (page.size === size) break;
      page.set(id, entry);
      folding.delete(id);
    }
    const upTo = last || page.size === 0 ? undefined : Math.max(...page.keys());
    const prepared = await withTransaction(db, async (client) => prepareWithDigests(client, await saveStagedFolds(client, shadowProjection, page), agentConfigMode));
    const range = { after, upTo };
    after = upTo ?? after;
    return { size: page.size, range, prepared };
  }
}

/**
 * Saves these folds (over what of them is saved); they are then all saved. Returns the folds. A deleted
 * workspace's workspace letters go, as when its delete is folded in a batch (apply-kafka-batch.ts writeFolds).
 */
async function saveStagedFolds(client: Session, projection: string, entries: ReadonlyMap<number, StagedFold>): Promise<Map<number, WorkspaceFold>> {
  const folds = new Map([...entries].map(([id, entry]) => [id, entry.fold]));
  const saved = new Map([...entries].flatMap(([id, entry]) => (entry.saved === undefined ? [] : [[id, entry.saved] as const])));
  await saveFolds(client, projection, folds, saved);
  await clearDeadLetters(client, AGENTK_STATES_PROJECTION, [...folds].filter(([, fold]) => fold.state?.deleted).map(([id]) => id));
  for (const entry of entries.values()) {
    entry.fold = { ...entry.fold, newOrigins: [] };
    entry.saved = entry.fold;
  }
  return folds;
}

/** A staged event's event: it decoded when it was staged, and the decoder is deterministic. */
function decodeStaged(decode: WorkspaceDecoder, staged: StagedEvent): WorkspaceEvent {
  const outcome = decode(staged.message);
  const { topic, partition, offset } = staged.message;
  if (!outcome.ok) throw new Error(`staged event ${topic}[${partition}]@${offset} of workspace ${staged.workspaceId} no longer decodes: ${outcome.error.message}`);
  if (outcome.event.workspaceId !== staged.workspaceId) {
    throw new Error(`staged event ${topic}[${partition}]@${offset} was staged for workspace ${staged.workspaceId} but decodes as workspace ${outcome.event.workspaceId}`);
  }
  return outcome.event;
}
