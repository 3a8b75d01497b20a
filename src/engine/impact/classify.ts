/**
 * What a switch does to one workspace's pod, from its live row and its shadow row. Pure.
 *
 * A desired config is a list of Kubernetes objects (shared/spec/desired-config.md); objects are matched by
 * kind/namespace/name. The rules, per matched Deployment (GitLab's replicas are 0 or 1; a missing
 * `spec.replicas` is 1, Kubernetes' default):
 *
 *   replicas 0 → ≥1                        start   (whatever else changes: the pod starts from the new template)
 *   replicas ≥1 → 0                        stop    (the pod goes; a template change takes effect at the next start)
 *   same running-ness, spec.template differs  restart (`running` when the live row has replicas ≥ 1)
 *   anything else (labels, annotations, other spec fields, replicas 1 → 2)   no effect on the pod
 *
 * A Deployment added with replicas ≥ 1 starts a pod, one removed with replicas ≥ 1 stops it. Every other
 * object (ConfigMaps, Secrets, the Service, …) added, removed or changed has no effect on the pod. A
 * workspace takes its strongest effect (restart > stop > start > none). A workspace whose whole row is
 * inserted or deleted is `new` or `removed`, whatever its objects.
 *
 * Classification compares summaries (`ObjectSummary`: a digest per object, the Deployment's template digest
 * and replicas), so the switch can classify tens of thousands of rows from digests PostgreSQL computes,
 * without fetching every desired config. `summarizeDesiredConfig` makes the same summary from a JSON value
 * (for the rows a preview shows, and for tests); equal digests mean equal JSON values on both paths.
 */
import { createHash } from 'node:crypto';

export type PodEffect = 'restart' | 'stop' | 'start' | 'none';
export type WorkspaceChange = PodEffect | 'new' | 'removed';

/** One Kubernetes object of a desired config, reduced to what classification compares. */
export interface ObjectSummary {
  /** `kind`, `metadata.namespace`, `metadata.name`; '' when absent or not a string. */
  kind: string;
  namespace: string;
  name: string;
  /** Equal digests ⟺ equal objects (as JSON values). */
  digest: string;
  /** Deployments only: the digest of `spec.template` ('' when absent) and `spec.replicas` (null when absent or not a number). */
  deployment?: { templateDigest: string; replicas: number | null };
}

/** A `workspace_agentk_states` row, summarized. */
export interface RowSummary {
  projectId: number;
  objects: ObjectSummary[];
}

export interface ObjectChange {
  kind: string;
  namespace: string;
  name: string;
  change: 'added' | 'removed' | 'changed';
  effect: PodEffect;
  /** Deployments: replicas on each side (null: the side has no such object) and whether the pod template differs. */
  replicas?: { from: number | null; to: number | null };
  templateChanged?: boolean;
  /** Filled in for the workspaces a preview shows: where the object's JSON differs (`jsonDiff` paths). */
  paths?: string[];
  pathsTotal?: number;
}

export interface WorkspaceImpact {
  workspaceId: number;
  change: WorkspaceChange;
  /** A restart of a running pod (the live row's Deployment has replicas ≥ 1): what --max-restarts counts. */
  running: boolean;
  /** The objects that differ, in the shadow row's order, then the removed ones in the live row's order. */
  objects: ObjectChange[];
  /** Present when `project_id` differs (an existing workspace's row only). */
  projectId?: { from: number; to: number };
  /** Present when the objects come in another order (GitLab checks the order: section 9 of the spec). */
  reordered?: true;
}

/** Kubernetes' default for a Deployment without `spec.replicas`. */
const DEFAULT_REPLICAS = 1;

const EFFECT_RANK: Record<PodEffect, number> = { none: 0, start: 1, stop: 2, restart: 3 };

/** Display and matching key of an object. */
export function objectKey(o: Pick<ObjectSummary, 'kind' | 'namespace' | 'name'>): string {
  return `${o.kind}/${o.namespace}/${o.name}`;
}

/** Objects by key; a repeated key (never in a valid desired config) gets `#2`, `#3`, … so nothing is lost. */
function byKey(objects: readonly ObjectSummary[]): Map<string, ObjectSummary> {
  const map = new Map<string, ObjectSummary>();
  for (const o of objects) {
    const key = objectKey(o);
    let unique = key;
    for (let n = 2; map.has(unique); n++) unique = `${key}#${n}`;
    map.set(unique, o);
  }
  return map;
}

