/**
 * The generation worker pool, in this process: its workers run the compiled worker entry from dist/
 * (`npm run build` first, as for every CLI test), the expected values come from GitLab's published arrays
 * and from the projection run on this thread.
 */
import { execFile } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { inThreadGenerator, type GenerationJob, type Generator } from '../../src/engine/generation/generator.js';
import type * as GeneratorModule from '../../src/engine/generation/generator.js';
import type * as WorkerPoolModule from '../../src/engine/generation/worker-pool.js';
import { backfillGolden, readGitlabFixture, SEED_WORKSPACE } from '../unit/agentk-states/fixtures.js';
import { GITLAB_VARIANTS } from '../unit/agentk-states/gitlab-variants.js';
import { agentConfig, generatorInput, workspace } from '../unit/agentk-states/helpers.js';

const DIST_POOL = new URL('../../dist/src/engine/generation/worker-pool.js', import.meta.url);
const { createGenerator, GenerationWorkerError, GeneratorClosedError } = (await import(DIST_POOL.href)) as typeof WorkerPoolModule;
const distGenerator = (await import(new URL('../../dist/src/engine/generation/generator.js', import.meta.url).href)) as typeof GeneratorModule;
const fixtureWorker = (name: string) => new URL(`../fixtures/generation-workers/${name}`, import.meta.url);

const open: Generator[] = [];
const pool = (options: WorkerPoolModule.GeneratorOptions): Generator => {
  const generator = createGenerator(options);
  open.push(generator);
  return generator;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((generator) => generator.close()));
});

const seedJob = (id: number): GenerationJob => ({
  input: {
    // GitLab's seed workspace (workspace-2) with another id.
    workspace: workspace({ id, name: `workspace-${id}`, namespace: `workspace_${id}_namespace`, cluster_agent_id: SEED_WORKSPACE.clusterAgentId, processed_devfile: readGitlabFixture('seed-processed-devfile.yaml') }),
    agentConfig: agentConfig({ dns_zone: SEED_WORKSPACE.dnsZone }),
  },
  projectId: 100 + (id % 7),
});

/** Inputs that fail generation (spec §10.1), each its own way. */
const failingJobs = (): GenerationJob[] => [
  { input: generatorInput({ devfile: 'schemaVersion: 2.2.0\ncomponents: [unclosed\n', workspace: { id: 901 } }), projectId: 1 },
  { input: generatorInput({ devfile: null, workspace: { id: 902 } }), projectId: 1 },
  { input: generatorInput({ devfile: `schemaVersion: 2.2.0\n#${'x'.repeat(70_000)}\n`, workspace: { id: 903 } }), projectId: 1 },
  { input: generatorInput({ devfile: 'schemaVersion: 2.2.0\ncomponents: []\n', workspace: { id: 904 } }), projectId: 1 },
];

