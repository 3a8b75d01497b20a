/**
 * The events the follow steps send (f, f5, f6), and what each workspace they touched looks like now, across
 * every follow step of one run, so that versions keep increasing and every step can end with the table
 * back at the workload's final state (then its checksum must equal (b)'s).
 *
 * Two kinds of event:
 * - config-changing (rows 5): a workspace goes away from its final state and back, alternately. Away is a
 *   desired_state flip (Running → Stopped, any other state → Running: the Deployment's replicas change,
 *   spec §3.6) or, for every fifth workspace (id % 5 = 2), the processed_devfile of the next workspace
 *   (its containers change). Back is the final state's value.
 * - no-input (row 6): what agentk reports (actual_state, responded_to_agent_at, actual_state_updated_at,
 *   deployment_resource_version, updated_at), as workload.ts's agent-report updates: none of these is read
 *   by the generator (spec desired-config.md §1.1).
 */
import pg from 'pg';
import type { WorkspaceValueEvent } from '../projections/agentk-states/events.js';
import { benchAgents, planWorkspace, Rng, type BenchAgent, type WorkloadSpec } from './workload.js';

const FOLLOW_EPOCH = Date.parse('2025-10-01T00:00:00Z');

export interface ConfigChange {
  event: WorkspaceValueEvent;
  /** The Deployment's replicas once the event is applied. */
  replicas: '0' | '1';
}

export class FollowWorkload {
  private readonly agents: BenchAgent[] = benchAgents();
  private readonly versions = new Map<number, number>();
  /** Workspaces now away from their final state. */
  private readonly away = new Set<number>();
  /** processed_devfile of the final rows, loaded for the devfile-changing workspaces and their neighbours. */
  private readonly devfiles = new Map<number, string>();
  private readonly rng: Rng;

  constructor(
    private readonly spec: WorkloadSpec,
    private readonly databaseUrl: string,
  ) {
    this.rng = new Rng(spec.seed, 0xf011);
  }

  /** Whether this workspace's config changes are devfile changes (otherwise desired_state flips). */
  static changesDevfile(id: number): boolean {
    return id % 5 === 2;
  }

  /** Loads the devfiles that config changes of these workspaces need (from GitLab's workspaces table). */
  async prepare(ids: readonly number[]): Promise<void> {
    const needed = new Set<number>();
    for (const id of ids) {
      if (!FollowWorkload.changesDevfile(id)) continue;
      for (const each of [id, this.neighbour(id)]) if (!this.devfiles.has(each)) needed.add(each);
    }
    if (needed.size === 0) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'rebuild-projection bench (follow workload)' });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; processed_devfile: string | null }>(
        'SELECT id::text AS id, processed_devfile FROM workspaces WHERE id = ANY($1::bigint[])',
        [[...needed]],
      );
      for (const row of rows) this.devfiles.set(Number(row.id), row.processed_devfile ?? '');
      const missing = [...needed].filter((id) => !this.devfiles.has(id));
      if (missing.length > 0) throw new Error(`the workspaces table has no row for workspace(s) ${missing.slice(0, 5).join(', ')}`);
    } finally {
      await client.end();
    }
  }

  /** The next config-changing event of `id`: away from its final state, or back to it. */
  toggle(id: number): ConfigChange {
    const final = planWorkspace(this.spec, this.agents, id, false).final;
    const goingAway = !this.away.has(id);
    if (goingAway) this.away.add(id);
    else this.away.delete(id);
    const { version, at } = this.nextVersion(id);
    const finalReplicas = final.desired_state === 'Running' ? '1' : '0';
    if (FollowWorkload.changesDevfile(id)) {
      const devfile = this.devfiles.get(goingAway ? this.neighbour(id) : id);
      if (devfile === undefined) throw new Error(`FollowWorkload.prepare() was not called for workspace ${id}`);
      return { event: this.update(id, version, at, { processed_devfile: devfile, updated_at: at }), replicas: finalReplicas };
    }
    const desired = goingAway ? (final.desired_state === 'Running' ? 'Stopped' : 'Running') : final.desired_state;
    return {
      event: this.update(id, version, at, { desired_state: desired, desired_state_updated_at: at, updated_at: at }),
      replicas: desired === 'Running' ? '1' : '0',
    };
  }

  /** An agent report for `id`: a new version that changes no generator input. */
  noInput(id: number): WorkspaceValueEvent {
    const { version, at } = this.nextVersion(id);
    return this.update(id, version, at, {
      actual_state: this.rng.pick(['Running', 'Stopped', 'Starting']),
      responded_to_agent_at: at,
      actual_state_updated_at: at,
      deployment_resource_version: String(this.rng.int(100_000, 99_999_999)),
      updated_at: at,
    });
  }

  /** The events that bring every workspace away from its final state back to it. */
  restoreEvents(): ConfigChange[] {
    return [...this.away].map((id) => this.toggle(id));
  }

  private neighbour(id: number): number {
    return (id % this.spec.n) + 1;
  }

  private nextVersion(id: number): { version: number; at: Date } {
    // After the rebuild every workspace is at its last update's version, k + 1.
    const version = (this.versions.get(id) ?? this.spec.k + 1) + 1;
    this.versions.set(id, version);
    return { version, at: new Date(FOLLOW_EPOCH + version * 60_000) };
  }

  private update(id: number, version: number, at: Date, changes: Extract<WorkspaceValueEvent, { type: 'workspace-updated' }>['changes']): WorkspaceValueEvent {
    return { type: 'workspace-updated', eventId: this.rng.uuid(), workspaceId: id, version, occurredAt: at, changes };
  }
}

/** `count` workspace ids (at most n) spread evenly over 1..n, so each is revisited as rarely as possible. */
export function spreadIds(n: number, count: number): number[] {
  const size = Math.max(1, Math.min(n, count));
  return Array.from({ length: size }, (_, i) => 1 + Math.floor((i * n) / size));
}
