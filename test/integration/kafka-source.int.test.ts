/**
 * The Kafka source under runKafkaReplay, in process, with the real broker and PostgreSQL: what the
 * observer (metrics, /readyz, the heartbeat) is told, and the ends of a replay.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/sink/postgres/database.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { lockProjectionExclusive } from '../../src/sink/postgres/projection-locks.js';
import { liveAgentkStates } from '../../src/sink/postgres/row-sink.js';
import { runKafkaReplay, type ReplayOptions } from '../../src/engine/kafka-replayer.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import type { Logger } from '../../src/ops/logger.js';
import { ConsumerState } from '../../src/ops/consumer-state.js';
import { withKafkaAdmin } from '../../src/sources/kafka/kafka-client.js';
import { LAG_REFRESH_MS, SESSION_TIMEOUT_MS } from '../../src/sources/kafka/kafka-source.js';
import { testProducerConfig } from '../support/kafka-broker.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { asJson, createdEvent, createTopic, foldedStates, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow, type OutgoingMessage } from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'kafka-source-tests', dnsZone: 'test.workspace.me', topicPrefix: 'kafka-source', groupPrefix: 'kafka-source' });
const { kafka, db } = ctx;

const warnings: string[] = [];
const log: Logger = { debug: () => undefined, info: () => undefined, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m), child: () => log };

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A replay into the live table of the test's database (migrated), observed by `state`. */
function replay(state: ConsumerState, overrides: Partial<ReplayOptions> & { signal: AbortSignal }) {
  return runKafkaReplay({
    kafka,
    db: db.pool as unknown as Database,
    projection: AGENTK_STATES_PROJECTION,
    topics: [ctx.topic],
    groupId: ctx.group,
    follow: true,
    start: { kind: 'checkpoints' },
    agentConfigMode: 'pinned',
    sink: liveAgentkStates,
    log,
    observer: { ...observe(state), batchApplied: () => undefined },
    ...overrides,
  });
}

const observe = (state: ConsumerState) => ({
  assigned: state.assigned.bind(state),
  stopped: state.stopped.bind(state),
  position: state.position.bind(state),
});

const events = (ids: number[]): OutgoingMessage[] => ids.map((id) => asJson(createdEvent(workspaceRow(id))));

async function checkpoint(): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ n: string }>('SELECT next_offset::text AS n FROM rebuild_projection.checkpoints WHERE topic = $1', [ctx.topic]);
  return rows[0]?.n;
}

async function foldedVersion(workspaceId: number): Promise<string | undefined> {
  return (await foldedStates(db.pool)).find((s) => s.id === workspaceId)?.version;
}

async function dropTopic(): Promise<void> {
  await withKafkaAdmin(kafka, (admin) => admin.deleteTopics({ topics: [ctx.topic], timeout: 10_000 }));
}

/**
 * A one-partition topic, a follower of it (`follow` starts it, on another database object if given) and a
 * session that holds the projection's lock as a switch would, so batches wait (`block`, `unblock`); all
 * ended and dropped after `work`.
 */
