/**
 * What this process's consumer holds and how far behind it is: the lag per partition (metrics) and the
 * readiness verdict (/readyz), both from what the engine reports through ConsumerObserver.
 *
 * States: `starting` (no group join yet) → `joined` (holds its assignment, maybe none) → `stopped` (the run
 * ended, or a crashed consumer waits to be replaced) → `joined` again. A rebuild in progress (`rebuilding`)
 * is not ready either: its follower starts only after the switch.
 */
import type { ConsumerObserver, PartitionPosition } from '../engine/consumer-observer.js';
import { partitionKey } from '../sources/kafka/kafka-client.js';

export interface PartitionLag {
  topic: string;
  partition: number;
  lag: number;
}

export interface Readiness {
  ready: boolean;
  /** One line for the probe's body and for people. */
  reason: string;
}

interface Offsets {
  next: bigint;
  high: bigint;
}

export class ConsumerState implements Omit<ConsumerObserver, 'batchApplied'> {
  private state: 'starting' | 'joined' | 'stopped' = 'starting';
  private readonly positions = new Map<string, Offsets & { topic: string; partition: number }>();
  private rebuildPhase: string | undefined;

  /** A rebuild is in this phase; undefined once it ended. */
  rebuilding(phase: string | undefined): void {
    this.rebuildPhase = phase;
  }

  assigned(partitions: readonly PartitionPosition[]): void {
    this.state = 'joined';
    const keep = new Set(partitions.map(keyOf));
    for (const key of this.positions.keys()) if (!keep.has(key)) this.positions.delete(key);
    for (const p of partitions) this.position(p);
  }

  stopped(): void {
    this.state = 'stopped';
    this.positions.clear();
  }

  position(p: PartitionPosition): void {
    // Reports may arrive out of order (ConsumerObserver): both offsets only grow, so keep the highest of each.
    const known = this.positions.get(keyOf(p));
    if (known === undefined && this.state !== 'joined') return;
    const next = BigInt(p.next);
    const high = BigInt(p.high);
    this.positions.set(keyOf(p), {
      topic: p.topic,
      partition: p.partition,
      next: known !== undefined && known.next > next ? known.next : next,
      high: known !== undefined && known.high > high ? known.high : high,
    });
  }

  lags(): PartitionLag[] {
    return [...this.positions.values()].map(({ topic, partition, next, high }) => ({ topic, partition, lag: high > next ? Number(high - next) : 0 }));
  }

  readiness(maxLag: number): Readiness {
    if (this.rebuildPhase !== undefined) return { ready: false, reason: `rebuilding (${this.rebuildPhase})` };
    if (this.state === 'starting') return { ready: false, reason: 'the consumer has not joined its group yet' };
    if (this.state === 'stopped') return { ready: false, reason: 'the consumer is stopped (ending, or restarting after a failure)' };
    const lags = this.lags();
    if (lags.length === 0) return { ready: true, reason: 'joined; no partitions assigned (the group has more members than partitions)' };
    const behind = lags.filter((l) => l.lag > maxLag);
    if (behind.length > 0) {
      const list = behind.map((l) => `${l.topic}[${l.partition}] ${l.lag}`).join(', ');
      return { ready: false, reason: `lag above ${maxLag} on ${behind.length} of ${lags.length} partitions: ${list}` };
    }
    return { ready: true, reason: `${lags.length} partitions assigned, lag at most ${Math.max(...lags.map((l) => l.lag))}` };
  }
}

const keyOf = (p: { topic: string; partition: number }): string => partitionKey(p.topic, p.partition);
