/**
 * The `workspaces.gitlab.com/max-resources-per-workspace-sha256` annotation (spec §3.2): SHA-256 of the
 * Ruby `inspect` text of the deep-sorted, symbol-keyed `max_resources_per_workspace`.
 */
import { createHash } from 'node:crypto';

import type { JsonObject } from './inputs.js';
import { deepSortKeys } from './json.js';
import { rubyInspect } from './ruby-inspect.js';

/** sha256 of `{}`, by far the most common value: no hashing needed for it. */
const EMPTY_DIGEST = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** The exact text GitLab hashes (exposed for tests and diagnostics). */
export function maxResourcesInspectText(maxResources: JsonObject): string {
  return rubyInspect(deepSortKeys(maxResources));
}

export function maxResourcesSha256(maxResources: JsonObject): string {
  if (Object.keys(maxResources).length === 0) return EMPTY_DIGEST;
  return createHash('sha256').update(maxResourcesInspectText(maxResources), 'utf8').digest('hex');
}
