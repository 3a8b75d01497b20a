/**
 * Kafka's copy of the positions that PostgreSQL holds (the checkpoints), so that `kafka-consumer-groups`
 * shows the group's lag. Sent off the batches' path: one request at a time, carrying the latest offset of every
 * partition committed meanwhile. Awaiting the broker after each PostgreSQL commit cost every batch a round trip,
 * for a copy: PostgreSQL is the truth, so a failed copy is one warn line and only delays the lag display.
 */
import type { Logger } from '../../ops/logger.js';
import { partitionKey } from './kafka-client.js';

export interface OffsetCopy {
  topic: string;
  partition: number;
  /** The next offset to consume (Kafka's committed-offset convention, as the checkpoint's). */
  offset: string;
}

export class OffsetCopies {
  private readonly unsent = new Map<string, OffsetCopy>();
  private sending: Promise<void> | undefined;

  constructor(
    private readonly commit: (offsets: OffsetCopy[]) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** A partition's new checkpoint, committed in PostgreSQL: sent now, or with the next request. */
  add(copy: OffsetCopy): void {
    this.unsent.set(partitionKey(copy.topic, copy.partition), copy);
    this.send();
  }

  /**
   * A new assignment: a partition that moved to another member gets its copies from there; a late one from
   * here would only set Kafka's copy back.
   */
  keepOnly(assigned: ReadonlySet<string>): void {
    for (const key of this.unsent.keys()) if (!assigned.has(key)) this.unsent.delete(key);
  }

  /** Resolves once no copy is in flight or waiting: before the consumer leaves its group, which refuses later ones. */
  async sent(): Promise<void> {
    while (this.sending !== undefined) await this.sending;
  }

  private send(): void {
    if (this.sending !== undefined || this.unsent.size === 0) return;
    const offsets = [...this.unsent.values()];
    this.unsent.clear();
    this.sending = this.commit(offsets)
      .catch((error: Error) => {
        const where = offsets.map((o) => `${partitionKey(o.topic, o.partition)}@${o.offset}`).join(', ');
        this.log.warn(`could not commit offsets ${where} to Kafka: ${error.message}`, { offsets, err: error });
      })
      .finally(() => {
        this.sending = undefined;
        this.send();
      });
  }
}
