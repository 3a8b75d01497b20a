/**
 * `--preview`'s (and `--no-switch`'s) output: the counts, then at most 20 workspaces with their objects (the
 * most disruptive first), then the fingerprint to pass to --switch; or one JSON object (`--json`).
 */
import type { ObjectChange, WorkspaceImpact } from '../engine/impact/classify.js';
import type { ShadowPreview } from '../engine/impact/preview.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function describeObject(o: ObjectChange): string {
  const notes: string[] = [];
  if (o.templateChanged) notes.push('pod template');
  if (o.replicas && o.replicas.from !== null && o.replicas.to !== null && o.replicas.from !== o.replicas.to) notes.push(`replicas ${o.replicas.from} → ${o.replicas.to}`);
  const paths = o.paths && o.paths.length > 0 ? `: ${o.paths.join(', ')}${(o.pathsTotal ?? 0) > o.paths.length ? ` … ${o.pathsTotal! - o.paths.length} more` : ''}` : '';
  return `${o.kind || '(no kind)'} ${o.namespace}/${o.name} ${o.change}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}${paths}`;
}

function describeWorkspace(w: WorkspaceImpact): string[] {
  if (w.change === 'new' || w.change === 'removed') return [`  workspace ${w.workspaceId}: ${w.change} (${plural(w.objects.length, 'object')})`];
  const effect = w.change === 'none' ? 'no effect on the pod' : w.change === 'restart' ? `restart${w.running ? ' (running)' : ' (not running)'}` : w.change;
  const extra = [w.projectId ? `project_id ${w.projectId.from} → ${w.projectId.to}` : '', w.reordered ? 'objects reordered' : ''].filter(Boolean);
  return [`  workspace ${w.workspaceId}: ${effect}${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`, ...w.objects.map((o) => `    ${describeObject(o)}`)];
}

export function previewText(preview: ShadowPreview): string[] {
  const { rebuild, impact } = preview;
  const c = impact.counts;
  const lines = [
    `agentk-states preview of rebuild #${rebuild.id} (${rebuild.source}, built ${rebuild.built_at?.toISOString() ?? '?'}): ` +
      `${plural(c.workspaces, 'workspace')} would change: ${c.restart} restart (${c.restartRunning} running), ${c.start} start, ${c.stop} stop, ` +
      `${c.none} no effect on the pod, ${c.new} new, ${c.removed} removed; ${impact.kept} live rows kept without a rebuilt row`,
  ];
  for (const w of impact.sample) lines.push(...describeWorkspace(w));
  if (c.workspaces > impact.sample.length) lines.push(`  … ${plural(c.workspaces - impact.sample.length, 'more workspace')}`);
  if (preview.liveAhead.length > 0) {
    lines.push(
      `the live consumer is ahead of the shadow on ${preview.liveAhead.join(', ')}: the switch consumes that first, so its diff will not be this one; ` +
        `run --no-switch again to preview what it would switch`,
    );
  }
  lines.push(
    c.workspaces === 0
      ? `fingerprint: ${impact.fingerprint} (the switch would change nothing)`
      : `fingerprint: ${impact.fingerprint} (switch exactly this diff with: rebuild-projection agentk-states --switch --fingerprint ${impact.fingerprint})`,
  );
  return lines;
}

function objectJson(o: ObjectChange) {
  return {
    kind: o.kind,
    namespace: o.namespace,
    name: o.name,
    change: o.change,
    effect: o.effect,
    replicas: o.replicas ?? null,
    template_changed: o.templateChanged ?? null,
    paths: o.paths ?? null,
    paths_total: o.pathsTotal ?? null,
  };
}

export function previewObject(preview: ShadowPreview) {
  const { rebuild, impact } = preview;
  const c = impact.counts;
  return {
    rebuild: { id: rebuild.id, source: rebuild.source, phase: rebuild.phase, built_at: rebuild.built_at?.toISOString() ?? null },
    workspaces: c.workspaces,
    restart: c.restart,
    restart_running: c.restartRunning,
    start: c.start,
    stop: c.stop,
    no_effect: c.none,
    new: c.new,
    removed: c.removed,
    kept: impact.kept,
    live_ahead: preview.liveAhead,
    sample: impact.sample.map((w) => ({
      workspace_id: w.workspaceId,
      change: w.change,
      running: w.running,
      project_id: w.projectId ?? null,
      reordered: w.reordered === true,
      objects: w.objects.map(objectJson),
    })),
    fingerprint: impact.fingerprint,
  };
}

export const previewJson = (preview: ShadowPreview, extra: Record<string, unknown> = {}): string => JSON.stringify({ ...previewObject(preview), ...extra });
