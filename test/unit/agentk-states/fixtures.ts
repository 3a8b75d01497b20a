/**
 * Loaders for GitLab's published fixtures (see test/fixtures/gitlab/README.md). No generator import here,
 * so test files that only need fixtures (validation) do not depend on the generator existing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { KubernetesObject } from '../../../projections/agentk-states/inputs.js';

const GITLAB_FIXTURES = fileURLToPath(new URL('../../fixtures/gitlab/', import.meta.url));

export function readGitlabFixture(relativePath: string): string {
  return readFileSync(GITLAB_FIXTURES + relativePath, 'utf8');
}

export interface BackfillGoldenValues {
  workspaceId: number;
  workspaceName: string;
  workspaceNamespace: string;
  replicas: 0 | 1;
}

/**
 * GitLab's backfill golden with its placeholders filled, exactly as GitLab's own spec does it
 * (`gsub!` of `$WORKSPACE_ID`, `$WORKSPACE_NAMESPACE`, `$WORKSPACE_NAME`, `$REPLICA`, in that order:
 * `$WORKSPACE_NAMESPACE` must go before its prefix `$WORKSPACE_NAME`).
 */
export function backfillGolden(values: BackfillGoldenValues): KubernetesObject[] {
  const text = readGitlabFixture('background_migration/desired_config.json')
    .replaceAll('$WORKSPACE_ID', String(values.workspaceId))
    .replaceAll('$WORKSPACE_NAMESPACE', values.workspaceNamespace)
    .replaceAll('$WORKSPACE_NAME', values.workspaceName)
    .replaceAll('$REPLICA', String(values.replicas));
  return JSON.parse(text) as KubernetesObject[];
}

/** The seed workspace of spec §12 as it appears in GitLab's backfill spec (`workspace_2`). */
export const SEED_WORKSPACE = {
  id: 2,
  name: 'workspace-2',
  namespace: 'workspace_2_namespace',
  clusterAgentId: 1,
  dnsZone: 'test.workspace.me',
} as const;
