/**
 * Why generating one workspace's desired config failed. These are per-workspace input errors: never
 * retried, always recorded as dead letters by the engine (spec §10.1).
 */
export type DesiredConfigErrorKind =
  /** `processed_devfile` is null or empty. */
  | 'devfile_missing'
  /** `processed_devfile` exceeds the size limit the parser accepts. */
  | 'devfile_too_large'
  /** Not YAML, or YAML that a safe loader refuses (aliases, dates, other non-JSON scalars). */
  | 'devfile_yaml'
  /** YAML, but not a devfile the generator can use (wrong shape, unknown command, bad quantity, …). */
  | 'devfile_invalid'
  /** The agent config cannot drive generation (missing ResourceQuota value, non-string label, …). */
  | 'agent_config_invalid'
  /** The finished array fails GitLab's validation (§9), in practice only the 64 KB limit. */
  | 'desired_config_invalid';

export class DesiredConfigError extends Error {
  override readonly name = 'DesiredConfigError';

  constructor(
    readonly kind: DesiredConfigErrorKind,
    /** What is wrong, without the location (the location is in `path`). */
    readonly detail: string,
    /** Where in the input: a devfile path like `components[2].container.memoryLimit`, or an agent-config field. */
    readonly path: string | undefined,
    /** The workspace whose config was being generated. */
    readonly workspaceId: number,
  ) {
    super(`workspace ${workspaceId}: ${kind}${path ? ` at ${path}` : ''}: ${detail}`);
  }
}

/**
 * A failure raised inside the generator's helper modules, before the workspace id is known to them.
 * `generateDesiredConfig` turns it into a {@link DesiredConfigError} at its boundary, so helpers stay
 * independent of the workspace being generated. Never escapes the generator.
 */
export class GenerationFailure extends Error {
  override readonly name = 'GenerationFailure';

  constructor(
    readonly kind: DesiredConfigErrorKind,
    readonly detail: string,
    readonly path: string | undefined,
  ) {
    super(path ? `${kind} at ${path}: ${detail}` : `${kind}: ${detail}`);
  }
}