const running = (replicas: number | null | undefined): boolean => (replicas ?? DEFAULT_REPLICAS) > 0;

function objectEffect(from: ObjectSummary | undefined, to: ObjectSummary | undefined): Pick<ObjectChange, 'effect' | 'replicas' | 'templateChanged'> {
  const a = from?.deployment;
  const b = to?.deployment;
  if (!a && !b) return { effect: 'none' };
  const replicas = { from: from ? (a?.replicas ?? DEFAULT_REPLICAS) : null, to: to ? (b?.replicas ?? DEFAULT_REPLICAS) : null };
  if (!a) return { effect: running(b!.replicas) ? 'start' : 'none', replicas };
  if (!b) return { effect: running(a.replicas) ? 'stop' : 'none', replicas };
  const templateChanged = a.templateDigest !== b.templateDigest;
  const wasRunning = running(a.replicas);
  const willRun = running(b.replicas);
  const effect: PodEffect = wasRunning !== willRun ? (willRun ? 'start' : 'stop') : templateChanged ? 'restart' : 'none';
  return { effect, replicas, templateChanged };
}

/**
 * The impact of replacing `live` with `shadow` (null: no row on that side). Returns undefined when the two
 * rows are equal (the switch leaves the row alone).
 */
export function classifyWorkspace(workspaceId: number, live: RowSummary | null, shadow: RowSummary | null): WorkspaceImpact | undefined {
  if (!live && !shadow) return undefined;
  const before = byKey(live?.objects ?? []);
  const after = byKey(shadow?.objects ?? []);
  const objects: ObjectChange[] = [];
  let effect = 'none' as PodEffect;
  let restartsRunning = false;
  const consider = (from: ObjectSummary | undefined, to: ObjectSummary | undefined) => {
    if (from && to && from.digest === to.digest) return;
    const o = (to ?? from)!;
    const classified = objectEffect(from, to);
    objects.push({ kind: o.kind, namespace: o.namespace, name: o.name, change: !from ? 'added' : !to ? 'removed' : 'changed', ...classified });
    if (EFFECT_RANK[classified.effect] > EFFECT_RANK[effect]) effect = classified.effect;
    if (classified.effect === 'restart' && running(from?.deployment?.replicas)) restartsRunning = true;
  };
  for (const [key, to] of after) consider(before.get(key), to);
  for (const [key, from] of before) if (!after.has(key)) consider(from, undefined);
  // The objects both rows have, in another relative order.
  const common = (from: Map<string, ObjectSummary>, other: Map<string, ObjectSummary>) => [...from.keys()].filter((key) => other.has(key)).join('\n');
  const reordered = live !== null && shadow !== null && common(before, after) !== common(after, before);
  const projectChanged = live && shadow && live.projectId !== shadow.projectId;
  if (live && shadow && objects.length === 0 && !reordered && !projectChanged) return undefined;
  const impact: WorkspaceImpact = {
    workspaceId,
    change: !live ? 'new' : !shadow ? 'removed' : effect,
    running: live !== null && shadow !== null && effect === 'restart' && restartsRunning,
    objects,
  };
  if (projectChanged) impact.projectId = { from: live.projectId, to: shadow.projectId };
  if (reordered) impact.reordered = true;
  return impact;
}

/** JSON text with every object's keys sorted: equal JSON values (key order aside) give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const digestOf = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex');

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** The summary of one object of a desired config (any JSON value: a row GitLab wrote may hold anything). */
export function summarizeObject(value: unknown): ObjectSummary {
  const o = asRecord(value);
  const metadata = asRecord(o?.metadata);
  const summary: ObjectSummary = { kind: text(o?.kind), namespace: text(metadata?.namespace), name: text(metadata?.name), digest: digestOf(value) };
  if (summary.kind === 'Deployment') {
    const spec = asRecord(o?.spec);
    summary.deployment = {
      templateDigest: spec?.template === undefined ? '' : digestOf(spec.template),
      replicas: typeof spec?.replicas === 'number' ? spec.replicas : null,
    };
  }
  return summary;
}

/** The summary of a row from its JSON value (a desired config that is not an array counts as one object). */
export function summarizeRow(projectId: number, desiredConfig: unknown): RowSummary {
  return { projectId, objects: (Array.isArray(desiredConfig) ? desiredConfig : [desiredConfig]).map(summarizeObject) };
}
