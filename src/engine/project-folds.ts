/**
 * Folded states → read-model rows: resolves each live workspace's agent config (the one its create carried,
 * else the pinned one from GitLab's tables) and project path, then runs the pure projection.
 */
import type { Session } from '../sink/postgres/database.js';
import type { WorkspaceFold } from '../../projections/agentk-states/fold.js';
import { oversizedDevfileFailure } from '../../projections/agentk-states/projection.js';
import { AgentConfigResolver, type AgentConfigMode } from '../gitlab/agent-config-resolver.js';
import { loadProjectPaths } from '../gitlab/project-paths.js';
import type { DeadLetter } from '../sink/postgres/dead-letters.js';
import { inThreadGenerator, type GenerationJob, type Generator } from './generation/generator.js';
import { failureToDeadLetter, type ProjectedBatch } from './workspace-batch.js';

export const KAFKA_SOURCE = 'kafka';

/** Where a workspace's latest event was read, for its dead letter. */
export type KafkaPosition = NonNullable<DeadLetter['kafka']>;

export async function projectFolds(
  client: Session,
  folds: ReadonlyMap<number, WorkspaceFold>,
  agentConfigMode: AgentConfigMode,
  positions: ReadonlyMap<number, KafkaPosition> = new Map(),
  generator: Generator = inThreadGenerator,
): Promise<ProjectedBatch> {
  return generateFolds(await prepareFolds(client, folds, agentConfigMode, positions), generator);
}

/** Folds whose inputs are resolved: their generation jobs, and the dead letters of those that have none. */
export interface PreparedFolds {
  jobs: GenerationJob[];
  /** Per job: where its workspace's latest event was read. */
  jobPositions: (KafkaPosition | undefined)[];
  deadLetters: ProjectedBatch['deadLetters'];
}

/** The reading half of {@link projectFolds}: what the generator needs from PostgreSQL, so `client` is free before generation. */
export async function prepareFolds(
  client: Session,
  folds: ReadonlyMap<number, WorkspaceFold>,
  agentConfigMode: AgentConfigMode,
  positions: ReadonlyMap<number, KafkaPosition> = new Map(),
): Promise<PreparedFolds> {
  const live = [...folds].flatMap(([id, fold]) =>
    fold.state && !fold.state.deleted && fold.state.workspace ? [{ id, state: fold.state, workspace: fold.state.workspace }] : [],
  );
  const resolver = new AgentConfigResolver(client, agentConfigMode);
  await resolver.preload(live.filter((w) => w.state.agentConfig === null).map((w) => w.workspace.cluster_agent_id));
  const projectPaths = await loadProjectPaths(client, live.map((w) => w.workspace.project_id));
  const prepared: PreparedFolds = { jobs: [], jobPositions: [], deadLetters: [] };
  for (const { id, state, workspace } of live) {
    const kafka = positions.get(id);
    if (state.oversizedDevfile) {
      const { characters, sha256 } = state.oversizedDevfile;
      const input = `processed_devfile of ${characters} characters, sha256 ${sha256} (not kept: over the limit)`;
      prepared.deadLetters.push({ ...failureToDeadLetter(oversizedDevfileFailure(id, characters), KAFKA_SOURCE, input), kafka });
      continue;
    }
    const agentConfig = state.agentConfig
      ? { ok: true as const, config: state.agentConfig }
      : resolver.resolve(workspace.cluster_agent_id, workspace.workspaces_agent_config_version);
    if (!agentConfig.ok) {
      const { kind, path, message } = agentConfig.failure;
      prepared.deadLetters.push({ ...failureToDeadLetter({ workspaceId: id, kind, path, message: `workspace ${id}: ${message}` }, KAFKA_SOURCE, undefined), kafka });
      continue;
    }
    prepared.jobs.push({
      input: { workspace, agentConfig: agentConfig.config, projectPath: projectPaths.get(workspace.project_id) },
      projectId: workspace.project_id,
    });
    prepared.jobPositions.push(kafka);
  }
  return prepared;
}

/** The generating half of {@link projectFolds}: no I/O but the generator's. */
export async function generateFolds(prepared: PreparedFolds, generator: Generator): Promise<ProjectedBatch> {
  const { jobs, jobPositions } = prepared;
  const batch: ProjectedBatch = { rows: [], deadLetters: [...prepared.deadLetters] };
  const results = await generator.project(jobs);
  results.forEach((projected, index) => {
    if (projected.ok) batch.rows.push(projected.row);
    else batch.deadLetters.push({ ...failureToDeadLetter(projected.failure, KAFKA_SOURCE, jobs[index]!.input.workspace.processed_devfile), kafka: jobPositions[index] });
  });
  return batch;
}
