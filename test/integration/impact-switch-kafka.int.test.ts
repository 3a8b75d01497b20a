import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useKafkaTestContext } from '../support/kafka-context.js';
import { asAvro, createdEvent, createTopic, produce, readModel, updatedEvent, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const ctx = useKafkaTestContext({ clientId: 'impact-switch-tests', dnsZone: 'gen1.example', topicPrefix: 'workspace-events', groupPrefix: 'impact' });
const { brokers, kafka, db } = ctx;

const cli = (...args: string[]) => runCli(['agentk-states', ...args, '--brokers', brokers, '--topic', ctx.topic, '--group', ctx.group, '--database-url', db.url]);

interface PreviewJson {
  workspaces: number;
  live_ahead: string[];
  sample: { workspace_id: number; change: string }[];
  fingerprint: string;
}
const preview = async () => JSON.parse((await cli('--preview', '--json')).stdout) as PreviewJson;
const replicasOf = (config: unknown) => (config as { kind: string; spec: { replicas: number } }[]).find((o) => o.kind === 'Deployment')!.spec.replicas;
const zoneOf = (config: unknown) => JSON.stringify(config).match(/[a-z0-9]+\.example/)?.[0];

describe('--switch beside a consumer that moves the live table after the preview', () => {
  it('refuses the previewed fingerprint once the consumer applied an event, and switches the diff previewed after it', async () => {
    await createTopic(kafka, ctx.topic, 2);
    const rows = Array.from({ length: 6 }, (_, i) => workspaceRow(i + 1));
    await upsertWorkspaceRows(db.pool, rows);
    await produce(kafka, ctx.topic, rows.map((row) => asAvro(createdEvent(row))));
    expect((await cli('--from-beginning')).code).toBe(0);
    await db.pool.query(`UPDATE workspaces_agent_configs SET dns_zone = 'gen2.example'`);

    const built = await cli('--no-switch');
    expect(built.code).toBe(0);
    const first = /^fingerprint: ([0-9a-f]{64})/m.exec(built.stdout)![1]!;
    expect(built.stdout).toMatch(/preview of rebuild #1 \(kafka, built \S+\): 6 workspaces would change/);

    // The live consumer applies an event the shadow has not seen (what --follow does, run to the end here).
    await db.pool.query(`UPDATE workspaces SET desired_state = 'Stopped' WHERE id = 3`);
    await produce(kafka, ctx.topic, [asAvro(updatedEvent(3, 2, { desired_state: 'Stopped' }))]);
    expect((await cli('--from-checkpoint')).code).toBe(0);
    expect(replicasOf((await readModel(db.pool)).get(3))).toBe(0);

    const ahead = await preview();
    expect(ahead.live_ahead).toHaveLength(1);
    expect(ahead.live_ahead[0]).toMatch(new RegExp(`^${ctx.topic}:\\d \\(live \\d+, shadow \\d+\\)$`));
    expect(ahead.fingerprint).not.toBe(first);
    const text = await cli('--preview');
    expect(text.stdout).toContain('the live consumer is ahead of the shadow on');

    const before = await readModel(db.pool);
    const refused = await cli('--switch', '--fingerprint', first);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the diff is not the one previewed');
    expect(await readModel(db.pool)).toEqual(before);

    // The refused switch caught the shadow up: previewed now, the diff is the one a switch makes.
    const inStep = await preview();
    expect(inStep.live_ahead).toEqual([]);
    // The consumer generated workspace 3 with the new zone already: its live row is the shadow's.
    expect(inStep.workspaces).toBe(5);
    expect(inStep.sample.map((w) => w.workspace_id)).not.toContain(3);
    const switched = await cli('--switch', '--fingerprint', inStep.fingerprint);
    expect(switched.code).toBe(0);
    expect(switched.stdout).toMatch(/rebuild #1 from kafka \(switched as previewed\): 6 workspaces, 5 written, 1 unchanged/);
    const after = await readModel(db.pool);
    expect([...after.values()].map(zoneOf)).toEqual(Array(6).fill('gen2.example'));
    expect(replicasOf(after.get(3))).toBe(0);
    expect(replicasOf(after.get(4))).toBe(1);
  });
});
