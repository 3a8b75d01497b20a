/**
 * Which agent config a workspace is generated with (spec desired-config.md §1.2).
 *
 * - `pinned` (GitLab's application behaviour, the default): the paper_trail version row at 0-based
 *   position `workspaces_agent_config_version` among the config's versions (oldest first, by created_at
 *   then id), reified from its `object`; the live row when that position does not exist or its object is null.
 * - `live` (what GitLab's backfill did): always the live `workspaces_agent_configs` row.
 *
 * Configs are loaded per cluster agent with two set-based queries and cached for the resolver's lifetime.
 * Create one resolver per consistent read (one snapshot transaction, one Kafka batch).
 */
import type { Session } from '../sink/postgres/database.js';
import { z } from 'zod';
import { agentConfigSchema, type AgentConfig } from '../../projections/agentk-states/inputs.js';

export type AgentConfigMode = 'pinned' | 'live';

/** A per-workspace reason why no agent config could be chosen. */
export interface AgentConfigFailure {
  kind: 'agent_config_missing' | 'agent_config_invalid';
  path: string | undefined;
  message: string;
}

/** Which row a config was read from, and why (`--explain`). */
export type AgentConfigSource =
  | { kind: 'version'; configId: string; versionId: string; position: number }
  | { kind: 'live'; configId: string; reason: 'live_mode' | 'no_such_version' | 'version_without_object'; versions: number };

export type AgentConfigResolution = { ok: true; config: AgentConfig; source: AgentConfigSource } | { ok: false; failure: AgentConfigFailure };

interface AgentConfigs {
  live: { id: string; row: Record<string, unknown> } | undefined;
  /** Each version row, oldest first; `object` null where paper_trail stored none (the create). */
  versions: { id: string; object: Record<string, unknown> | null }[];
}

/** The config row's versions, oldest first, as preload selects them beside the row (this column name). */
const VERSIONS_COLUMN = 'rebuild_projection.versions';
const versionsSchema = z.array(z.object({ id: z.string(), object: z.record(z.string(), z.unknown()).nullable() }));

export class AgentConfigResolver {
  private readonly byAgent = new Map<number, AgentConfigs>();

  constructor(
    private readonly db: Session,
    readonly mode: AgentConfigMode,
  ) {}

  /**
   * Loads, in one query, every agent config that `clusterAgentIds` need and that is not cached yet, with its
   * versions when pinned (a query of its own was one round trip more in every follow batch that generates).
   */
  async preload(clusterAgentIds: Iterable<number>): Promise<void> {
    const missing = [...new Set(clusterAgentIds)].filter((id) => !this.byAgent.has(id));
    if (missing.length === 0) return;
    const versions =
      this.mode === 'live'
        ? ''
        : `, (SELECT json_agg(json_build_object('id', v.id::text, 'object', v.object) ORDER BY v.created_at, v.id)
               FROM workspaces_agent_config_versions AS v
              WHERE v.item_id = c.id AND v.item_type = 'RemoteDevelopment::WorkspacesAgentConfig') AS "${VERSIONS_COLUMN}"`;
    const live = await this.db.query<{ cluster_agent_id: string; id: string } & Record<string, unknown>>(
      `SELECT c.*${versions} FROM workspaces_agent_configs AS c WHERE c.cluster_agent_id = ANY($1::bigint[])`,
      [missing],
    );
    for (const id of missing) this.byAgent.set(id, { live: undefined, versions: [] });
    for (const row of live.rows) {
      const { [VERSIONS_COLUMN]: rawVersions, ...config } = row;
      this.byAgent.set(Number(row.cluster_agent_id), { live: { id: row.id, row: config }, versions: versionsSchema.parse(rawVersions ?? []) });
    }
  }

  /** Resolves from the cache; call `preload` with the workspace's agent first. */
  resolve(clusterAgentId: number, pinnedVersion: number): AgentConfigResolution {
    const configs = this.byAgent.get(clusterAgentId);
    if (configs === undefined) throw new Error(`agent ${clusterAgentId} was not preloaded`);
    if (configs.live === undefined) {
      return {
        ok: false,
        failure: {
          kind: 'agent_config_missing',
          path: undefined,
          message: `cluster agent ${clusterAgentId} has no workspaces_agent_configs row`,
        },
      };
    }
    const configId = configs.live.id;
    const version = this.mode === 'pinned' ? configs.versions[pinnedVersion] : undefined;
    const parsed =
      version?.object
        ? parseAgentConfig(version.object, `workspaces_agent_config_versions object #${pinnedVersion} of agent config ${configId}`)
        : parseAgentConfig(configs.live.row, `workspaces_agent_configs row ${configId}`);
    if (!parsed.ok) return parsed;
    const versions = configs.versions.length;
    const source: AgentConfigSource = version?.object
      ? { kind: 'version', configId, versionId: version.id, position: pinnedVersion }
      : { kind: 'live', configId, versions, reason: this.mode === 'live' ? 'live_mode' : version ? 'version_without_object' : 'no_such_version' };
    return { ...parsed, source };
  }
}

/** Parses a config row or version object; a zod failure names the field and where the config came from. */
function parseAgentConfig(source: unknown, where: string): { ok: true; config: AgentConfig } | { ok: false; failure: AgentConfigFailure } {
  const parsed = agentConfigSchema.safeParse(source);
  if (parsed.success) return { ok: true, config: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join('.') || undefined;
  return {
    ok: false,
    failure: {
      kind: 'agent_config_invalid',
      path,
      message: `${where}: ${path ?? '(root)'}: ${issue?.message ?? 'invalid'}`,
    },
  };
}
