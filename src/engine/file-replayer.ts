/**
 * The file replayer: applies a file's records (sources/file) through the engine loop every source uses
 * (batch-loop.ts: applyKafkaBatch, one transaction per partition batch with its checkpoint). So a file's events are decoded, folded,
 * dead-lettered, held and written exactly as the same messages from a broker would be, and its checkpoints
 * (per topic partition, offsets = the dump's, or line − 1) make a second run skip what the first applied.
 *
 * Batches: records are grouped per topic partition in file order and a partition's batch is applied when it
 * holds `batchSize` records, and every batch at the end of the file. Within a partition the order is the
 * file's; across partitions nothing orders events anyway (versions decide, updates park).
 *
 * Start: `checkpoints` applies what lies past each partition's checkpoint; `beginning` first moves each
 * partition's checkpoint back to its first record in the file (in the transaction of its first batch), so
 * the whole file is replayed, changing nothing that is already folded.
 *
 * A file line the decoder cannot read is a bad message like any other, dead-lettered with its file:line.
 */
import { createHash } from 'node:crypto';
import type { Database, Session } from '../sink/postgres/database.js';
import type { DecodeResult, WorkspaceDecoder, WorkspaceMessage } from '../events/decode.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { Logger } from '../ops/logger.js';
import { partitionKey } from '../sources/kafka/kafka-client.js';
import { FileSourceError, readFileRecords, type EventFile, type FileFormat, type FileRecord } from '../sources/file/file-source.js';
import { lockCheckpoint, saveCheckpoints } from '../sink/postgres/checkpoints.js';
import { lockFileIdentity, saveFileIdentity } from '../sink/postgres/file-identities.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { createBatchEngine, type BatchEngineOptions, type ReplayTotals } from './batch-loop.js';

/** `generator`: where the batches' rows are generated (default: this thread). */
export interface FileReplayOptions extends Pick<BatchEngineOptions, 'generator'> {
  db: Database;
  projection: string;
  file: EventFile;
  start: 'checkpoints' | 'beginning';
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  decode: WorkspaceDecoder;
  /** Generate rows per batch (default), or only fold (a rebuild materializes at the end). */
  materialize?: boolean;
  /** Records per partition batch (one transaction each). */
  batchSize: number;
  signal: AbortSignal;
  log: Logger;
  onBatch?: (totals: ReplayTotals) => void;
}

const FORMAT_NAMES: Record<FileFormat, string> = { events: 'NDJSON events', kcat: 'a kcat -J topic dump' };

export async function runFileReplay(options: FileReplayOptions): Promise<ReplayTotals> {
  const { file, signal } = options;
  const lineOf = new WeakMap<WorkspaceMessage, FileRecord>();
  const engine = createBatchEngine({ ...options, decode: fileDecoder(options.decode, file, lineOf), materialize: options.materialize ?? true });
  const pending = new Map<string, { topic: string; partition: number; records: WorkspaceMessage[] }>();
  const started = new Set<string>();

  const flush = async (key: string): Promise<void> => {
    const batch = pending.get(key);
    if (!batch || batch.records.length === 0) return;
    pending.set(key, { ...batch, records: [] });
    const first = batch.records[0]!.offset;
    const firstOfPartition = !started.has(key);
    await engine.apply({
      topic: batch.topic,
      partition: batch.partition,
      messages: batch.records,
      label: file.path,
      prelude: async (client) => {
        if (!firstOfPartition) return;
        if (batch.topic !== file.topic) await refuseGap(client, options.projection, file, batch.topic, batch.partition, first);
        else await claimFile(client, options, batch.records[0]!);
        if (options.start === 'beginning') await saveCheckpoints(client, options.projection, [{ topic: batch.topic, partition: batch.partition, nextOffset: first }]);
      },
    });
    started.add(key);
  };

  // Said once, so that a file read in the format its author did not mean is noticed at once.
  const onFormat = (format: FileFormat) => options.log.info(`${file.path}: read as ${FORMAT_NAMES[format]}`, { file: file.path, format });
  const lastOffset = new Map<string, bigint>();
  for await (const record of readFileRecords(file, onFormat)) {
    const { message } = record;
    lineOf.set(message, record);
    const key = partitionKey(message.topic, message.partition);
    // A batch below its checkpoint is skipped as already applied: out-of-order offsets (dumps concatenated in
    // the wrong order) would be dropped without a word.
    const previous = lastOffset.get(key);
    if (previous !== undefined && BigInt(message.offset) <= previous) {
      throw new FileSourceError(`${file.path}:${record.line}: ${key} offset ${message.offset} is not after ${previous}: the records of a partition must be in offset order`);
    }
    lastOffset.set(key, BigInt(message.offset));
    const batch = pending.get(key) ?? { topic: message.topic, partition: message.partition, records: [] };
    batch.records.push(message);
    pending.set(key, batch);
    if (batch.records.length >= options.batchSize) await flush(key);
    if (signal.aborted) return engine.totals;
  }
  for (const key of pending.keys()) await flush(key);
  return engine.totals;
}

