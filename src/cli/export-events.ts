/**
 * `--export-events`: GitLab's workspaces as full-row events (export-events.ts) to a topic or a new NDJSON file.
 * Reads --database-url only, writes no database (no migration, nothing created): a role with SELECT suffices.
 */
import type { Kafka } from 'kafkajs';
import type { Database } from '../sink/postgres/database.js';
import { loadSchemaCatalog } from '../events/codec/catalog.js';
import { encodeAvro, EncodeError, encodeJson } from '../events/encode.js';
import { ExportInterruptedError, ExportRowError, exportEvents, type EventExportSink } from '../engine/export-events.js';
import { withClient } from '../sink/postgres/transaction.js';
import { createLineFile, OutputFileError } from '../sink/ndjson-file.js';
import { MessageTooLargeError, openTopicProducer, TopicNotEmptyError, type TopicProducer } from '../sources/kafka/topic-producer.js';
import { ExitCode } from './exit-codes.js';
import type { CliArgs } from './options.js';
import { UsageError } from './usage-error.js';

/** Errors of this mode that are fully explained by their one line. */
export const EXPORT_ERRORS = [ExportRowError, ExportInterruptedError, MessageTooLargeError, TopicNotEmptyError, OutputFileError, EncodeError];

interface Io {
  report: (line: string) => void;
  signal: AbortSignal;
}

export async function runExportEvents(args: CliArgs, io: Io, db: Database, openKafka: () => Promise<Kafka>): Promise<ExitCode> {
  const target = args.exportTo!;
  const started = performance.now();
  let producer: TopicProducer | undefined;
  let sink: EventExportSink;
  let where: () => string;
  if (target.kind === 'kafka') {
    const [topic, ...more] = args.topics;
    if (more.length > 0 || topic === undefined) throw new UsageError('--export-events produces to one topic: give one --topic');
    const topicProducer = await openTopicProducer(await openKafka(), topic, { append: target.append });
    producer = topicProducer;
    sink = {
      write: (messages) => topicProducer.send(messages.map((m) => ({ label: `workspace ${m.workspaceId}`, key: m.key, value: m.value }))),
      finish: async () => undefined,
      discard: async () => undefined,
    };
    where = () =>
      `topic ${topic} (${target.encoding}): ${topicProducer.produced.messages} events in ${topicProducer.produced.requests} produce requests ` +
      `within max.message.bytes ${topicProducer.maxBatchBytes}`;
  } else {
    const file = await createLineFile(target.path);
    sink = { write: (messages) => file.append(messages.map((m) => m.value)), finish: () => file.commit(), discard: () => file.discard() };
    where = () => `${target.path} (NDJSON): ${file.bytes} bytes`;
  }
  const catalog = target.kind === 'kafka' && target.encoding === 'avro' && args.schemasDir !== undefined ? loadSchemaCatalog(args.schemasDir) : undefined;
  const encode = target.kind === 'kafka' && target.encoding === 'avro' ? (event: Parameters<typeof encodeAvro>[0]) => encodeAvro(event, undefined, catalog) : encodeJson;
  try {
    // runAgentkStates has checked that this is GitLab's database, as for every mode.
    const result = await withClient(db, (client) =>
      exportEvents(client, { batchSize: args.batchSize, agentConfigMode: args.agentConfigMode, encode, sink, signal: io.signal }),
    );
    const seconds = (performance.now() - started) / 1000;
    io.report(`agentk-states export-events: ${result.workspaces} workspaces from a snapshot at ${result.takenAt.toISOString()} to ${where()}; ${seconds.toFixed(1)} s`);
    return ExitCode.ok;
  } catch (error) {
    // What was acknowledged stays in the topic: say so, and how to finish.
    if (producer && producer.produced.messages > 0 && error instanceof Error) {
      error.message += ` (${producer.produced.messages} events were produced before this: after the fix, run again with --append)`;
    }
    throw error;
  } finally {
    await producer?.disconnect();
  }
}
