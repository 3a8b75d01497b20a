/**
 * A stand-in for GitLab and its event publisher, for fault-injection tests: every change is written to the
 * `workspaces` table first (as Rails commits it) and then published as an event, keyed by workspace, so the
 * table and the topic always describe the same workspaces. `--verify` (which recomputes from the table) is
 * then the oracle for whatever the rebuilder made of the topic.
 */
import type { Kafka, Producer } from 'kafkajs';
import type pg from 'pg';
import type { WorkspaceChanges, WorkspaceRow } from '../../projections/agentk-states/events.js';
import { testProducerConfig } from './kafka-broker.js';
import { asJson, createdEvent, tombstone, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from './workspace-events.js';

/** A small deterministic PRNG (mulberry32): a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class GitLabSimulator {
  private readonly live = new Map<number, { row: WorkspaceRow; version: number }>();
  private nextId: number;
  private producer: Producer | undefined;
  /** Messages published so far. */
  published = 0;

  constructor(
    private readonly db: pg.Pool,
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly random: () => number,
    firstId = 1,
  ) {
    this.nextId = firstId;
  }

  async connect(): Promise<void> {
    this.producer = this.kafka.producer(testProducerConfig);
    await this.producer.connect();
  }

  async disconnect(): Promise<void> {
    await this.producer?.disconnect();
    this.producer = undefined;
  }

  /** Creates `n` workspaces (table first, then the events). */
  async create(n: number): Promise<void> {
    const rows: WorkspaceRow[] = [];
    for (let i = 0; i < n; i++) {
      const row = workspaceRow(this.nextId++);
      rows.push(row);
      this.live.set(row.id, { row, version: 1 });
    }
    await upsertWorkspaceRows(this.db, rows);
    await this.publish(rows.map((row) => asJson(createdEvent(row))));
  }

  /**
   * One burst of `n` random changes: updates of columns the generator reads, updates of columns it does not
   * read (the agent's reconciliation bumps), deletes, and new workspaces.
   */
  async burst(n: number): Promise<void> {
    const messages: OutgoingMessage[] = [];
    for (let i = 0; i < n; i++) {
      const ids = [...this.live.keys()];
      const dice = this.random();
      if (ids.length === 0 || dice < 0.1) {
        const row = workspaceRow(this.nextId++);
        this.live.set(row.id, { row, version: 1 });
        await upsertWorkspaceRows(this.db, [row]);
        messages.push(asJson(createdEvent(row)));
        continue;
      }
      const id = ids[Math.floor(this.random() * ids.length)]!;
      const entry = this.live.get(id)!;
      if (dice < 0.15) {
        this.live.delete(id);
        await this.db.query('DELETE FROM workspaces WHERE id = $1', [id]);
        messages.push(tombstone(id));
        continue;
      }
      const changes: WorkspaceChanges =
        dice < 0.6
          ? { desired_state: entry.row.desired_state === 'Running' ? 'Stopped' : 'Running', desired_state_updated_at: new Date(1_760_000_000_000 + this.published * 1000) }
          : dice < 0.8
            ? { url: `https://ws-${id}.example/${this.published}` }
            : { responded_to_agent_at: new Date(1_760_000_000_000 + this.published * 1000), actual_state: 'Running' };
      entry.row = { ...entry.row, ...changes } as WorkspaceRow;
      entry.version += 1;
      await upsertWorkspaceRows(this.db, [entry.row]);
      messages.push(asJson(updatedEvent(id, entry.version, changes)));
    }
    await this.publish(messages);
  }

  /** Runs bursts every `intervalMs` until the returned stop function is called (which awaits the last burst). */
  run(burstSize: number, intervalMs: number): () => Promise<void> {
    let running = true;
    const loop = (async () => {
      while (running) {
        await this.burst(burstSize);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
    return async () => {
      running = false;
      await loop;
    };
  }

  get workspaceCount(): number {
    return this.live.size;
  }

  private async publish(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    if (!this.producer) throw new Error('GitLabSimulator: connect() first');
    // A create carries a ~17 KB devfile: keep each request well under the broker's 1 MB message.max.bytes.
    for (let i = 0; i < messages.length; i += 40) {
      await this.producer.send({ topic: this.topic, acks: -1, messages: messages.slice(i, i + 40) });
    }
    this.published += messages.length;
  }
}