async function withFollower(
  work: (follower: { state: ConsumerState; follow: (database?: Database) => Promise<unknown>; block: () => Promise<void>; unblock: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  await createTopic(kafka, ctx.topic, 1);
  const blocker = await db.pool.connect();
  const controller = new AbortController();
  const state = new ConsumerState();
  let running: Promise<unknown> | undefined;
  let blocked = false;
  try {
    await work({
      state,
      follow: (database) => (running = replay(state, { signal: controller.signal, ...(database && { db: database }) })),
      block: async () => {
        await blocker.query('BEGIN');
        blocked = true;
        await lockProjectionExclusive(blocker, AGENTK_STATES_PROJECTION);
      },
      unblock: async () => {
        await blocker.query('COMMIT');
        blocked = false;
      },
    });
  } finally {
    if (blocked) await blocker.query('ROLLBACK');
    blocker.release();
    controller.abort();
    await running;
    await dropTopic();
  }
}

describe('the Kafka source', () => {
  beforeEach(async () => {
    await migrate(db.pool);
  });

  it('moves past the commit marker that ends a transactional topic: a replay ends, and a follower shows lag 0', async () => {
    await createTopic(kafka, ctx.topic, 1);
    try {
      await upsertWorkspaceRows(db.pool, [1, 2, 3].map((id) => workspaceRow(id)));
      const producer = kafka.producer({ ...testProducerConfig, idempotent: true, maxInFlightRequests: 1, transactionalId: `${ctx.topic}-txn` });
      await producer.connect();
      try {
        const txn = await producer.transaction();
        await txn.send({ topic: ctx.topic, messages: events([1, 2, 3]) });
        await txn.commit();
      } finally {
        await producer.disconnect();
      }
      // Three records and the commit marker: the high watermark is 4 (once the broker has written the marker).
      await waitUntil('the commit marker', async () => (await withKafkaAdmin(kafka, (admin) => admin.fetchTopicOffsets(ctx.topic)))[0]!.high === '4');

      const state = new ConsumerState();
      const stop = AbortSignal.timeout(30_000);
      const totals = await replay(state, { follow: false, signal: stop });
      expect(stop.aborted).toBe(false);
      expect(totals.consumed).toBe(3);
      expect(await checkpoint()).toBe('4');
      expect((await readModel(db.pool)).size).toBe(3);

      // A follower of the same topic, then an aborted transaction: kafkajs hands no batch of it to eachBatch.
      const follower = new ConsumerState();
      const controller = new AbortController();
      const running = replay(follower, { groupId: `${ctx.group}-follow`, signal: controller.signal });
      try {
        await waitUntil('the follower to join', () => follower.readiness(0).reason.includes('partitions assigned'));
        const aborting = kafka.producer({ ...testProducerConfig, idempotent: true, maxInFlightRequests: 1, transactionalId: `${ctx.topic}-txn` });
        await aborting.connect();
        try {
          const txn = await aborting.transaction();
          await txn.send({ topic: ctx.topic, messages: [asJson(updatedEvent(1, 2, { desired_state: 'Stopped' }))] });
          await txn.abort();
        } finally {
          await aborting.disconnect();
        }
        // The aborted record at 4, its marker at 5.
        await waitUntil('lag 0 at offset 6', async () => (await checkpoint()) === '6' && follower.lags()[0]?.lag === 0);
        expect(follower.readiness(0).ready).toBe(true);
        expect(await foldedVersion(1)).toBe('1');
      } finally {
        controller.abort();
        await running;
      }
    } finally {
      await dropTopic();
    }
  }, 60_000);

  it('refreshes the lag while a batch waits: a stuck follower is not ready once the topic moves on', async () => {
    await withFollower(async ({ state, follow, block, unblock }) => {
      await upsertWorkspaceRows(db.pool, Array.from({ length: 11 }, (_, i) => workspaceRow(i + 1)));
      await produce(kafka, ctx.topic, events([1]));
      follow();
      await waitUntil('the first event applied', async () => (await checkpoint()) === '1' && state.lags()[0]?.lag === 0);
      await block();
      await produce(kafka, ctx.topic, events([2, 3, 4, 5, 6]));
      await waitUntil('the stuck batch to arrive', () => state.lags()[0]?.lag === 5);
      // Produced while the batch waits: no batch reports these, only the refresh does.
      await produce(kafka, ctx.topic, events([7, 8, 9, 10, 11]));
      await waitUntil('the lag to show the new records', () => state.lags()[0]?.lag === 10, LAG_REFRESH_MS * 3);
      expect(state.readiness(7)).toMatchObject({ ready: false });
      await unblock();
      await waitUntil('the lag to drain', () => state.lags()[0]?.lag === 0);
      expect(state.readiness(7).ready).toBe(true);
    });
  }, 60_000);

  it('keeps its group membership through a batch that waits longer than the session timeout, and goes on', async () => {
    await withFollower(async ({ state, follow, block, unblock }) => {
      await upsertWorkspaceRows(db.pool, [1, 2].map((id) => workspaceRow(id)));
      await block();
      await produce(kafka, ctx.topic, events([1]));
      let ended: unknown;
      follow().then(
        () => (ended = 'returned'),
        (error: unknown) => (ended = error),
      );
      await waitUntil('the batch to arrive', () => state.lags()[0]?.lag === 1);
      await new Promise((resolve) => setTimeout(resolve, SESSION_TIMEOUT_MS + 3_000));
      await unblock();
      await waitUntil('the batch to commit', async () => (await checkpoint()) === '1');
      await produce(kafka, ctx.topic, events([2]));
      await waitUntil('the next event', async () => (await checkpoint()) === '2');
      expect(ended).toBeUndefined();
    });
  }, 60_000);

  it('retries a failed read of the checkpoints at the group join: the consumer reports its assignment and is ready', async () => {
    await withFollower(async ({ state, follow }) => {
      await upsertWorkspaceRows(db.pool, [workspaceRow(1)]);
      await produce(kafka, ctx.topic, events([1]));
      // The pool, except that its second read of the checkpoints (the group join's, after the start's) fails as a dropped connection does.
      let reads = 0;
      const flaky = new Proxy(db.pool, {
        get(target, property, receiver) {
          if (property !== 'query') return Reflect.get(target, property, receiver);
          return (text: string, values?: unknown[]) => {
            if (/^\s*SELECT topic, kafka_partition, next_offset/.test(text) && ++reads === 2) {
              return Promise.reject(Object.assign(new Error('Connection terminated unexpectedly (injected)'), { code: 'ECONNRESET' }));
            }
            return target.query(text, values);
          };
        },
      });
      follow(flaky as unknown as Database);
      await waitUntil('readiness', () => state.readiness(0).ready, 15_000);
      expect(reads).toBeGreaterThanOrEqual(3);
      expect(warnings.some((w) => /seeking the assigned partitions.*transient failure/.test(w))).toBe(true);
    });
  }, 60_000);
});
