/**
 * --retry-dead-letters and --purge-dead-letters: working off the sequenced dead-letter queue (README, "Dead
 * letters"). Both work per workspace, one transaction each, under the same locks as a batch (the projection's
 * shared lock, then the workspace's fold lock), so they run safely beside a --follow consumer.
 *
 * Releasing a workspace: its held events (the bad messages among them) are decoded again with the current
 * code and catalog, in partition order, up to the first that still fails; those that decode are folded
 * (foldEvents, the batch's own path), the row is generated once (projectTouched), and they and their letters
 * are removed. The one that still fails keeps its letter (attempts + 1, the new error) and everything after it
 * stays held. A purge removes the chosen letters and their held bad messages first ("accept the loss"), then
 * releases the workspace the same way, so the events held behind a purged message are applied, not dropped.
 *
 * A bad message whose workspace was unknown held nothing; if it decodes now, it joins its workspace's
 * release at its position (the fold's offset guard makes it change nothing when later events of that
 * partition are already folded: counted as stale, and removed). A generation failure (a workspace letter)
 * is retried by regenerating the workspace's row from its folded state.
 */
import { logRetry, type Logger } from '../ops/logger.js';
import type { Database, Session } from '../sink/postgres/database.js';
import type { WorkspaceFold } from '../../projections/agentk-states/fold.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { BadMessage, WorkspaceDecoder, WorkspaceMessage } from '../events/decode.js';
import {
  deleteDeadLetters,
  existingDeadLetterKeys,
  messageLetterKey,
  recordDeadLetters,
  selectDeadLetters,
  touchDeadLetters,
  type DeadLetterFilter,
  type StoredDeadLetter,
} from '../sink/postgres/dead-letters.js';
import { markHeldEventBad, readHeldEvents, releaseHeldEvents, type HeldEvent } from '../sink/postgres/held-events.js';
import { lockProjectionShared } from '../sink/postgres/projection-locks.js';
import { findUnfinishedRebuild } from '../sink/postgres/rebuilds.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { loadFolds } from '../sink/postgres/workspace-states.js';
import { foldEvents, KAFKA_SOURCE, projectTouched } from './apply-kafka-batch.js';
import { rawExcerpt, type PositionedEvent } from './plan-batch.js';
import { retryTransient } from './retry.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';

export interface DeadLetterWorkOptions {
  db: Database;
  /** The fold namespace (the live projection). */
  projection: string;
  filter: DeadLetterFilter;
  decode: WorkspaceDecoder;
  agentConfigMode: AgentConfigMode;
  sink: RowSink;
  signal: AbortSignal;
  log: Logger;
}

export interface DeadLetterWorkTotals {
  /** Letters the filter chose. */
  selected: number;
  /** Chosen letters removed: resolved by the retry, or purged. */
  removed: number;
  /** Held events (not bad messages) applied. */
  released: number;
  /** Applied messages that changed nothing (their partition had moved past them). */
  stale: number;
  /** Chosen letters still there (still failing). */
  remaining: number;
}

/** Retry and purge change the live projection's folds: a rebuild's shadow would adopt stale holds at its switch. */
export class DeadLettersBusyError extends Error {
  override readonly name = 'DeadLettersBusyError';
  readonly retriable = false;
}

/** Retries the chosen letters. */
export function retryDeadLetters(options: DeadLetterWorkOptions): Promise<DeadLetterWorkTotals> {
  return work(options, false);
}

/** Deletes the chosen letters and releases what their bad messages held. */
export function purgeDeadLetters(options: DeadLetterWorkOptions): Promise<DeadLetterWorkTotals> {
  return work(options, true);
}

