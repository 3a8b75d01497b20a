import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { fatalMessages, logEntries, logMessages } from '../support/log-lines.js';
import { seedDevfile, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('gen1.example');

const cli = (...args: string[]) => runCli(['agentk-states', '--source', 'snapshot', '--database-url', db.url, ...args]);

interface PreviewJson {
  rebuild: { id: number; source: string; phase: string; built_at: string | null };
  workspaces: number;
  restart: number;
  restart_running: number;
  start: number;
  stop: number;
  no_effect: number;
  new: number;
  removed: number;
  kept: number;
  live_ahead: string[];
  sample: {
    workspace_id: number;
    change: string;
    running: boolean;
    objects: { kind: string; namespace: string; name: string; change: string; effect: string; replicas: unknown; template_changed: boolean | null; paths: string[] | null }[];
  }[];
  fingerprint: string;
  build?: { resumed: boolean; failed: number; parked: number };
}

/** Every column of the live table, by workspace: what "exactly" means for a switch or a rollback. */
async function liveRows(): Promise<Map<number, Record<string, unknown>>> {
  const { rows } = await db.pool.query(
    'SELECT id, workspace_id, project_id, desired_config, created_at, updated_at FROM workspace_agentk_states ORDER BY workspace_id',
  );
  return new Map(rows.map((row) => [Number(row.workspace_id), row]));
}

const NEW_IMAGE = 'registry.gitlab.com/gitlab-org/workspaces/gitlab-workspaces-docs/ubuntu:24.04';
const withNewImage = seedDevfile.replace('gitlab-workspaces-docs/ubuntu:22.04', 'gitlab-workspaces-docs/ubuntu:24.04');

/** Workspaces 1..n (running unless listed in `stopped`), switched into the live table by rebuild #1. */
async function liveTable(n: number, stopped: number[] = []): Promise<void> {
  await upsertWorkspaceRows(
    db.pool,
    Array.from({ length: n }, (_, i) => workspaceRow(i + 1, { desired_state: stopped.includes(i + 1) ? 'Stopped' : 'Running' })),
  );
  expect((await cli()).code).toBe(0);
}

async function setWorkspace(id: number, columns: { processed_devfile?: string; desired_state?: string }): Promise<void> {
  await db.pool.query('UPDATE workspaces SET processed_devfile = coalesce($2, processed_devfile), desired_state = coalesce($3, desired_state) WHERE id = $1', [
    id,
    columns.processed_devfile ?? null,
    columns.desired_state ?? null,
  ]);
}

/** The last stderr entry, which must be the fatal one: its message. */
const lastLine = (stderr: string) => {
  const last = logEntries(stderr).at(-1);
  expect(last?.level).toBe('fatal');
  return last?.msg;
};
const fingerprintIn = (stdout: string) => /^fingerprint: ([0-9a-f]{64})/m.exec(stdout)?.[1];
const imageOf = (row: Record<string, unknown> | undefined) =>
  (row?.desired_config as { kind: string; spec: { template: { spec: { containers: { image: string }[] } } } }[]).find((o) => o.kind === 'Deployment')!.spec.template.spec
    .containers[0]!.image;

describe('rebuild-projection agentk-states --no-switch, --preview and --switch (impact before the switch)', () => {
  it('previews a rebuild that changes one devfile as exactly that workspace Deployment restarting, and --switch applies exactly that', async () => {
    await liveTable(5);
    await setWorkspace(3, { processed_devfile: withNewImage });
    const before = await liveRows();

    const built = await cli('--no-switch');
    expect(built.code).toBe(0);
    expect(await liveRows()).toEqual(before);
    const lines = built.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^agentk-states rebuild #2 from snapshot: shadow built, not switched \(--no-switch\); 0 failed/);
    expect(lines[1]).toMatch(
      /^agentk-states preview of rebuild #2 \(snapshot, built \S+\): 1 workspace would change: 1 restart \(1 running\), 0 start, 0 stop, 0 no effect on the pod, 0 new, 0 removed; 0 live rows kept/,
    );
    expect(lines.slice(2, -1)).toEqual([
      '  workspace 3: restart (running)',
      '    Deployment ns-3/workspace-3 changed (pod template): spec.template.spec.containers[0].image',
    ]);
    const fingerprint = fingerprintIn(built.stdout)!;
    expect(lines.at(-1)).toBe(`fingerprint: ${fingerprint} (switch exactly this diff with: rebuild-projection agentk-states --switch --fingerprint ${fingerprint})`);

    const status = await cli('--status');
    expect(status.stdout).toMatch(/unfinished rebuild: #2 from snapshot, building, .*, shadow built \S+ \(see it with --preview, switch it with --switch\)/);
    expect(status.stdout).toContain('rollback history: #1 (latest first; --rollback [--to ID])');

    const preview = await cli('--preview', '--json');
    expect(preview.code).toBe(0);
    const report = JSON.parse(preview.stdout) as PreviewJson;
    expect(report).toMatchObject({ workspaces: 1, restart: 1, restart_running: 1, start: 0, stop: 0, no_effect: 0, new: 0, removed: 0, kept: 0, fingerprint });
    expect(report.sample).toEqual([
      {
        workspace_id: 3,
        change: 'restart',
        running: true,
        project_id: null,
        reordered: false,
        objects: [
          {
            kind: 'Deployment',
            namespace: 'ns-3',
            name: 'workspace-3',
            change: 'changed',
            effect: 'restart',
            replicas: { from: 1, to: 1 },
            template_changed: true,
            paths: ['spec.template.spec.containers[0].image'],
            paths_total: 1,
          },
        ],
      },
    ]);
    expect(await liveRows()).toEqual(before);

    const switched = await cli('--switch', '--fingerprint', fingerprint);
    expect(logMessages(switched.stderr)[0]).toMatch(/^switching rebuild #2/);
    expect(switched.code).toBe(0);
    expect(switched.stdout).toMatch(/rebuild #2 from snapshot \(switched as previewed\): 5 workspaces, 1 written, 4 unchanged, 0 deleted/);
    expect(switched.stdout).toContain(`; 1 running workspaces restarted, fingerprint ${fingerprint}`);
    const after = await liveRows();
    expect(imageOf(after.get(3))).toBe(NEW_IMAGE);
    for (const id of [1, 2, 4, 5]) expect(after.get(id)).toEqual(before.get(id));
    // Nothing is left to preview or switch.
    const again = await cli('--preview');
    expect(again.code).toBe(1);
    expect(logMessages(again.stderr)).toEqual([
      'no built shadow to preview: build one with `rebuild-projection agentk-states --no-switch` (it stops before the switch and prints the preview)',
    ]);
    expect(fatalMessages(again.stderr)).toHaveLength(1);
  });

  it('reports a replica-only change as a start or a stop, and a new workspace as new', async () => {
    await liveTable(4, [2]);
    await setWorkspace(1, { desired_state: 'Stopped' });
    await setWorkspace(2, { desired_state: 'Running' });
    // Id 10 sorts after 2 as a number, not as text.
    await upsertWorkspaceRows(db.pool, [workspaceRow(10)]);
    const built = await cli('--no-switch', '--json');
    expect(built.code).toBe(0);
    const report = JSON.parse(built.stdout) as PreviewJson;
    expect(report).toMatchObject({ workspaces: 3, restart: 0, start: 1, stop: 1, no_effect: 0, new: 1, removed: 0, build: { resumed: false, failed: 0, parked: 0 } });
    expect(report.sample.map((w) => [w.workspace_id, w.change, w.objects.filter((o) => o.change === 'changed').map((o) => [o.kind, o.replicas, o.paths])])).toEqual([
      [1, 'stop', [['Deployment', { from: 1, to: 0 }, ['spec.replicas']]]],
      [2, 'start', [['Deployment', { from: 0, to: 1 }, ['spec.replicas']]]],
      [10, 'new', []],
    ]);
  });

  it('--preview refuses, naming the fix, when no shadow is built', async () => {
    await liveTable(2);
    const preview = await cli('--preview');
    expect(preview.code).toBe(1);
    expect(preview.stdout).toBe('');
    expect(fatalMessages(preview.stderr)).toEqual([expect.stringContaining('no built shadow to preview: build one with `rebuild-projection agentk-states --no-switch`')]);
    expect(logEntries(preview.stderr)).toHaveLength(1);
    const switched = await cli('--switch', '--fingerprint', 'f'.repeat(64));
    expect(switched.code).toBe(1);
    expect(fatalMessages(switched.stderr)).toEqual([expect.stringContaining('no built shadow to switch')]);
  });

  it('--max-restarts refuses with the count and the workspaces named, keeping the shadow to preview; stopped workspaces do not count', async () => {
    await liveTable(5, [4]);
    for (const id of [2, 4, 5]) await setWorkspace(id, { processed_devfile: withNewImage });
    const before = await liveRows();

    const refused = await cli('--max-restarts', '1');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    // Progress lines aside, the refusal is one line, the last one.
    const line = lastLine(refused.stderr);
    expect(line).toMatch(
      /^rebuild #2: 2 running workspaces would restart, more than --max-restarts 1 \(2, 5\)\. Nothing was switched; the shadow is kept: inspect it with --preview, then switch it with --switch --fingerprint [0-9a-f]{64}$/,
    );
    expect(await liveRows()).toEqual(before);

    const preview = JSON.parse((await cli('--preview', '--json')).stdout) as PreviewJson;
    expect(preview).toMatchObject({ workspaces: 3, restart: 3, restart_running: 2 });
    expect(preview.sample.map((w) => [w.workspace_id, w.running])).toEqual([
      [2, true],
      [5, true],
      [4, false],
    ]);
    expect(line).toContain(preview.fingerprint);

    const zero = await cli('--switch', '--fingerprint', preview.fingerprint, '--max-restarts', '0');
    expect(zero.code).toBe(1);
    expect(fatalMessages(zero.stderr)).toEqual([expect.stringContaining('2 running workspaces would restart, more than --max-restarts 0 (2, 5)')]);
    expect(await liveRows()).toEqual(before);

    const allowed = await cli('--switch', '--fingerprint', preview.fingerprint, '--max-restarts', '2');
    expect(allowed.code).toBe(0);
    const after = await liveRows();
    for (const id of [2, 4, 5]) expect(imageOf(after.get(id))).toBe(NEW_IMAGE);
    for (const id of [1, 3]) expect(after.get(id)).toEqual(before.get(id));
  });

  it('a rebuild within --max-restarts switches at once', async () => {
    await liveTable(3);
    await setWorkspace(1, { processed_devfile: withNewImage });
    const result = await cli('--max-restarts', '1');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/1 written, 2 unchanged.*; 1 running workspaces restarted, fingerprint [0-9a-f]{64}$/m);
    expect(imageOf((await liveRows()).get(1))).toBe(NEW_IMAGE);
  });

  it('--switch refuses once the shadow moved, or the live table moved, since the preview, and switches nothing', async () => {
    await liveTable(4);
    await setWorkspace(1, { desired_state: 'Stopped' });
    const first = fingerprintIn((await cli('--no-switch')).stdout)!;

    // The shadow moves: another workspace changes and the shadow is rebuilt.
    await setWorkspace(2, { desired_state: 'Stopped' });
    const second = fingerprintIn((await cli('--no-switch')).stdout)!;
    expect(second).not.toBe(first);
    const before = await liveRows();
    const stale = await cli('--switch', '--fingerprint', first);
    expect(stale.code).toBe(1);
    expect(lastLine(stale.stderr)).toBe(
      `rebuild #2: the diff is not the one previewed (its fingerprint is now ${second}, not ${first}): ` +
        'the shadow or the live table changed since the preview. Nothing was switched; run --preview again',
    );
    expect(await liveRows()).toEqual(before);

    // The live table moves (GitLab, or a --follow consumer, writes a row the switch would change).
    await db.pool.query(`UPDATE workspace_agentk_states SET desired_config = '[]', updated_at = now() WHERE workspace_id = 2`);
    const moved = await cli('--switch', '--fingerprint', second);
    expect(moved.code).toBe(1);
    expect(fatalMessages(moved.stderr)).toEqual([expect.stringContaining('the diff is not the one previewed')]);
    expect((await liveRows()).get(2)!.desired_config).toEqual([]);

    // The same shadow previewed again gives the same fingerprint every time, and that one switches.
    const third = JSON.parse((await cli('--preview', '--json')).stdout) as PreviewJson;
    expect(third.sample.map((w) => [w.workspace_id, w.change])).toEqual([
      [1, 'stop'],
      // Its live row holds no objects now: the Deployment is added, stopped.
      [2, 'none'],
    ]);
    expect((JSON.parse((await cli('--preview', '--json')).stdout) as PreviewJson).fingerprint).toBe(third.fingerprint);
    expect((await cli('--switch', '--fingerprint', third.fingerprint)).code).toBe(0);
    const rows = await liveRows();
    expect((rows.get(2)!.desired_config as { kind: string; spec: { replicas: number } }[])[1]!.spec.replicas).toBe(0);
  });
});
