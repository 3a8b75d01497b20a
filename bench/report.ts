/**
 * The benchmark's results: the data (one JSON document), the table printed to stdout, and the Markdown
 * written to bench/results/latest.md.
 */
import type { CpuUsage, MachineDescription } from './environment.js';
import type { ReadModelSummary } from './load-postgres.js';
import type { CopyResult } from './measure-copy.js';
import type { FollowBacklogResult, FollowResult } from './measure-follow.js';
import type { GenerateResult } from './measure-generate.js';
import type { KafkaDecodeResult } from './measure-kafka-decode.js';
import type { RebuildResult } from './measure-rebuild.js';
import type { ProfileSummary } from './profile.js';
import type { RebuilderRun } from './rebuilder-process.js';
import { totalWrites } from './pg-stats.js';

export interface WorkloadFacts {
  n: number;
  k: number;
  partitions: number;
  seed: number;
  events: number;
  /** Update lag in stream steps (see workload.ts). */
  updateLag: number;
  topicBytes: number;
  workspaceTableBytes: number;
  loadKafkaMs: number;
  loadPostgresMs: number;
}

/** The CLI's runs at one size (main.ts modeSteps). */
export interface ModeRuns {
  /** Kafka rebuild into a fresh target (row 1). */
  d?: RebuildResult;
  /** Kafka rebuild over (d)'s result, a share of its rows made to differ (row 2). */
  d2?: RebuildResult;
  /** Snapshot rebuild into a fresh target (row 3). */
  e?: RebuildResult;
  /** Snapshot rebuild over (e)'s result, a share of its rows made to differ (row 4). */
  e2?: RebuildResult;
  /** --follow latency at a steady rate (row 5). */
  f?: FollowResult;
  /** --follow through a backlog of config-changing events (row 5). */
  f5?: FollowBacklogResult;
  /** --follow through a backlog of events that touch no generator input (row 6). */
  f6?: FollowBacklogResult;
}
const MODES = ['d', 'd2', 'e', 'e2', 'f', 'f5', 'f6'] as const;
type Mode = (typeof MODES)[number];

/**
 * Row 8's baseline, Kafka Connect + Debezium's JDBC sink upserting the same final rows
 * (measure-connect-sink.ts, wired in by main.ts when present): the fields this report reads.
 */
export interface ConnectSinkSummary {
  rows: number;
  wallMs: number;
  checksum: string;
  checksumMatches: boolean;
}

/** (c) again through the engine's Generator with a pool of worker threads (measure-generate.ts). */
export interface WorkerGeneration {
  workers: number;
  elapsedMs: number;
  workspaces: number;
}

export interface BenchResults extends ModeRuns {
  startedAt: string;
  finishedAt: string;
  totalSeconds: number;
  command: string;
  machine: MachineDescription;
  /** The code measured: the CLI is copied from dist/ at the start of the run. */
  code: { commit: string; uncommittedFiles: number };
  workload: WorkloadFacts;
  /** How (d) ran the CLI: its default rebuild (shadow + switch) or a --from-beginning replay. */
  kafkaMode: 'rebuild' | 'replay';
  /** The share of rows made to differ before (d2) and (e2). */
  differShare: number;
  a?: KafkaDecodeResult;
  b?: CopyResult;
  /** The rows (b) copied, summarized like the read model: the reference for every other step. */
  bSummary?: ReadModelSummary;
  c?: GenerateResult;
  /** (c/w) (c) through the engine's Generator with 1 and 2 worker threads. */
  cWorkers?: WorkerGeneration[];
  /** Row 8; undefined: not measured. */
  connect?: ConnectSinkSummary;
  /** (g) the rebuilder at a second, smaller size (same seed: its workspaces are the first n/10 of the big run's). */
  small?: ModeRuns & { n: number; workload: WorkloadFacts };
  /** CPU over the in-process steps (the rebuilder runs carry their own). */
  cpu: { a?: CpuUsage; b?: CpuUsage; c?: CpuUsage };
  profiles?: { label: string; summary: ProfileSummary }[];
  /** Other work seen on the machine during the run (it shares the cores with the measurement). */
  foreignActivity: string[];
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Derived numbers: issue 12's table
// ---------------------------------------------------------------------------------------------------------

const s = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);
const peakRssMb = (run: RebuilderRun | undefined) => mb(run?.peakRssKb ?? (run?.sampledHwmKb || undefined));
const failed = (result: { error?: string | undefined } | undefined) => (result?.error ? ' — FAILED (see notes)' : '');
/** Wall seconds of a rebuild that succeeded. */
const wall = (result: RebuildResult | undefined) => (result === undefined || result.error ? undefined : s(result.run.wallMs));
const sustainedRate = (f: FollowBacklogResult) => f.sustainedEvents / Math.max(1e-9, f.sustainedMs / 1000);

