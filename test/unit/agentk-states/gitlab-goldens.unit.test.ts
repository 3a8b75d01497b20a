/**
 * GitLab's own expected outputs, reproduced exactly (spec §11: the target reproduces the backfill golden and
 * every variant array of GitLab's generator test). Expected values come from GitLab's published files only.
 */
import { describe, expect, test } from 'vitest';

import { generateDesiredConfig } from '../../../projections/agentk-states/generate.js';
import { validateDesiredConfig } from '../../../projections/agentk-states/validate.js';
import type { GeneratorInput, KubernetesObject } from '../../../projections/agentk-states/inputs.js';
import { backfillGolden, readGitlabFixture, SEED_WORKSPACE } from './fixtures.js';
import { GITLAB_LEGACY_HOOK, GITLAB_NORMAL_HOOK, GITLAB_VARIANTS } from './gitlab-variants.js';
import { agentConfig, kindsAndNames, LEGACY_POSTSTART_HOOK, NORMAL_POSTSTART_HOOK, workspace } from './helpers.js';

/** Compares object by object first (readable diffs), then the whole array. */
function expectSameDesiredConfig(actual: KubernetesObject[], expected: KubernetesObject[]): void {
  expect(kindsAndNames(actual)).toEqual(kindsAndNames(expected));
  expected.forEach((object, index) => {
    expect(actual[index], `object ${index} (${kindsAndNames([object])[0]})`).toEqual(object);
  });
  expect(actual).toEqual(expected);
}

function seedInput(processedDevfile: string, overrides: { name?: string; namespace?: string; id?: number; desiredState?: string } = {}): GeneratorInput {
  return {
    workspace: workspace({
      id: overrides.id ?? SEED_WORKSPACE.id,
      name: overrides.name ?? SEED_WORKSPACE.name,
      namespace: overrides.namespace ?? SEED_WORKSPACE.namespace,
      desired_state: overrides.desiredState ?? 'Running',
      cluster_agent_id: SEED_WORKSPACE.clusterAgentId,
      processed_devfile: processedDevfile,
    }),
    // GitLab's backfill spec creates the agent config with only `dns_zone` (and `enabled`): all defaults.
    agentConfig: agentConfig({ dns_zone: SEED_WORKSPACE.dnsZone }),
  };
}

describe("GitLab's backfill golden (background_migration/desired_config.json)", () => {
  const seedDevfile = readGitlabFixture('seed-processed-devfile.yaml');
  const gitlabFixtureDevfile = readGitlabFixture('background_migration/processed_devfile.yaml');

  test('the seed workspace workspace-2 (Running, agent 1, default agent config) reproduces the golden exactly', () => {
    const actual = generateDesiredConfig(seedInput(seedDevfile));

    expectSameDesiredConfig(
      actual,
      backfillGolden({
        workspaceId: SEED_WORKSPACE.id,
        workspaceName: SEED_WORKSPACE.name,
        workspaceNamespace: SEED_WORKSPACE.namespace,
        replicas: 1,
      }),
    );
  });

  test("GitLab's own fixture devfile, whose top-level mapping is indented, reproduces the golden exactly", () => {
    const actual = generateDesiredConfig(seedInput(gitlabFixtureDevfile));

    expectSameDesiredConfig(
      actual,
      backfillGolden({
        workspaceId: SEED_WORKSPACE.id,
        workspaceName: SEED_WORKSPACE.name,
        workspaceNamespace: SEED_WORKSPACE.namespace,
        replicas: 1,
      }),
    );
  });

  test("GitLab's Terminated workspace-1 gets the same golden with zero replicas", () => {
    const actual = generateDesiredConfig(
      seedInput(gitlabFixtureDevfile, {
        id: 1,
        name: 'workspace-1',
        namespace: 'workspace_1_namespace',
        desiredState: 'Terminated',
      }),
    );

    expectSameDesiredConfig(
      actual,
      backfillGolden({ workspaceId: 1, workspaceName: 'workspace-1', workspaceNamespace: 'workspace_1_namespace', replicas: 0 }),
    );
  });

  test('a workspace id read from PostgreSQL as a bigint string renders the same as a number', () => {
    const input = seedInput(seedDevfile);
    const fromPg: GeneratorInput = {
      ...input,
      workspace: workspace({
        id: String(SEED_WORKSPACE.id),
        name: SEED_WORKSPACE.name,
        namespace: SEED_WORKSPACE.namespace,
        desired_state: 'Running',
        cluster_agent_id: String(SEED_WORKSPACE.clusterAgentId),
        processed_devfile: seedDevfile,
      }),
    };

    expect(generateDesiredConfig(fromPg)).toEqual(generateDesiredConfig(input));
  });

  test('the filled golden passes validateDesiredConfig', () => {
    const golden = backfillGolden({
      workspaceId: SEED_WORKSPACE.id,
      workspaceName: SEED_WORKSPACE.name,
      workspaceNamespace: SEED_WORKSPACE.namespace,
      replicas: 1,
    });

    expect(validateDesiredConfig(golden)).toEqual([]);
  });
});

describe("GitLab's generator integration test (main_integeration_spec.rb variant arrays)", () => {
  test.each(GITLAB_VARIANTS.map((v) => [v.title, v] as const))('the variant "%s" is reproduced exactly', (_title, variant) => {
    expectSameDesiredConfig(generateDesiredConfig(variant.input), variant.expected);
  });

  test.each(GITLAB_VARIANTS.map((v) => [v.title, v] as const))(
    'the generated array for the variant "%s" passes validateDesiredConfig',
    (_title, variant) => {
      expect(validateDesiredConfig(generateDesiredConfig(variant.input))).toEqual([]);
    },
  );

  test("the spec's two hook texts (§7.5) are byte for byte GitLab's", () => {
    expect(LEGACY_POSTSTART_HOOK).toBe(GITLAB_LEGACY_HOOK);
    expect(NORMAL_POSTSTART_HOOK).toBe(GITLAB_NORMAL_HOOK);
  });
});
