/**
 * `--demo`: the main job on bundled data, so that trying the tool needs no database or broker. Before the run,
 * GitLab's tables of the demo database are loaded with the demo's agent configs and workspaces (demo/,
 * written by demo/make-demo-data.ts); the run itself is the ordinary one over `--source file:demo/events.ndjson.gz`:
 * a rebuild the first time, a replay from the checkpoints after that (nothing new: it says so). Afterwards
 * it prints what the table now holds: a sample row's objects, the dead letters by reason (the demo data holds
 * a few bad inputs on purpose), where the data is kept and what to try next.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Database } from '../sink/postgres/database.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import type { Logger } from '../ops/logger.js';
import { packageRoot } from '../package-paths.js';
import { readCheckpoints } from '../sink/postgres/checkpoints.js';
import { countDeadLettersByReason } from '../sink/postgres/dead-letters.js';
import { countAgentkStates, countFoldedWorkspaces, demoGitLabTablesSchema, firstAgentkState, loadDemoGitLabTables } from '../sink/postgres/demo-tables.js';
import { withClient } from '../sink/postgres/transaction.js';
import { eventFile, type EventFile } from '../sources/file/file-source.js';

export const DEMO_EVENTS_PATH = join(packageRoot, 'demo', 'events.ndjson.gz');
const DEMO_GITLAB_TABLES_PATH = join(packageRoot, 'demo', 'gitlab.json.gz');

export interface DemoStart {
  file: EventFile;
  /** The live table already holds the demo's events (checkpoints): replay from them instead of rebuilding. */
  resume: boolean;
}

/** Loads GitLab's tables of the demo database (the first time; a database holding other data is refused). */
export async function loadDemo(db: Database, log: Logger): Promise<void> {
  const tables = demoGitLabTablesSchema.parse(JSON.parse(gunzipSync(readFileSync(DEMO_GITLAB_TABLES_PATH)).toString('utf8')));
  const loaded = await withClient(db, (client) => loadDemoGitLabTables(client, tables));
  log.info(
    loaded
      ? `demo: loaded GitLab's tables with the demo's ${tables.workspaces_agent_configs.length} agent configs and ${tables.workspaces.length} workspaces`
      : `demo: GitLab's tables already hold the demo's agent configs and workspaces`,
  );
}

/** Whether this run rebuilds (first time) or resumes from the checkpoints a first run left. */
export async function demoStart(db: Database): Promise<DemoStart> {
  const file = eventFile(DEMO_EVENTS_PATH);
  const resume = (await readCheckpoints(db, AGENTK_STATES_PROJECTION, [file.topic])).length > 0;
  return { file, resume };
}

/** A Kubernetes object as `Kind namespace/name`. */
function describeObject(object: unknown): string {
  const o = object as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const namespace = typeof o.metadata?.namespace === 'string' ? `${o.metadata.namespace}/` : '';
  return `${String(o.kind)} ${namespace}${String(o.metadata?.name)}`;
}

/** The summary after the run: what the table holds, the dead letters, where the data is, what to try next. */
export async function demoSummary(db: Database, start: DemoStart, where: { description: string; flags: string }): Promise<string[]> {
  const folded = await countFoldedWorkspaces(db, AGENTK_STATES_PROJECTION);
  const rows = await countAgentkStates(db);
  const sample = await firstAgentkState(db);
  const reasons = await countDeadLettersByReason(db, AGENTK_STATES_PROJECTION, {});
  const letters = reasons.reduce((sum, r) => sum + r.count, 0);
  const lines = [
    start.resume
      ? `demo: resumed from the checkpoints the first run left: nothing new in ${start.file.path}, the table is as that run left it`
      : `demo: rebuilt workspace_agentk_states from ${start.file.path}`,
    `demo: ${folded.live + folded.deleted} workspaces read (${folded.deleted} deleted by the log), ${rows} rows in workspace_agentk_states`,
  ];
  if (sample) {
    const objects = Array.isArray(sample.desiredConfig) ? sample.desiredConfig : [];
    lines.push(`demo: workspace ${sample.workspaceId}'s row holds ${objects.length} objects: ${objects.map(describeObject).join(', ')}`);
  }
  lines.push(`demo: ${letters} dead letters (the demo data holds bad inputs on purpose)${letters > 0 ? ':' : ''}`);
  for (const r of reasons) lines.push(`  ${r.reason}: ${r.count}, e.g. ${r.example}`);
  lines.push(
    `demo: the data is kept in ${where.description}`,
    `demo: next, try: rebuild-projection agentk-states ${where.flags} --status | --explain ${sample?.workspaceId ?? 1} | --verify | --dead-letters`,
  );
  return lines;
}