/** The peak RSS target (row 7), and how far N/10 and N may differ. */
const RSS_LIMIT_MB = 250;
const RSS_SPREAD = 0.1;

/**
 * Rows written by a routine rebuild, as PostgreSQL counted them, against the rows made to differ. The
 * ratio is the larger of the live table's writes (ins + upd + del) and the shadow's (ins + upd) per
 * differing row: each table should get each differing row once. The shadow's deletes (its rows removed
 * after the switch) and the undo log are reported beside it; the sum over live and shadow can never be
 * below 2 (a differing row is written into the shadow and then into the live table).
 */
export function rowsWritten(result: RebuildResult): { ratio: number; live: number; shadow: number; shadowDeleted: number; undo: number; sum: number } | undefined {
  if (!result.writes || result.differing === undefined || result.differing === 0) return undefined;
  const { live, shadow, undo } = result.writes;
  const liveRows = live.inserted + live.updated + live.deleted;
  const shadowRows = shadow.inserted + shadow.updated;
  return {
    ratio: Math.max(liveRows, shadowRows) / result.differing,
    live: liveRows,
    shadow: shadowRows,
    shadowDeleted: shadow.deleted,
    undo: undo.inserted + undo.updated + undo.deleted,
    sum: liveRows + shadowRows + shadow.deleted,
  };
}

export interface IssueRow {
  row: string;
  what: string;
  /** The limit as a formula, and its value in this run. */
  limit: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

const NOT_MEASURED = 'not measured (skipped or failed)';
const secondsText = (value: number) => `${fmt(value, 1)} s`;

/** A time ratio row: measured / limit ≤ target. */
function timeRow(row: string, what: string, formula: string, limitS: number | undefined, measuredS: number | undefined, target: number): IssueRow {
  const value = limitS !== undefined && measuredS !== undefined ? measuredS / limitS : undefined;
  return {
    row,
    what,
    limit: `${formula} = ${limitS === undefined ? '–' : secondsText(limitS)}`,
    target: `≤ ${target}×`,
    measured: value === undefined ? NOT_MEASURED : `${fmt(value, 2)}× (${secondsText(measuredS!)})`,
    met: value === undefined ? undefined : value <= target,
  };
}

/** Every row of issue 12's table, in its order, with this run's limits. */
export function issueRows(r: BenchResults): IssueRow[] {
  const a = s(r.a?.elapsedMs);
  const b = s(r.b?.elapsedMs);
  const c = s(r.c?.elapsedMs);
  const sum = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined ? x + y : undefined);
  const max = (x: number | undefined, y: number | undefined) => (x !== undefined && y !== undefined ? Math.max(x, y) : undefined);
  const twoB = b === undefined ? undefined : 2 * b;
  const out: IssueRow[] = [];
  out.push(timeRow('1', 'Kafka rebuild into an empty table (d)', 'max(a + c, 2b)', max(sum(a, c), twoB), wall(r.d), 1.3));
  const share = `${fmt(r.differShare * 100, 1)}%`;
  out.push(timeRow('2', `Kafka rebuild over a table right except ${share} (d2)`, 'a + c', sum(a, c), wall(r.d2), 1.3));
  out.push(writtenRow('2', r.d2));
  out.push(timeRow('3', 'snapshot rebuild into an empty table (e)', 'max(c, 2b)', max(c, twoB), wall(r.e), 1.3));
  out.push(timeRow('4', `snapshot rebuild over a table right except ${share} (e2)`, 'c', c, wall(r.e2), 1.3));
  out.push({ ...writtenRow('4', r.e2), target: '– (reported)', met: undefined });