describe('generation in worker threads (createGenerator)', () => {
  it("reproduces GitLab's backfill golden and every variant array of GitLab's generator spec, row for row", async () => {
    const jobs = [seedJob(SEED_WORKSPACE.id), ...GITLAB_VARIANTS.map((variant) => ({ input: variant.input, projectId: 7 }))];
    const results = await pool({ workers: 2 }).project(jobs);
    const configs = results.map((result) => (result.ok ? JSON.parse(result.row.desiredConfigJson) : result.failure));
    expect(configs[0]).toEqual(backfillGolden({ workspaceId: 2, workspaceName: 'workspace-2', workspaceNamespace: 'workspace_2_namespace', replicas: 1 }));
    GITLAB_VARIANTS.forEach((variant, index) => expect(configs[index + 1], variant.title).toEqual(variant.expected));
    expect(results.map((result) => result.ok && result.row.projectId)).toEqual([102, ...GITLAB_VARIANTS.map(() => 7)]);
  });

  it('gives the same failures as generation on this thread: kind, path and message', async () => {
    const jobs = failingJobs();
    const results = await pool({ workers: 2 }).project(jobs);
    expect(results.every((result) => !result.ok)).toBe(true);
    expect(results.map((result) => !result.ok && result.failure.kind)).toEqual(['devfile_yaml', 'devfile_missing', 'devfile_too_large', 'devfile_invalid']);
    expect(results).toEqual(await inThreadGenerator.project(jobs));
  });

  it('sends only the columns the generator reads: a folded row with more columns gives the same row', async () => {
    const job = seedJob(5);
    const folded = { ...job.input.workspace, project_id: 105, actual_state: 'Running', workspaces_agent_config_version: 0 };
    const [result] = await pool({ workers: 2 }).project([{ ...job, input: { ...job.input, workspace: folded } }]);
    expect(result).toEqual((await inThreadGenerator.project([job]))[0]);
  });

  it('keeps job order across chunks and across calls in flight together', async () => {
    const calls = [200, 1, 130, 0, 65].map((count, call) =>
      Array.from({ length: count }, (_, i): GenerationJob => (i % 37 === 5 ? { ...failingJobs()[i % 4]!, projectId: call } : seedJob(1000 * (call + 1) + i))),
    );
    const generator = pool({ workers: 2 });
    const results = await Promise.all(calls.map((jobs) => generator.project(jobs)));
    for (const [index, jobs] of calls.entries()) {
      expect(results[index]!.map((result) => (result.ok ? result.row.workspaceId : result.failure.workspaceId))).toEqual(jobs.map((job) => job.input.workspace.id));
      expect(results[index]).toEqual(await inThreadGenerator.project(jobs));
    }
  });

  it('with one worker (or fewer) generates on this thread', () => {
    expect(createGenerator({ workers: 1 })).toBe(distGenerator.inThreadGenerator);
    expect(createGenerator({ workers: 0 })).toBe(distGenerator.inThreadGenerator);
  });

  it('a worker that throws outside the projection rejects every pending call with a typed, non-retriable error naming the worker and its chunk', async () => {
    const generator = pool({ workers: 2, script: fixtureWorker('throws.mjs') });
    // Chunks [11, 12] to worker 1 (answered after 300 ms), [13, 14] to worker 2 (throws); [77] waits.
    const first = generator.project([11, 12, 13, 14].map(seedJob));
    const second = generator.project([seedJob(77)]);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationWorkerError);
    expect(error).toMatchObject({ retriable: false, worker: 'generation worker 2 of 2', workspaceIds: [13, 14] });
    expect((error as Error).message).toBe(
      'generation worker 2 of 2 died of an uncaught TypeError: a bug outside projectAgentkState while generating workspaces 13, 14: a bug in generation, not retried',
    );
    await expect(second).rejects.toBe(error);
    await expect(generator.project([seedJob(78)])).rejects.toBe(error);
  });

  it('a worker that exits in the middle of a call rejects it: no promise is left pending', async () => {
    const generator = pool({ workers: 2, script: fixtureWorker('exits.mjs') });
    const jobs = Array.from({ length: 150 }, (_, i) => seedJob(i + 1));
    const error = await generator.project(jobs).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenerationWorkerError);
    expect((error as Error).message).toMatch(/^generation worker [12] of 2 exited \(code 3\) while generating workspaces (1|65), .* and 54 more: a bug in generation, not retried$/);
  });

  it('close() rejects a call in flight with GeneratorClosedError, and later calls too', async () => {
    const generator = createGenerator({ workers: 2 });
    const pending = expect(generator.project(Array.from({ length: 500 }, (_, i) => seedJob(i + 1)))).rejects.toBeInstanceOf(GeneratorClosedError);
    await generator.close();
    await pending;
    await expect(generator.project([seedJob(1)])).rejects.toBeInstanceOf(GeneratorClosedError);
  });

  it('idle workers never keep a process alive: one that generated and did not close its pool exits at once', async () => {
    // CommonJS (no --input-type: a worker inherits the process's flags, and that one is for -e only).
    const script = `
      import(${JSON.stringify(DIST_POOL.href)}).then(async ({ createGenerator }) => {
        const generator = createGenerator({ workers: 2 });
        const workspace = { id: 1, name: 'w', namespace: 'n', desired_state: 'Running', cluster_agent_id: 1, processed_devfile: null };
        const results = await generator.project([1, 2, 3].map(() => ({ input: { workspace, agentConfig: { dns_zone: 'x' } }, projectId: 1 })));
        console.log(results.length, 'results');
      });`;
    const started = performance.now();
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) =>
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (error, out) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout: out }),
      ),
    );
    expect({ code, stdout }).toEqual({ code: 0, stdout: '3 results\n' });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
