/**
 * A Kafka replay or follow: the Kafka source (sources/kafka/kafka-source.ts: consumer, seeks, restarts,
 * retention checks, the Kafka commit copy) feeding the engine loop (batch-loop.ts: decode, one transaction
 * per batch, totals). What a rebuild and the CLI call.
 */
import { createWorkspaceDecoder, type WorkspaceDecoder } from '../events/decode.js';
import type { AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import type { RowSink } from '../sink/postgres/row-sink.js';
import { runKafkaSource, type KafkaSourceOptions } from '../sources/kafka/kafka-source.js';
import { createBatchEngine, type BatchEngineOptions, type ReplayTotals } from './batch-loop.js';

/** The source's options, and what the engine needs to apply its batches (`generator`: where their rows are generated). */
export interface ReplayOptions extends KafkaSourceOptions, Pick<BatchEngineOptions, 'generator'> {
  agentConfigMode: AgentConfigMode;
  /** The live table, or a rebuild's shadow. */
  sink: RowSink;
  /** The decoder (default: the package's schema catalog; --schemas chooses another). */
  decode?: WorkspaceDecoder | undefined;
  /** Generate rows per batch (default), or only fold (a rebuild materializes at the end). */
  materialize?: boolean;
  /** Called after each committed batch with the running totals. */
  onBatch?: (totals: ReplayTotals) => void;
}

export async function runKafkaReplay(options: ReplayOptions): Promise<ReplayTotals> {
  const engine = createBatchEngine({ ...options, decode: options.decode ?? createWorkspaceDecoder(), materialize: options.materialize ?? true });
  await runKafkaSource(options, engine.apply);
  return engine.totals;
}