  const rowsPerS = (seconds: number | undefined) => (seconds === undefined || r.b === undefined ? undefined : r.b.rows / seconds);
  const bRate = rowsPerS(b);
  const cRate = r.c && c !== undefined ? r.c.workspaces / c : undefined;
  const limit5 = bRate !== undefined && cRate !== undefined ? Math.min(bRate, cRate) : undefined;
  const f5 = r.f5 && !r.f5.run.timedOut ? sustainedRate(r.f5) : undefined;
  const f5Written = r.f5 ? totalWrites(r.f5.writes.live) : undefined;
  out.push({
    row: '5',
    what: '--follow, config-changing events, as fast as it goes (f5)',
    limit: `min(b, c) = ${limit5 === undefined ? '–' : `${fmt(limit5, 0)} rows/s`}`,
    target: '≥ 0.7× (events/s; each event changes its row)',
    measured: f5 === undefined ? NOT_MEASURED : `${limit5 === undefined ? '–' : `${fmt(f5 / limit5, 2)}×`} (${fmt(f5, 0)} events/s; ${f5Written} live rows written for ${r.f5!.events} events)`,
    // With M ≤ N (the default) each workspace gets one event, which changes its row: fewer writes than workspaces mean events were not applied.
    met: f5 === undefined || limit5 === undefined ? undefined : f5 >= 0.7 * limit5 && f5Written! >= r.f5!.workspaces,
  });
  out.push({
    row: '5',
    what: `--follow at a steady ${r.f?.targetRate ?? 500} events/s: produce → visible (f)`,
    limit: '–',
    target: 'p99 < 100 ms',
    measured: r.f ? `p99 ${fmt(r.f.latencyMs.p99)} ms, p50 ${fmt(r.f.latencyMs.p50)} ms at ${fmt(r.f.achievedRate, 0)} events/s (${r.f.lost} lost)` : NOT_MEASURED,
    met: r.f ? r.f.latencyMs.p99 < 100 && r.f.lost === 0 && r.f.targetRate >= 500 : undefined,
  });

  const aRate = r.a && a !== undefined ? r.a.messages / a : undefined;
  const f6 = r.f6 && !r.f6.run.timedOut ? sustainedRate(r.f6) : undefined;
  const f6Writes = r.f6 ? totalWrites(r.f6.writes.live) : undefined;
  const generations = r.f6?.metrics ? generationCount(r.f6.metrics) : undefined;
  out.push({
    row: '6',
    what: '--follow, updates that touch no generator input (f6)',
    limit: `a = ${aRate === undefined ? '–' : `${fmt(aRate, 0)} events/s`}`,
    target: '≥ 10,000 events/s; no write to workspace_agentk_states; no generation',
    measured:
      f6 === undefined
        ? NOT_MEASURED
        : `${fmt(f6, 0)} events/s${aRate === undefined ? '' : ` (${fmt(f6 / aRate, 2)}× a)`}; live rows written ${f6Writes}; ` +
          (generations === undefined ? `generations: not in /metrics${r.f6!.metricsError ? ` (${r.f6!.metricsError})` : ''}` : `generations ${generations.value} (${generations.source})`),
    met: f6 === undefined ? undefined : f6 >= 10_000 && f6Writes === 0 && (generations === undefined || generations.value === 0),
  });
  out.push(rssRow(r));
  for (const [mode, label] of [['d', 'Kafka'], ['e', 'snapshot']] as const) {
    const baseline = r.connect && r.connect.checksumMatches ? s(r.connect.wallMs) : undefined;
    const row = timeRow('8', `${label} rebuild into an empty table (${mode}) vs Kafka Connect + Debezium JDBC sink`, 'the sink\'s wall time', baseline, wall(r[mode]), 1.0);
    if (!r.connect) row.measured = 'not measured (no Kafka Connect run in this benchmark)';
    else if (!r.connect.checksumMatches) row.measured = "not measured: the sink's rows differ from (b)";
    out.push(row);
  }
  return out;
}

function writtenRow(row: string, result: RebuildResult | undefined): IssueRow {
  const written = result && !result.error ? rowsWritten(result) : undefined;
  return {
    row,
    what: 'rows written (PostgreSQL pg_stat_all_tables) per row that differs',
    limit: result?.differing === undefined ? 'rows that differ' : `${result.differing} rows differ`,
    target: '≤ 1.1×',
    measured:
      written === undefined
        ? NOT_MEASURED
        : `${fmt(written.ratio, 2)}× (live ${written.live}, shadow ${written.shadow} + ${written.shadowDeleted} deleted, undo log ${written.undo}; sum ${written.sum})`,
    met: written === undefined ? undefined : written.ratio <= 1.1,
  };
}

/**
 * Generations seen in the follower's /metrics: the series named after generation when the engine exports
 * one; else rows_total{result="unchanged"}, rows generated and found equal (a lower bound: a generation
 * whose row changed is a write); undefined when neither is there.
 */
