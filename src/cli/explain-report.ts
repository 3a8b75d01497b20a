/** `--explain`'s output: a bounded text report for people, or one JSON object (`--json`) with the same facts. */
import type { EventPosition, VersionOrigin } from '../../projections/agentk-states/fold.js';
import type { AgentConfigSource } from '../gitlab/agent-config-resolver.js';
import { explainProblems, type AgentConfigPin, type ExplainReport, type Generated } from '../engine/explain.js';

/** At most this many parked updates are listed in text (the count stays exact; `--json` lists them all). */
const TEXT_MAX_PARKED = 20;

const at = (p: EventPosition) => `${p.topic}[${p.partition}]@${p.offset}`;

function origin(o: VersionOrigin): string {
  return o.kind === 'snapshot' ? `v${o.version} snapshot taken ${o.takenAt}` : `v${o.version} ${o.kind} ${at(o)}`;
}

function source(s: AgentConfigSource, pinnedVersion: number): string {
  if (s.kind === 'version') return `workspaces_agent_config_versions row ${s.versionId} (version #${s.position} of agent config ${s.configId})`;
  const why = {
    live_mode: '--agent-config live',
    no_such_version: `no version #${pinnedVersion}: the config has ${s.versions} versions`,
    version_without_object: 'that version row has no object',
  }[s.reason];
  return `workspaces_agent_configs row ${s.configId} (live row: ${why})`;
}

function pin(p: AgentConfigPin | null): string {
  if (p === null) return 'agent config: none (no live folded state, not in GitLab\'s workspaces)';
  const head = `agent config: cluster agent ${p.clusterAgentId}, workspaces_agent_config_version ${p.pinnedVersion} → `;
  if (p.from === 'event') return `${head}the config its create event carried`;
  if ('failure' in p) return `${head}unresolved (${p.failure.kind}): ${p.failure.message}`;
  return head + source(p.source, p.pinnedVersion);
}

function generated(what: string, g: Generated | null, absent: string): string {
  if (g === null) return `${what}: ${absent}`;
  if (!g.ok) return `${what}: does not generate (${g.kind}${g.path ? ` at ${g.path}` : ''}): ${g.message}`;
  if (g.liveRow === 'equal') return `${what}: equal to the live row`;
  if (g.liveRow === 'missing') return `${what}: generates a row, but there is no live row`;
  const more = g.diff.total > g.diff.paths.length ? ` … ${g.diff.total - g.diff.paths.length} more` : '';
  return `${what}: differs from the live row at ${g.diff.paths.join(', ')}${more}`;
}

export function explainText(report: ExplainReport): string[] {
  const { folded, origins, parked, deadLetters } = report;
  const problems = explainProblems(report);
  const lines = [
    `agentk-states explain workspace ${report.workspaceId}: ` +
      (folded ? `folded version ${folded.version}${folded.deleted ? ' (deleted)' : ''}` : 'no folded state') +
      `, ${parked.length} parked updates, ${deadLetters.total} dead letters, live row ${report.liveRow ? 'present' : 'absent'}, ` +
      `${report.inGitlab ? 'in' : 'not in'} GitLab's workspaces; ${problems.length === 0 ? 'no problems' : `problems: ${problems.join('; ')}`}`,
  ];
  if (folded) {
    const offsets = Object.entries(folded.offsets).map(([partition, offset]) => `${partition}@${offset}`);
    lines.push(`folded state: version ${folded.version}, ${folded.deleted ? 'deleted' : 'live'}, highest offsets ${offsets.join(', ') || 'none'}`);
    if (folded.oversizedDevfile) {
      lines.push(`  processed_devfile not kept: ${folded.oversizedDevfile.characters} characters, sha256 ${folded.oversizedDevfile.sha256}`);
    }
  }
  lines.push(`origins, oldest first (${origins.origins.length} kept${origins.dropped > 0 ? `, ${origins.dropped} older dropped` : ''}):`);
  for (const o of origins.origins) lines.push(`  ${origin(o)}`);
  lines.push(`parked updates: ${parked.length === 0 ? 'none' : parked.length}`);
  for (const p of parked.slice(0, TEXT_MAX_PARKED)) lines.push(`  v${p.version} from ${at(p.position)}`);
  if (parked.length > TEXT_MAX_PARKED) lines.push(`  … ${parked.length - TEXT_MAX_PARKED} more`);
  lines.push(`dead letters: ${deadLetters.total === 0 ? 'none' : deadLetters.total}`);
  for (const d of deadLetters.letters) {
    const where = d.kafka ? `, ${at(d.kafka)}` : '';
    lines.push(`  ${d.errorKind}${d.errorPath ? ` at ${d.errorPath}` : ''} (${d.source}${where}, ${d.attempts} attempts): ${d.message}`);
  }
  if (deadLetters.total > deadLetters.letters.length) lines.push(`  … ${deadLetters.total - deadLetters.letters.length} more`);
  lines.push(pin(report.agentConfig) + (report.agentConfigMode === 'live' ? ' [--agent-config live]' : ''));
  lines.push(report.liveRow ? `live row: project_id ${report.liveRow.projectId}, updated_at ${report.liveRow.updatedAt.toISOString()}` : 'live row: none');
  lines.push(generated('generated from the folded state', report.fromFolded, folded?.deleted ? 'nothing (deleted)' : 'nothing (no folded state)'));
  lines.push(generated("generated from GitLab's workspaces row", report.fromGitlab, "nothing (not in GitLab's workspaces)"));
  const vs = report.foldedVsGitlab;
  if (vs) {
    const more = vs.total > vs.paths.length ? ` … ${vs.total - vs.paths.length} more` : '';
    lines.push(`folded state vs GitLab's workspaces row: ${vs.total === 0 ? 'agree' : `disagree on ${vs.paths.join(', ')}${more}`}`);
  }
  return lines;
}

