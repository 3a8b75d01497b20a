/** GitLab's own backfill golden (test/fixtures/gitlab/background_migration), with its placeholders filled. */
import { readFixture } from './database.js';

export function gitlabBackfillGolden(values: { name: string; namespace: string; id: number; replicas: 0 | 1 }): unknown {
  const template = readFixture('gitlab/background_migration/desired_config.json');
  // Replace the longest placeholder first: $WORKSPACE_NAMESPACE starts with $WORKSPACE_NAME.
  const filled = template
    .replaceAll('$WORKSPACE_NAMESPACE', values.namespace)
    .replaceAll('$WORKSPACE_NAME', values.name)
    .replaceAll('$WORKSPACE_ID', String(values.id))
    .replaceAll('$REPLICA', String(values.replicas));
  return JSON.parse(filled);
}