function generationCount(metrics: Record<string, number>): { value: number; source: string } | undefined {
  const named = Object.entries(metrics).filter(([name]) => /generat/i.test(name.split('{')[0]!) && !/_created$|_sum$|_count$/.test(name.split('{')[0]!));
  if (named.length > 0) return { value: named.reduce((total, [, value]) => total + value, 0), source: named.map(([name]) => name).join(' + ') };
  const unchanged = metrics['rebuild_projection_rows_total{result="unchanged"}'];
  return unchanged === undefined ? undefined : { value: unchanged, source: 'at least: rows_total unchanged, generated and found equal' };
}

/** Row 7: every mode's peak RSS under the limit at N, and within 10% of the same mode at N/10. */
function rssRow(r: BenchResults): IssueRow {
  const parts: string[] = [];
  let met: boolean | undefined;
  const judge = (ok: boolean) => (met = (met ?? true) && ok);
  for (const mode of MODES) {
    const big = peakRssMb(r[mode]?.run);
    if (big === undefined) continue;
    judge(big < RSS_LIMIT_MB);
    const small = peakRssMb(r.small?.[mode]?.run);
    if (small === undefined) {
      parts.push(`${mode} ${fmt(big, 0)} MB`);
      continue;
    }
    const growth = big / small - 1;
    judge(Math.abs(growth) <= RSS_SPREAD);
    parts.push(`${mode} ${fmt(small, 0)} → ${fmt(big, 0)} MB (${growth >= 0 ? '+' : ''}${fmt(growth * 100, 0)}%)`);
  }
  return {
    row: '7',
    what: `peak RSS of every mode${r.small ? ` (N = ${r.small.n} → N = ${r.workload.n})` : ''}`,
    limit: '–',
    target: `< ${RSS_LIMIT_MB} MB at N, within ${RSS_SPREAD * 100}% of N/10`,
    measured: parts.length === 0 ? NOT_MEASURED : parts.join(', '),
    met,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------------------

const MiB = 1024 * 1024;

function fmt(value: number | undefined, digits = 1): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

interface Row {
  step: string;
  what: string;
  wallS: number | undefined;
  items: number | undefined;
  unit: string;
  mb: number | undefined;
  rssMb: number | undefined;
  cpu: string;
}

/** "own / PostgreSQL / Kafka / other (busy%)": own = the measured process; other = busy CPU nobody here used. */
function cpuCell(cpu: CpuUsage | undefined, run?: RebuilderRun): string {
  if (!cpu) return '';
  const rebuilder = run ? (run.userCpuS ?? 0) + (run.systemCpuS ?? 0) : 0;
  const own = run ? rebuilder : cpu.benchSeconds;
  const other = Math.max(0, cpu.machineBusySeconds - rebuilder - cpu.benchSeconds - cpu.postgresSeconds - cpu.kafkaSeconds);
  return `${fmt(own)} / ${fmt(cpu.postgresSeconds)} / ${fmt(cpu.kafkaSeconds)} / ${fmt(other)} (${fmt(cpu.machineBusy * 100, 0)}%)`;
}

const MODE_WHAT: Record<Mode, (r: BenchResults) => string> = {
  d: (r) => (r.kafkaMode === 'rebuild' ? 'rebuild from Kafka into an empty table (CLI default mode: shadow + switch)' : 'replay from Kafka (CLI --from-beginning)'),
  d2: (r) => `the same, over a table right except ${fmt(r.differShare * 100, 1)}% of its rows`,
  e: () => 'snapshot rebuild into an empty table (CLI --source snapshot: shadow + switch)',
  e2: (r) => `the same, over a table right except ${fmt(r.differShare * 100, 1)}% of its rows`,
  f: (r) => `--follow at ${r.f?.targetRate ?? '–'} events/s (desired_state flips; latency below)`,
  f5: () => '--follow through a backlog of config-changing events (sustained)',
  f6: () => '--follow through a backlog of events that touch no generator input (sustained)',
};

/** A CLI run's row in the results table; `n` and `workload` are of its size. */
function modeRow(r: BenchResults, mode: Mode, runs: ModeRuns, prefix: string, w: WorkloadFacts): Row | undefined {
  const result = runs[mode];
  if (result === undefined) return undefined;
  const step = `${prefix}${mode}`;
  const what = `${MODE_WHAT[mode](r)}${prefix ? `, N = ${w.n}` : ''}${failed(result as { error?: string })}`;
  const common = { step, rssMb: peakRssMb(result.run), cpu: cpuCell(result.run.cpu, result.run) };
  if (mode === 'f') {
    const f = result as FollowResult;
    return { ...common, what, wallS: s(f.run.wallMs), items: f.sent, unit: 'events', mb: undefined };
  }
  if (mode === 'f5' || mode === 'f6') {
    const f = result as FollowBacklogResult;
    return { ...common, what: `${what}; ${fmt(f.totalMs / 1000, 2)} s from spawn`, wallS: s(f.sustainedMs), items: f.sustainedEvents, unit: 'events', mb: undefined };
  }
  const rebuild = result as RebuildResult;
  const kafka = mode === 'd' || mode === 'd2';
  return {
    ...common,
    what,
    wallS: s(rebuild.run.wallMs),
    items: kafka ? w.events : w.n,
    unit: kafka ? 'events' : 'rows',
    mb: (kafka ? w.topicBytes : w.workspaceTableBytes) / MiB,
  };
}

function rows(r: BenchResults): Row[] {
  const out: Row[] = [];
  if (r.a) out.push({ step: 'a', what: 'Kafka consume + decode (kafkajs, in process)', wallS: s(r.a.elapsedMs), items: r.a.messages, unit: 'events', mb: r.a.bytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.a) });
  if (r.b) {
    const settings = Object.entries(r.b.sessionSettings).map(([k, v]) => `${k}=${v}`).join(', ') || 'server defaults';
    out.push({ step: 'b', what: `raw COPY of the final rows (PostgreSQL; ${settings})`, wallS: s(r.b.elapsedMs), items: r.b.rows, unit: 'rows', mb: r.b.bytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.b) });
  }
  if (r.c) out.push({ step: 'c', what: 'generation + JSON.stringify (in process, 1 thread)', wallS: s(r.c.elapsedMs), items: r.c.workspaces, unit: 'rows', mb: r.c.outputBytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.c) });
  for (const w of r.cWorkers ?? [])
    out.push({ step: `c/${w.workers}w`, what: `generation through the engine's worker pool, ${w.workers} worker${w.workers === 1 ? '' : 's'}`, wallS: s(w.elapsedMs), items: w.workspaces, unit: 'rows', mb: undefined, rssMb: undefined, cpu: '' });
  for (const mode of MODES) {
    const row = modeRow(r, mode, r, '', r.workload);
    if (row) out.push(row);
  }
  if (r.small) {
    for (const mode of MODES) {
      const row = modeRow(r, mode, r.small, 'g/', r.small.workload);
      if (row) out.push(row);
    }
  }
  return out;
}