async function work(options: DeadLetterWorkOptions, purging: boolean): Promise<DeadLetterWorkTotals> {
  const { db, projection } = options;
  const rebuild = await findUnfinishedRebuild(db, projection);
  if (rebuild !== undefined) {
    throw new DeadLettersBusyError(`rebuild #${rebuild.id} is unfinished (${rebuild.phase}): work off dead letters after it has switched or been abandoned`);
  }
  const letters = await selectDeadLetters(db, AGENTK_STATES_PROJECTION, options.filter);
  const purge = new Set(purging ? letters.map((l) => l.key) : []);
  const totals: DeadLetterWorkTotals = { selected: letters.length, removed: 0, released: 0, stale: 0, remaining: 0 };
  // Workspaces to release, each with its chosen letters and the unheld bad messages that now decode to it.
  const workspaces = new Map<number, Chosen>();
  const join = (id: number): Chosen => workspaces.get(id) ?? workspaces.set(id, { keys: [], unheld: [] }).get(id)!;
  const unheldMessages = letters.flatMap((l) => (l.workspaceId === undefined && l.raw !== undefined && l.kafka !== undefined ? [asMessage(l.kafka, l.raw)] : []));
  await retryTransient(() => options.decode.prepare(unheldMessages), retrying(options));
  for (const letter of letters) {
    if (letter.workspaceId !== undefined) {
      join(letter.workspaceId).keys.push(letter.key);
      continue;
    }
    if (purge.has(letter.key)) {
      await retryTransient(() => withTransaction(db, (client) => deleteDeadLetters(client, AGENTK_STATES_PROJECTION, [letter.key])), retrying(options));
      continue;
    }
    const kafka = letter.kafka!;
    const outcome = letter.raw === undefined ? undefined : options.decode(asMessage(kafka, letter.raw));
    if (outcome?.ok) join(outcome.event.workspaceId).unheld.push({ workspaceId: outcome.event.workspaceId, ...kafka, deadLetterKey: letter.key, raw: letter.raw });
    else await retryTransient(() => withTransaction(db, (client) => stillFailing(client, { ...letter, kafka }, outcome?.ok === false ? outcome.error : undefined)), retrying(options));
  }
  for (const [workspaceId, chosen] of workspaces) {
    if (options.signal.aborted) break;
    const released = await retryTransient(() => withTransaction(db, (client) => releaseWorkspace(client, options, workspaceId, chosen, purge)), retrying(options));
    totals.released += released.released;
    totals.stale += released.stale;
  }
  // Counted, not tallied: releasing a workspace also resolves its letters the filter did not choose.
  totals.remaining = (await existingDeadLetterKeys(db, AGENTK_STATES_PROJECTION, letters.map((l) => l.key))).size;
  totals.removed = totals.selected - totals.remaining;
  return totals;
}

interface Chosen {
  /** The workspace's letters the filter chose. */
  keys: string[];
  /** Bad messages of unknown workspace that now decode to this one. */
  unheld: HeldEvent[];
}

const retrying = (options: DeadLetterWorkOptions) => ({
  signal: options.signal,
  onRetry: logRetry(options.log, 'dead letters'),
});

function asMessage(position: { topic: string; partition: number; offset: string }, raw: NonNullable<HeldEvent['raw']>): WorkspaceMessage {
  return { ...position, key: raw.key, value: raw.value, timestamp: raw.timestamp };
}