function originJson(o: VersionOrigin) {
  if (o.kind === 'snapshot') return { version: o.version, kind: o.kind, taken_at: o.takenAt };
  return { version: o.version, kind: o.kind, topic: o.topic, partition: o.partition, offset: o.offset };
}

function generatedJson(g: Generated | null) {
  if (g === null) return null;
  if (!g.ok) return { ok: false, kind: g.kind, path: g.path ?? null, message: g.message };
  return { ok: true, live_row: g.liveRow, paths: g.diff.paths, paths_total: g.diff.total };
}

function pinJson(p: AgentConfigPin | null) {
  if (p === null) return null;
  const head = { cluster_agent_id: p.clusterAgentId, pinned_version: p.pinnedVersion };
  if (p.from === 'event') return { ...head, from: 'event' };
  if ('failure' in p) return { ...head, from: 'unresolved', failure: { kind: p.failure.kind, path: p.failure.path ?? null, message: p.failure.message } };
  const s = p.source;
  return s.kind === 'version'
    ? { ...head, from: 'version', config_id: s.configId, version_id: s.versionId, position: s.position }
    : { ...head, from: 'live', config_id: s.configId, reason: s.reason, versions: s.versions };
}

export function explainJson(report: ExplainReport): string {
  const { folded } = report;
  return JSON.stringify({
    workspace_id: report.workspaceId,
    agent_config_mode: report.agentConfigMode,
    problems: explainProblems(report),
    folded_state: folded
      ? { version: folded.version, deleted: folded.deleted, offsets: folded.offsets, oversized_devfile: folded.oversizedDevfile }
      : null,
    origins: report.origins.origins.map(originJson),
    origins_dropped: report.origins.dropped,
    parked_updates: report.parked.map((p) => ({ version: p.version, ...p.position })),
    dead_letters: report.deadLetters.letters.map((d) => ({
      kind: d.errorKind,
      path: d.errorPath,
      message: d.message,
      source: d.source,
      position: d.kafka,
      attempts: d.attempts,
      first_seen_at: d.firstSeenAt.toISOString(),
      last_seen_at: d.lastSeenAt.toISOString(),
    })),
    dead_letters_total: report.deadLetters.total,
    agent_config: pinJson(report.agentConfig),
    live_row: report.liveRow ? { project_id: report.liveRow.projectId, updated_at: report.liveRow.updatedAt.toISOString() } : null,
    in_gitlab: report.inGitlab,
    from_folded_state: generatedJson(report.fromFolded),
    from_gitlab_row: generatedJson(report.fromGitlab),
    folded_vs_gitlab: report.foldedVsGitlab ? { columns: report.foldedVsGitlab.paths, columns_total: report.foldedVsGitlab.total } : null,
  });
}