function table(headers: string[], body: string[][]): string {
  const lines = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`];
  for (const row of body) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

export function resultsTable(r: BenchResults): string {
  return table(
    ['step', 'what', 'wall s', 'items', 'items/s', 'MB', 'MB/s', 'peak RSS MB', 'CPU s: own / PostgreSQL / Kafka / other (machine busy)'],
    rows(r).map((row) => [
      row.step,
      row.what,
      fmt(row.wallS, 2),
      `${fmt(row.items, 0)} ${row.unit}`,
      row.wallS ? fmt((row.items ?? 0) / row.wallS, 0) : '–',
      fmt(row.mb),
      row.wallS && row.mb !== undefined ? fmt(row.mb / row.wallS) : '–',
      fmt(row.rssMb, 0),
      row.cpu,
    ]),
  );
}

/** Issue 12's table; `emphasis` marks a missed target (Markdown bold, or capitals on the terminal). */
function issueTable(r: BenchResults, missed: string): string {
  const atTarget = r.workload.n === 100_000 && r.workload.k === 3;
  const caption = atTarget ? '' : `\n\nThe targets are for N = 100,000, K = 3; this run: N = ${r.workload.n}, K = ${r.workload.k}.`;
  return (
    table(
      ['#', 'what', 'limit (this run)', 'target', 'measured', 'met'],
      issueRows(r).map((row) => [row.row, row.what, row.limit, row.target, row.measured, row.met === undefined ? '–' : row.met ? 'yes' : missed]),
    ) + caption
  );
}

function backlogTable(r: BenchResults): string {
  const body: string[][] = [];
  for (const [label, f] of [['f5', r.f5], ['f6', r.f6], ['g/f5', r.small?.f5], ['g/f6', r.small?.f6]] as const) {
    if (!f) continue;
    const rows = Object.entries(f.metrics ?? {})
      .filter(([name]) => name.startsWith('rebuild_projection_rows_total'))
      .map(([name, value]) => `${/result="(\w+)"/.exec(name)?.[1] ?? name} ${fmt(value, 0)}`)
      .join(', ');
    const live = f.writes.live;
    body.push([
      label,
      f.kind,
      `${fmt(f.events, 0)}${f.leftOver > 0 ? ` (after ${fmt(f.leftOver, 0)} left over by an earlier step, applied untimed)` : ''}`,
      `${fmt(f.readyMs / 1000, 2)} s`,
      `${fmt(sustainedRate(f), 0)} (${fmt(f.sustainedEvents, 0)} in ${fmt(f.sustainedMs / 1000, 2)} s)`,
      fmt(f.events / (f.totalMs / 1000), 0),
      `${live.inserted} / ${live.updated} / ${live.deleted}`,
      f.metrics ? rows || '–' : `not read (${f.metricsError ?? '?'})`,
      fmt(f.restoreEvents, 0),
      fmt(peakRssMb(f.run), 0),
      cpuCell(f.run.cpu, f.run),
    ]);
  }
  return table(
    ['step', 'kind', 'events', 'spawn → first commit', 'sustained events/s', 'events/s from spawn', 'live ins / upd / del', '/metrics rows_total', 'restoring events', 'peak RSS MB', 'CPU s: rebuilder / PostgreSQL / Kafka / other (busy)'],
    body,
  );
}

function followTable(f: FollowResult): string {
  return table(
    ['rate (target / achieved)', 'events measured', 'lost', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'mean ms', 'peak RSS MB', 'CPU s: rebuilder / PostgreSQL / Kafka / other (busy)'],
    [
      [
        `${f.targetRate} / ${fmt(f.achievedRate, 0)} events/s`,
        fmt(f.measured, 0),
        fmt(f.lost, 0),
        fmt(f.latencyMs.p50),
        fmt(f.latencyMs.p90),
        fmt(f.latencyMs.p99),
        fmt(f.latencyMs.p999),
        fmt(f.latencyMs.max),
        fmt(f.latencyMs.mean),
        fmt(peakRssMb(f.run), 0),
        cpuCell(f.run.cpu, f.run),
      ],
    ],
  );
}

function verification(r: BenchResults): string[] {
  const lines: string[] = [];
  const reference = r.bSummary;
  if (reference) lines.push(`(b) the generator's rows, copied: ${reference.rows} rows, checksum ${reference.checksum}`);
  const check = (label: string, summary: ReadModelSummary, against: ReadModelSummary | undefined, name: string) => {
    const same = against ? (summary.checksum === against.checksum && summary.rows === against.rows ? ` = ${name}` : ` ≠ ${name}: the read model differs from the generator's rows`) : '';
    lines.push(`(${label}) read model: ${summary.rows} rows, ${summary.deadLetters} dead letters, checksum ${summary.checksum}${same}`);
  };
  for (const mode of MODES) {
    const summary = r[mode]?.summary;
    if (summary) check(mode, summary, reference, '(b)');
  }
  // The second size has no (b) of its own: its runs are compared with its (d).
  const smallReference = r.small?.d?.summary;
  for (const mode of MODES) {
    const summary = r.small?.[mode]?.summary;
    if (summary) check(`g/${mode}`, summary, mode === 'd' ? undefined : smallReference, '(g/d)');
  }
  if (r.connect) lines.push(`(8) Kafka Connect + JDBC sink: ${r.connect.rows} rows, checksum ${r.connect.checksum}${r.connect.checksumMatches ? ' = its input' : ' ≠ its input'}`);
  lines.push('The follow steps end with events that bring every workspace they touched back to its final state, so their tables must equal (b) too.');
  return lines;
}

