/** `--verify`'s output: one summary line then a bounded list (text), or one JSON object (`--json`). */
import { isClean, type VerifyReport } from '../engine/verify.js';

const more = (shown: number, total: number, what: string) => (total > shown ? [`  … ${total - shown} more ${what}`] : []);

export function verifyText(report: VerifyReport): string[] {
  const scope = report.sample ? ` (random sample of ${report.sample.size} of ${report.sample.ofWorkspaces} workspaces)` : '';
  const lines = [
    `agentk-states verify${scope}: ${report.workspaces} workspaces, ${report.equal} equal, ${report.differing} differing, ` +
      `${report.missing} missing, ${report.extra} extra, ${report.failed} failed`,
  ];
  for (const d of report.drift) {
    const paths = d.paths.length > 0 ? `: ${d.paths.join(', ')}${d.pathsTotal > d.paths.length ? ` … ${d.pathsTotal - d.paths.length} more` : ''}` : '';
    lines.push(`  workspace ${d.workspaceId} ${d.kind}${paths}`);
  }
  lines.push(...more(report.drift.length, report.differing + report.missing + report.extra, 'workspaces with drift'));
  for (const f of report.failures) lines.push(`  workspace ${f.workspaceId} failed (${f.kind}${f.path ? ` at ${f.path}` : ''}): ${f.message}`);
  lines.push(...more(report.failures.length, report.failed, 'failed workspaces'));
  return lines;
}

export function verifyJson(report: VerifyReport): string {
  return JSON.stringify({
    workspaces: report.workspaces,
    equal: report.equal,
    differing: report.differing,
    missing: report.missing,
    extra: report.extra,
    failed: report.failed,
    clean: isClean(report),
    sample: report.sample ? { size: report.sample.size, of_workspaces: report.sample.ofWorkspaces } : null,
    drift: report.drift.map((d) => ({ workspace_id: d.workspaceId, kind: d.kind, paths: d.paths, paths_total: d.pathsTotal })),
    failures: report.failures.map((f) => ({ workspace_id: f.workspaceId, kind: f.kind, path: f.path ?? null, message: f.message })),
  });
}