/** One workspace, one transaction: see the header. */
async function releaseWorkspace(
  client: Session,
  options: DeadLetterWorkOptions,
  workspaceId: number,
  chosen: Chosen,
  purge: ReadonlySet<string>,
): Promise<{ released: number; stale: number }> {
  const { projection } = options;
  await lockProjectionShared(client, projection);
  const folds = await loadFolds(client, projection, [workspaceId]);
  const held = await readHeldEvents(client, projection, AGENTK_STATES_PROJECTION, workspaceId);
  const entries = [...held, ...chosen.unheld].sort(byPosition);
  const purged = entries.filter((e) => e.deadLetterKey !== null && purge.has(e.deadLetterKey));
  await options.decode.prepare(entries.flatMap((e) => (e.raw === undefined ? [] : [asMessage(e, e.raw)])));
  const applied: HeldEvent[] = [];
  const events: PositionedEvent[] = [];
  let blocked: { entry: HeldEvent; error: BadMessage | undefined } | undefined;
  for (const entry of entries) {
    if (purged.includes(entry)) continue;
    const outcome = entry.raw === undefined ? undefined : options.decode(asMessage(entry, entry.raw));
    if (!outcome?.ok) {
      blocked = { entry, error: outcome?.ok === false ? outcome.error : undefined };
      break;
    }
    applied.push(entry);
    events.push({ message: asMessage(entry, entry.raw!), event: outcome.event });
  }
  // Purged: every chosen letter (also one that holds nothing, e.g. from before migration 010). The workspace's
  // own letter (a failed generation), when not purged, is regenerated below.
  const workspaceLetterKey = `workspace:${workspaceId}`;
  const removedKeys = [
    ...chosen.keys.filter((key) => purge.has(key)),
    ...applied.flatMap((e) => (e.deadLetterKey === null ? [] : [e.deadLetterKey])),
  ];
  await deleteDeadLetters(client, AGENTK_STATES_PROJECTION, removedKeys);
  await releaseHeldEvents(client, projection, [...purged, ...applied]);
  const hadLetter = (await existingDeadLetterKeys(client, AGENTK_STATES_PROJECTION, [workspaceLetterKey])).size > 0;

  const folding = await foldEvents(client, projection, events, folds, options.sink);
  const fold = folding.touched.get(workspaceId) ?? folds.get(workspaceId)!;
  // Generated once, from the state after the release (projectFolds skips a workspace with no live state).
  await projectTouched(client, new Map<number, WorkspaceFold>([[workspaceId, fold]]), folding.lastMessage, options, []);
  // No live folded state to generate from (a snapshot-only deployment, or its create is the bad message): it stays.
  if (hadLetter && !live(fold)) await touchDeadLetters(client, AGENTK_STATES_PROJECTION, [workspaceLetterKey]);
  if (blocked !== undefined) {
    const { entry, error } = blocked;
    const key = entry.deadLetterKey ?? messageLetterKey(entry);
    if (entry.deadLetterKey === null) await markHeldEventBad(client, projection, entry, key);
    await stillFailing(client, { key, workspaceId, kafka: entry, raw: entry.raw }, error);
  }
  return { released: applied.filter((e) => e.deadLetterKey === null).length, stale: folding.stale };
}

const live = (fold: WorkspaceFold): boolean => fold.state !== undefined && !fold.state.deleted;

function byPosition(a: HeldEvent, b: HeldEvent): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  const d = BigInt(a.offset) - BigInt(b.offset);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/**
 * Records that a bad message still fails: attempts + 1 and, when it was decoded again, the new error. A
 * letter without its bytes (written before migration 010) keeps its error: only a purge removes it.
 */
async function stillFailing(
  client: Session,
  letter: Pick<StoredDeadLetter, 'key' | 'workspaceId' | 'raw'> & { kafka: { topic: string; partition: number; offset: string } },
  error: BadMessage | undefined,
): Promise<void> {
  if (error === undefined) {
    await touchDeadLetters(client, AGENTK_STATES_PROJECTION, [letter.key]);
    return;
  }
  await recordDeadLetters(client, AGENTK_STATES_PROJECTION, [
    {
      workspaceId: error.workspaceId ?? letter.workspaceId,
      source: KAFKA_SOURCE,
      badMessage: true,
      kafka: { topic: letter.kafka.topic, partition: letter.kafka.partition, offset: letter.kafka.offset, key: letter.raw?.key?.toString('utf8') ?? null },
      errorKind: error.reason,
      errorPath: error.path,
      message: error.message,
      inputExcerpt: rawExcerpt(letter.raw?.value ?? null),
      raw: letter.raw,
    },
  ]);
}