export function renderMarkdown(r: BenchResults): string {
  const w = r.workload;
  const m = r.machine;
  const parts: string[] = [];
  parts.push(`# rebuild-projection benchmark (\`npm run bench\`)`);
  parts.push(
    `Run ${r.startedAt} → ${r.finishedAt} (${fmt(r.totalSeconds, 0)} s in total). Command: \`${r.command}\`. ` +
      `N = ${w.n.toLocaleString('en-US')} workspaces, K = ${w.k} updates each → ${w.events.toLocaleString('en-US')} events in ${w.partitions} partitions ` +
      `(${fmt(w.topicBytes / MiB)} MB of Avro); workspaces table ${fmt(w.workspaceTableBytes / MiB)} MB as COPY CSV; seed ${w.seed}.`,
  );
  parts.push(
    `Code measured: commit ${r.code.commit}` +
      (r.code.uncommittedFiles > 0 ? `, plus ${r.code.uncommittedFiles} uncommitted file(s) under src/, projections/, schemas/ (the CLI was frozen from dist/ at the start).` : '.'),
  );
  parts.push(`## Machine`);
  parts.push(
    [
      `- CPU: ${m.cpuModel}, ${m.cores} cores; memory ${m.memoryGiB} GiB; ${m.os}`,
      `- Node ${m.node}; ${m.postgres}; ${m.kafka}; ${m.java}`,
      `- PostgreSQL settings: ${Object.entries(m.postgresSettings).map(([k, v]) => `${k}=${v}`).join(', ')}`,
      `- Everything (Kafka broker, PostgreSQL, the rebuilder, the benchmark) shares these ${m.cores} cores.`,
    ].join('\n'),
  );
  parts.push(`## Results`);
  parts.push(resultsTable(r));
  parts.push(
    'items/s and MB/s are per wall second. MB: (a, d) key + value bytes of the topic; (b) the COPY CSV; (c) the serialized desired configs; ' +
      '(e) the workspaces rows as COPY CSV. (f5, f6): wall s and items are the sustained part (first commit → last), see the follow tables. ' +
      'CPU seconds over the step: own = the measured process (the benchmark for a–c, the rebuilder for the CLI runs: ' +
      'getrusage at its exit); PostgreSQL = all server processes; Kafka = the broker JVM; other = busy CPU of anything else on the machine ' +
      '(interference); machine busy = share of all cores busy.',
  );
  parts.push(`### Issue 12's targets (reported, not enforced)`);
  parts.push(issueTable(r, '**no**'));
  parts.push(
    [
      `- Limits are measured in this run: a = (a) kafkajs consume + decode, b = (b) raw COPY of the final rows with the rebuilder's session settings, c = (c) generation on one thread. Rows 1–4 divide the CLI's wall time (spawn to exit) by the limit.`,
      `- Rows 2 and 4: before the run, every ⌈1/${r.differShare}⌉-th workspace's live row lost the last object of its desired config; the rebuilder's own schema is kept, as after a deploy. ` +
        `Rows written are PostgreSQL's (pg_stat_all_tables deltas, read once every backend flushed): the ratio is the larger of the live table's inserts + updates + deletes and the shadow's inserts + updates, per differing row; ` +
        `the shadow's deletes (its rows removed after the switch), the undo log and their sum are given beside it (that sum cannot be below 2: a differing row goes into the shadow, then into the live table).`,
      `- Row 5: (f5) sustained events/s of a backlog (first commit → last, from the checkpoints) against the slower of b's and c's rows/s; (f) a steady rate, produce → visible (NOTIFY at commit).`,
      `- Row 6: (f6) the same for agent reports (actual_state, responded_to_agent_at, actual_state_updated_at, deployment_resource_version, updated_at: no generator input); "no write" is the live table's pg_stat delta over the backlog; "no generation" reads a generation counter in /metrics, else rows_total "unchanged" (generated and found equal).`,
      `- Row 7: ru_maxrss of the rebuilder (rss-probe.ts) in every mode, at N and at N/10 (g); f6 runs the same number of events at both sizes (a follower's heap grows with the length of its run until it levels off), f5 at most one per workspace.`,
      `- Row 8: the CLI's wall time against Kafka Connect 4.1 + Debezium JDBC sink 3.3.1.Final upserting the same final rows from a topic.`,
    ].join('\n'),
  );
  if (r.cWorkers && r.cWorkers.length > 0)
    parts.push(`(c) through the worker pool: ${r.cWorkers.map((w) => `${w.workers} worker(s) ${fmt(w.elapsedMs / 1000, 2)} s`).join(', ')}.`);
  else parts.push('(c) through the worker pool: not measured (skipped or failed).');
  if (r.f5 || r.f6 || r.small?.f5 || r.small?.f6) {
    parts.push(`### Follow mode throughput (f5, f6)`);
    parts.push(backlogTable(r));
  }
  if (r.f) {
    parts.push(`### Follow mode latency (f)`);
    parts.push(followTable(r.f));
    parts.push(
      `Method: ${r.f.method}. Produced for ${fmt(r.f.sent / r.f.achievedRate, 0)} s after a warm-up; the follower became ready (first event visible) ` +
        `${fmt(r.f.readyMs / 1000, 1)} s after it was started; ${r.f.skippedInFlight} turns skipped because the workspace still had an event in flight` +
        (r.f.leftOver > 0 ? `; ${r.f.leftOver} events left over by an earlier step were applied (untimed) first.` : '.'),
    );
  }
  const checks = verification(r);
  if (checks.length > 0) {
    parts.push(`### Same rows everywhere`);
    parts.push(checks.map((line) => `- ${line}`).join('\n'));
  }
  {
    parts.push(`### Details`);
    const details: string[] = [];
    if (r.a)
      details.push(
        `- (a) ${r.a.batches} batches; decoder time ${fmt(r.a.decodeMs / 1000, 2)} s of ${fmt(r.a.elapsedMs / 1000, 2)} s; streaming (first batch → last message) ${fmt(r.a.streamingMs / 1000, 2)} s; ${r.a.decodeFailures} decode failures.`,
      );
    if (r.c) details.push(`- (c) generateDesiredConfig ${fmt(r.c.generateMs / 1000, 2)} s + JSON.stringify ${fmt(r.c.stringifyMs / 1000, 2)} s (${fmt(r.c.elapsedMs / Math.max(1, r.c.workspaces), 3)} ms per workspace); ${r.c.failures} failures; average row ${fmt(r.c.outputBytes / Math.max(1, r.c.workspaces) / 1024)} KiB.`);
    const rebuilds = (['d', 'd2', 'e', 'e2'] as const).flatMap((mode) => [[mode, r[mode]], [`g/${mode}`, r.small?.[mode]]] as const);
    for (const [label, result] of rebuilds) {
      if (!result) continue;
      const phases = result.run.phases.map((p) => `${p.phase} ${fmt(p.durationMs / 1000, 1)} s`).join(', ');
      details.push(
        `- (${label}) CLI said: \`${result.run.stdout.trim().split('\n').pop() ?? ''}\`; phases seen in its progress lines (from spawn): ` +
          `start-up ${fmt((result.run.phases[0]?.startMs ?? 0) / 1000, 1)} s${phases ? `, ${phases}` : ''}; sampled VmHWM ${fmt(result.run.sampledHwmKb / 1024, 0)} MB.`,
      );
    }
    details.push(`- Loading: Kafka ${fmt(w.loadKafkaMs / 1000, 1)} s, PostgreSQL ${fmt(w.loadPostgresMs / 1000, 1)} s (not measured steps).`);
    parts.push(details.join('\n'));
  }
  if (r.profiles && r.profiles.length > 0) {
    parts.push(`## CPU profiles (node --cpu-prof of the CLI)`);
    for (const { label, summary } of r.profiles) {
      parts.push(`### ${label}`);
      parts.push(`Main thread busy ${fmt(summary.busyMs / 1000, 2)} s of ${fmt(summary.totalMs / 1000, 2)} s sampled.`);
      parts.push(table(['component', 'self s', 'share of busy'], summary.components.slice(0, 14).map((c) => [c.name, fmt(c.selfMs / 1000, 2), `${fmt(c.share * 100)}%`])));
      parts.push(table(['function', 'where', 'self s', 'share of busy'], summary.functions.map((f) => [`\`${f.name}\``, f.where, fmt(f.selfMs / 1000, 2), `${fmt(f.share * 100)}%`])));
    }
  }
  if (r.foreignActivity.length > 0) {
    parts.push(`## Other work on the machine during the run`);
    parts.push(
      'These processes shared the cores with the measurement (see the "other" CPU column), so the affected numbers are pessimistic:\n\n' +
        r.foreignActivity.map((line) => `- \`${line}\``).join('\n'),
    );
  }
  if (r.notes.length > 0) {
    parts.push(`## Notes`);
    parts.push(r.notes.map((note) => `- ${note}`).join('\n'));
  }
  return `${parts.join('\n\n')}\n`;
}

/** The short form for the terminal. */
export function renderSummary(r: BenchResults): string {
  const lines = [resultsTable(r)];
  if (r.f5 || r.f6 || r.small?.f5 || r.small?.f6) lines.push('', backlogTable(r));
  if (r.f) lines.push('', followTable(r.f));
  lines.push('', issueTable(r, 'NO'));
  const checks = verification(r);
  if (checks.length > 0) lines.push('', ...checks);
  return lines.join('\n');
}
