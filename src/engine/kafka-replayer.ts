/**
 * A Kafka replay or follow: the Kafka source (sources/kafka/kafka-source.ts: consumer, seeks, restarts,
 * retention checks, the Kafka commit copy) feeding the engine loop (batch-loop.ts: decode, one transaction
 * per batch, totals). What a rebuild and the CLI call.
 */
import type { Kafka } from 'kafkajs';
import { createWorkspaceDecoder, type WorkspaceDecoder } from '../events/decode.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { Logger } from '../ops/logger.js';
import type { Database } from '../sink/postgres/database.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { runKafkaSource } from '../sources/kafka/kafka-source.js';
import type { ReplayStart } from '../sources/kafka/start-positions.js';
import { createBatchEngine, type ReplayTotals } from './batch-loop.js';
import type { ConsumerObserver } from './consumer-observer.js';

export interface ReplayOptions {
  kafka: Kafka;
  db: Database;
  projection: string;
  topics: string[];
  groupId: string;
  follow: boolean;
  start: ReplayStart;
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  /** The decoder (default: the package's schema catalog; --schemas chooses another). */
  decode?: WorkspaceDecoder | undefined;
  /** Generate rows per batch (default), or only fold (a rebuild materializes at the end). */
  materialize?: boolean;
  signal: AbortSignal;
  log: Logger;
  /** Called after each committed batch with the running totals. */
  onBatch?: (totals: ReplayTotals) => void;
  /** Told the assignment, positions and each committed batch (metrics, readiness). */
  observer?: ConsumerObserver | undefined;
  /** How many partitions are processed at once in this process (default: the Kafka source's). */
  partitionsConsumedConcurrently?: number;
}

export async function runKafkaReplay(options: ReplayOptions): Promise<ReplayTotals> {
  const engine = createBatchEngine({ ...options, decode: options.decode ?? createWorkspaceDecoder(), materialize: options.materialize ?? true });
  await runKafkaSource(options, engine.apply);
  return engine.totals;
}