/**
 * A dump of a topic that starts above the partition's checkpoint lacks the records in between: applying it
 * would move the checkpoint past them (the Kafka path refuses a retention gap the same way).
 */
async function refuseGap(client: Session, projection: string, file: EventFile, topic: string, partition: number, first: string): Promise<void> {
  const checkpoint = await lockCheckpoint(client, projection, topic, partition);
  if (checkpoint === undefined || BigInt(first) <= BigInt(checkpoint)) return;
  throw new FileSourceError(
    `${file.path}: ${topic}[${partition}] starts at offset ${first} but its checkpoint is at ${checkpoint}: ` +
      `records ${checkpoint}..${BigInt(first) - 1n} are not in the dump; nothing of this partition was applied`,
  );
}

/**
 * A bare NDJSON file's checkpoint belongs to the file it was made from, recognized by its first record: another
 * file of the same name would resume there and skip its own first lines. `--from-beginning` claims the name
 * for this file; a checkpoint recorded before file identities existed is taken as this file's.
 */
async function claimFile(client: Session, options: FileReplayOptions, first: WorkspaceMessage): Promise<void> {
  const { projection, file } = options;
  const sha256 = createHash('sha256').update(first.value ?? Buffer.alloc(0)).digest('hex');
  const recorded = await lockFileIdentity(client, projection, file.topic);
  if (recorded === sha256) return;
  if (recorded !== undefined && options.start === 'checkpoints') {
    const checkpoint = await lockCheckpoint(client, projection, file.topic, first.partition);
    throw new FileSourceError(
      `${file.path}: the checkpoint of ${file.topic} (line ${checkpoint === undefined ? 1 : BigInt(checkpoint) + 1n}) was made from another file ` +
        'of that name (its first line differs), so resuming there would skip lines of this one; nothing was applied. ' +
        'Replay this file with --from-beginning, or give it a name of its own',
    );
  }
  await saveFileIdentity(client, projection, file.topic, sha256);
}

/**
 * The decoder, with each bad message located in the file: `events.ndjson:42: not_json: …` (a kcat dump's line
 * also keeps its topic position). A broken kcat envelope fails with what the file source found.
 */
function fileDecoder(decode: WorkspaceDecoder, file: EventFile, lineOf: WeakMap<WorkspaceMessage, FileRecord>): WorkspaceDecoder {
  const locate = (message: WorkspaceMessage): DecodeResult => {
    const record = lineOf.get(message);
    if (record === undefined) return decode(message);
    const position = `${message.topic}[${message.partition}]@${message.offset}`;
    const result: DecodeResult = record.failure
      ? {
          ok: false,
          error: {
            reason: record.failure.reason,
            message: `${position}: ${record.failure.reason}${record.failure.path ? ` at ${record.failure.path}` : ''}: ${record.failure.detail}`,
            ...(record.failure.path ? { path: record.failure.path } : {}),
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
          },
        }
      : decode(message);
    if (result.ok) return result;
    const where = `${file.path}:${record.line}`;
    // The decoder names the position first; a bare line's position is its line, a dump's is kept beside it.
    const bare = message.topic === file.topic;
    const text = result.error.message.startsWith(`${position}: `) ? result.error.message.slice(position.length + 2) : result.error.message;
    return { ok: false, error: { ...result.error, message: `${where}${bare ? '' : ` (${position})`}: ${text}` } };
  };
  // A dump of registry-framed Avro needs its writer schemas fetched, as the Kafka path does.
  return Object.assign(locate, { prepare: (messages: readonly WorkspaceMessage[]) => decode.prepare(messages) });
}
