/**
 * `--demo` end to end: from an empty GitLab database it loads the demo's GitLab tables, rebuilds from
 * demo/events.ndjson.gz and says what it did; run again, it resumes from the checkpoints and changes nothing.
 * The demo data is what its generator writes (deterministic, small), and its events fold to exactly the
 * `workspaces` rows it ships (--verify finds no drift beyond its deliberately bad inputs).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { logLines } from '../support/log-lines.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertWorkspace } from '../support/gitlab-rows.js';
import { openEmbeddedDatabase } from '../../src/sink/postgres/embedded.js';

const demoDir = fileURLToPath(new URL('../../demo/', import.meta.url));
const gitlab = JSON.parse(gunzipSync(readFileSync(join(demoDir, 'gitlab.json.gz'))).toString('utf8')) as { workspaces: { id: number }[] };
const eventLines = gunzipSync(readFileSync(join(demoDir, 'events.ndjson.gz'))).toString('latin1').split('\n').filter((l) => l.trim() !== '').length;

/** The demo's bad inputs, one of each (demo/make-demo-data.ts). */
const DEMO_REASONS = ['agent_config_missing', 'devfile_yaml', 'invalid_utf8', 'not_an_object', 'not_json', 'schema_invalid', 'unsupported_operation'];

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** workspace_id → desired_config in an embedded data dir. */
async function embeddedRows(dataDir: string): Promise<Map<number, unknown>> {
  const db = await openEmbeddedDatabase({ dataDir });
  try {
    const { rows } = await db.query<{ workspace_id: string; desired_config: unknown }>('SELECT workspace_id, desired_config FROM workspace_agentk_states ORDER BY workspace_id');
    return new Map(rows.map((row) => [Number(row.workspace_id), row.desired_config]));
  } finally {
    await db.end();
  }
}

let databases: TestDatabase[] = [];
afterEach(async () => {
  for (const db of databases) await db.drop();
  databases = [];
});
async function emptyGitLab(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

describe('--demo', () => {
  it('rebuilds from the demo data into the embedded database of a clean data dir, says what it did, and resumes on a second run', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'demo-')), 'data');
    const started = performance.now();
    const first = await runCli(['agentk-states', '--demo', '--data-dir', dataDir], {}, 180_000);
    const seconds = (performance.now() - started) / 1000;
    expect(first.stderr).not.toMatch(/^\s+at /m);
    // The demo's bad inputs are dead letters, on purpose: exit 2 as for any run that leaves some.
    expect(first.code, first.stderr).toBe(2);
    // A guard against minutes: PGlite's first start (initdb) and the run take ~20 s of a loaded 2-core machine.
    expect(seconds).toBeLessThan(120);
    expect(first.stderr).toContain(`using the embedded PostgreSQL in ${dataDir} (created, with GitLab's tables)`);
    expect(first.stderr).toContain(`demo: loaded GitLab's tables with the demo's 4 agent configs and ${gitlab.workspaces.length} workspaces`);
    const out = first.stdout;
    expect(out).toMatch(/^agentk-states rebuild #1 from file: /m);
    expect(out).toContain(`demo: rebuilt workspace_agentk_states from ${join(demoDir, 'events.ndjson.gz')}`);
    // Every workspace GitLab holds has its row, except the three whose input is bad on purpose.
    const rows = await embeddedRows(dataDir);
    expect(rows.size).toBe(gitlab.workspaces.length - 3);
    expect(out).toMatch(new RegExp(`^demo: \\d+ workspaces read \\(\\d+ deleted by the log\\), ${rows.size} rows in workspace_agentk_states$`, 'm'));
    expect(out).toMatch(/^demo: workspace 1's row holds \d+ objects: .*Deployment gl-rd-ns-1\/workspace-1-[0-9a-f]{6}, Service gl-rd-ns-1\/workspace-1-/m);
    expect(out).toContain('demo: 7 dead letters (the demo data holds bad inputs on purpose):');
    const reasons = [...out.matchAll(/^ {2}([a-z0-9_]+): (\d+), e\.g\. (.+)$/gm)].map((m) => [m[1], m[2]]);
    expect(reasons.map(([reason]) => reason).sort()).toEqual(DEMO_REASONS);
    expect(reasons.every(([, count]) => count === '1')).toBe(true);
    // A bad line is named by file and line.
    expect(out).toMatch(new RegExp(`^ {2}not_json: 1, e\\.g\\. ${escape(join(demoDir, 'events.ndjson.gz'))}:\\d+: not_json: `, 'm'));
    expect(out).toContain(`demo: the data is kept in the embedded PostgreSQL in ${dataDir}`);
    expect(out).toContain(`demo: next, try: rebuild-projection agentk-states --data-dir ${dataDir} --status | --explain 1 | --verify | --dead-letters`);

    // The demo's events fold to exactly GitLab's rows: no drift but the workspace whose create is bad (missing)
    // and the two whose generation fails (failed, not drift).
    const verify = await runCli(['agentk-states', '--verify', '--data-dir', dataDir], {}, 180_000);
    expect(verify.stdout).toContain(`agentk-states verify: ${gitlab.workspaces.length} workspaces, ${rows.size} equal, 0 differing, 1 missing, 0 extra, 2 failed`);

    const second = await runCli(['agentk-states', '--demo', '--data-dir', dataDir], {}, 180_000);
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toContain("demo: GitLab's tables already hold the demo's agent configs and workspaces");
    expect(second.stdout).toContain(`agentk-states file replay: 0 events, 0 written, 0 unchanged, 0 deleted, 0 parked, 0 failed, 0 held, ${eventLines} already applied`);
    expect(second.stdout).toContain('demo: resumed from the checkpoints the first run left: nothing new in');
    expect(second.stdout).toContain('demo: 7 dead letters');
    expect(await embeddedRows(dataDir)).toEqual(rows);
  }, 400_000);

  it('refuses a database whose GitLab tables hold anything but the demo data (exit 1), creating nothing in it', async () => {
    const db = await emptyGitLab();
    await insertWorkspace(db.pool, { name: 'a-real-workspace' });
    const run = await runCli(['agentk-states', '--demo', '--database-url', db.url]);
    expect(run.code).toBe(1);
    expect(logLines(run.stderr)).toEqual([expect.stringContaining('fatal: --demo loads its data into an empty GitLab database only, and this one holds 1 workspaces and 0 agent configs')]);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM workspaces')).rows[0].n).toBe(1);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM workspace_agentk_states')).rows[0].n).toBe(0);
    // Refused before anything was created in it, our own schema included.
    expect((await db.pool.query("SELECT to_regnamespace('rebuild_projection') IS NULL AS absent")).rows[0].absent).toBe(true);
  });

  it('ships the demo data its generator writes: the same bytes on every run, under 1 MB', () => {
    const out = mkdtempSync(join(tmpdir(), 'demo-data-'));
    execFileSync(process.execPath, [fileURLToPath(new URL('../../dist/demo/make-demo-data.js', import.meta.url)), out]);
    for (const name of ['events.ndjson.gz', 'gitlab.json.gz']) expect(readFileSync(join(out, name)).equals(readFileSync(join(demoDir, name))), name).toBe(true);
    expect(statSync(join(demoDir, 'events.ndjson.gz')).size + statSync(join(demoDir, 'gitlab.json.gz')).size).toBeLessThan(1024 * 1024);
    expect(eventLines).toBeGreaterThan(gitlab.workspaces.length);
  });
});
