/**
 * The agentk-states projection for one workspace: its inputs in, its read-model row (or the reason it has
 * none) out. Pure: the engine decides what to do with failures (dead letters), this only classifies them.
 */
import { devfileTooLarge } from './devfile.js';
import { DesiredConfigError } from './errors.js';
import { generateDesiredConfigJson } from './generate.js';
import type { GeneratorInput } from './inputs.js';

/** The projection's name: the namespace of its checkpoints, folds and dead letters, and the CLI's subcommand. */
export const AGENTK_STATES_PROJECTION = 'agentk-states';

/** A `workspace_agentk_states` row, with the desired config already serialized once for the sink. */
export interface AgentkStateRow {
  workspaceId: number;
  projectId: number;
  /** Compact JSON of the desired-config array. */
  desiredConfigJson: string;
}

/** Why a workspace has no row. `kind` is a DesiredConfigError kind, an agent-config kind, or `generator_bug`. */
export interface WorkspaceFailure {
  workspaceId: number;
  kind: string;
  path: string | undefined;
  message: string;
}

export type ProjectionResult = { ok: true; row: AgentkStateRow } | { ok: false; failure: WorkspaceFailure };

export function projectAgentkState(input: GeneratorInput, projectId: number): ProjectionResult {
  const workspaceId = input.workspace.id;
  try {
    // The generator serializes once for the 64 KB check; the sink reuses that text.
    const { json } = generateDesiredConfigJson(input);
    return { ok: true, row: { workspaceId, projectId, desiredConfigJson: json } };
  } catch (error) {
    if (error instanceof DesiredConfigError) {
      return { ok: false, failure: { workspaceId, kind: error.kind, path: error.path, message: error.message } };
    }
    // An unexpected exception is a generator bug, but still only this workspace's problem: record it with
    // its stack and keep the run going rather than stopping every other workspace.
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return {
      ok: false,
      failure: { workspaceId, kind: 'generator_bug', path: undefined, message: `workspace ${workspaceId}: ${detail}` },
    };
  }
}

/**
 * The failure of a workspace whose folded state keeps only a marker of its oversized devfile (fold.ts):
 * the same typed devfile_too_large failure the generator gives for the text itself.
 */
export function oversizedDevfileFailure(workspaceId: number, characters: number): WorkspaceFailure {
  const failure = devfileTooLarge(characters);
  const error = new DesiredConfigError(failure.kind, failure.detail, failure.path, workspaceId);
  return { workspaceId, kind: error.kind, path: error.path, message: error.message };
}
