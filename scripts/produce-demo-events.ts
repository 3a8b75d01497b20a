/**
 * docker compose's one-shot demo job (and the test that runs compose's topology without Docker): creates the
 * topic when it is missing, then publishes one `workspace-created` event (Confluent Avro, the catalog's current
 * schema) per row of GitLab's `workspaces` table, as GitLab would have when it created them. It reads GitLab's
 * database and writes nothing to it. Running it again publishes the creates again, which change nothing.
 *
 * Environment: DATABASE_URL, KAFKA_BROKERS, KAFKA_TOPIC; KAFKA_TOPIC_PARTITIONS (default 3) for a new topic.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import { createCliLogger } from '../src/cli/logger.js';
import { encodeAvro, encodeKey } from '../src/events/encode.js';
import { workspaceRowSchema, type WorkspaceCreated } from '../src/events/workspace-event.js';
import { createKafka } from '../src/sources/kafka/kafka-client.js';

const required = (message: string) => z.string({ message }).min(1, message);
const environmentSchema = z.object({
  DATABASE_URL: required('set DATABASE_URL (the GitLab database to read workspaces from)'),
  KAFKA_BROKERS: required('set KAFKA_BROKERS'),
  KAFKA_TOPIC: required('set KAFKA_TOPIC'),
  KAFKA_TOPIC_PARTITIONS: z.string().regex(/^[1-9]\d*$/, 'KAFKA_TOPIC_PARTITIONS must be a positive integer').default('3').transform(Number),
});

async function main(): Promise<void> {
  const checked = environmentSchema.safeParse(process.env);
  if (!checked.success) throw new Error(checked.error.issues.map((i) => i.message).join('; '));
  const env = checked.data;
  const db = new pg.Client({ connectionString: env.DATABASE_URL });
  await db.connect();
  let events: WorkspaceCreated[];
  try {
    const { rows } = await db.query<Record<string, unknown>>('SELECT * FROM workspaces ORDER BY id');
    events = rows.map((row, index) => {
      const parsed = workspaceRowSchema.safeParse(row);
      if (!parsed.success) throw new Error(`workspaces row ${String(row.id ?? `#${index + 1}`)}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
      const workspace = parsed.data;
      return { type: 'workspace-created', eventId: randomUUID(), workspaceId: workspace.id, version: 1, occurredAt: workspace.created_at, workspace };
    });
  } finally {
    await db.end();
  }

  const kafka = createKafka({ brokers: env.KAFKA_BROKERS.split(',').map((b) => b.trim()), clientId: 'rebuild-projection-demo', log: createCliLogger({ level: 'warn', format: 'pretty', write: (line) => process.stderr.write(line) }) });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic: env.KAFKA_TOPIC, numPartitions: env.KAFKA_TOPIC_PARTITIONS }], waitForLeaders: true });
    process.stderr.write(`topic ${env.KAFKA_TOPIC}: ${created ? `created with ${env.KAFKA_TOPIC_PARTITIONS} partitions` : 'exists'}\n`);
  } finally {
    await admin.disconnect();
  }
  // Keyed by workspace id with Kafka's own partitioner (murmur2), so a workspace's events share a partition.
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic: env.KAFKA_TOPIC, acks: -1, messages: events.map((event) => ({ key: encodeKey(event.workspaceId), value: encodeAvro(event) })) });
  } finally {
    await producer.disconnect();
  }
  process.stdout.write(`published ${events.length} workspace-created events to ${env.KAFKA_TOPIC}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`produce-demo-events: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
