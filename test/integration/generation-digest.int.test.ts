/**
 * The digest a rebuild's page carries from generation (generator.ts `generateRow`, a job with `digest`) is
 * PostgreSQL's own `md5(desired_config::text)` of the row it stored: the expected values come from the server.
 * Worker threads run the compiled entry from dist/ (`npm run build` first), as in worker-pool.int.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { inThreadGenerator, type GenerationJob } from '../../src/engine/generation/generator.js';
import type * as WorkerPoolModule from '../../src/engine/generation/worker-pool.js';
import type { ProjectionResult } from '../../projections/agentk-states/projection.js';
import { readGitlabFixture, SEED_WORKSPACE } from '../unit/agentk-states/fixtures.js';
import { GITLAB_VARIANTS } from '../unit/agentk-states/gitlab-variants.js';
import { agentConfig, workspace } from '../unit/agentk-states/helpers.js';

const { withGenerator } = (await import(new URL('../../dist/src/engine/generation/worker-pool.js', import.meta.url).href)) as typeof WorkerPoolModule;

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await client.connect();
});
afterAll(() => client.end());

/** GitLab's seed workspace with other ids, and every variant of GitLab's generator spec. */
const jobs: GenerationJob[] = [
  ...[2, 31, 4000].map((id) => ({
    input: {
      workspace: workspace({ id, name: `workspace-${id}`, namespace: `workspace_${id}_namespace`, cluster_agent_id: SEED_WORKSPACE.clusterAgentId, processed_devfile: readGitlabFixture('seed-processed-devfile.yaml') }),
      agentConfig: agentConfig({ dns_zone: SEED_WORKSPACE.dnsZone }),
    },
    projectId: 60,
  })),
  ...GITLAB_VARIANTS.map((variant) => ({ input: variant.input, projectId: 7 })),
];

const withDigest = jobs.map((job) => ({ ...job, digest: true }));

/** What PostgreSQL prints for each generated row: md5 of the jsonb text of the JSON we store. */
async function serverDigests(results: readonly ProjectionResult[]): Promise<string[]> {
  const texts = results.map((result) => (result.ok ? result.row.desiredConfigJson : 'null'));
  const { rows } = await client.query<{ digest: string }>('SELECT md5(t::jsonb::text) AS digest FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n', [texts]);
  return rows.map((row) => row.digest);
}

describe('the digest carried from generation', () => {
  it("equals PostgreSQL's md5(desired_config::text), computed in a worker thread", async () => {
    const results = await withGenerator({ workers: 2 }, (generator) => generator.project(withDigest));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(results.map((result) => result.ok && result.row.desiredConfigDigest)).toEqual(await serverDigests(results));
  });

  it('equals it on this thread too, and leaves the rows otherwise as generated', async () => {
    const plain = await inThreadGenerator.project(jobs);
    const results = await inThreadGenerator.project(withDigest);
    expect(results.map((result) => result.ok && result.row.desiredConfigDigest)).toEqual(await serverDigests(results));
    expect(results.map((result) => result.ok && { ...result.row, desiredConfigDigest: undefined })).toEqual(plain.map((result) => result.ok && { ...result.row, desiredConfigDigest: undefined }));
  });

  it('is computed only for the jobs that ask: the other rows carry none (their sink digests them if it compares)', async () => {
    const mixed = [withDigest[0]!, jobs[1]!, withDigest[2]!, jobs[3]!];
    const results = await withGenerator({ workers: 2 }, (generator) => generator.project(mixed));
    expect(results.map((result) => result.ok && 'desiredConfigDigest' in result.row)).toEqual([true, false, true, false]);
  });
});
