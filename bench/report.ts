/**
 * The benchmark's results: the data (one JSON document), the table printed to stdout, and the Markdown
 * written to bench/results/latest.md.
 */
import type { CpuUsage, MachineDescription } from './environment.js';
import type { ReadModelSummary } from './load-postgres.js';
import type { CopyResult } from './measure-copy.js';
import type { FollowResult } from './measure-follow.js';
import type { GenerateResult } from './measure-generate.js';
import type { KafkaDecodeResult } from './measure-kafka-decode.js';
import type { RebuildResult } from './measure-rebuild.js';
import type { ProfileSummary } from './profile.js';
import type { RebuilderRun } from './rebuilder-process.js';

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

export interface SizeRun {
  n: number;
  d?: RebuildResult;
  e?: RebuildResult;
}

export interface BenchResults {
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
  a?: KafkaDecodeResult;
  b?: CopyResult;
  /** The rows (b) copied, summarized like the read model: the reference for (d) and (e). */
  bSummary?: ReadModelSummary;
  c?: GenerateResult;
  d?: RebuildResult;
  e?: RebuildResult;
  f?: FollowResult;
  /** (g) the rebuilder at a second, smaller size (same seed: its workspaces are the first n/10 of the big run's). */
  small?: SizeRun & { workload: WorkloadFacts };
  /** CPU over the in-process steps (the rebuilder runs carry their own). */
  cpu: { a?: CpuUsage; b?: CpuUsage; c?: CpuUsage };
  profiles?: { label: string; summary: ProfileSummary }[];
  /** Other work seen on the machine during the run (it shares the cores with the measurement). */
  foreignActivity: string[];
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Derived numbers
// ---------------------------------------------------------------------------------------------------------

export interface Ratio {
  name: string;
  definition: string;
  value: number | undefined;
  numeratorS: number | undefined;
  denominatorS: number | undefined;
  target: number;
}

const s = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

export function ratios(r: BenchResults): Ratio[] {
  const a = s(r.a?.elapsedMs);
  const b = s(r.b?.elapsedMs);
  const c = s(r.c?.elapsedMs);
  const d = r.d?.error ? undefined : s(r.d?.run.wallMs);
  const e = r.e?.error ? undefined : s(r.e?.run.wallMs);
  const dDen = a !== undefined && b !== undefined && c !== undefined ? Math.max(a + c, b) : undefined;
  const eDen = b !== undefined && c !== undefined ? Math.max(c, b) : undefined;
  return [
    {
      name: 'd / max(a + c, b)',
      definition:
        "wall time of (d), the CLI's Kafka rebuild from spawn to exit, divided by the larger of: (a) kafkajs consume+decode of the same topic plus (c) in-process generation of the N final rows; or (b) the raw COPY of those rows",
      value: d !== undefined && dDen !== undefined ? d / dDen : undefined,
      numeratorS: d,
      denominatorS: dDen,
      target: 1.3,
    },
    {
      name: 'e / max(c, b)',
      definition: "wall time of (e), the CLI's snapshot backfill from spawn to exit, divided by the larger of (c) generation and (b) the raw COPY",
      value: e !== undefined && eDen !== undefined ? e / eDen : undefined,
      numeratorS: e,
      denominatorS: eDen,
      target: 1.3,
    },
  ];
}

export interface TargetCheck {
  target: string;
  value: string;
  met: boolean | undefined;
}

const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);
const peakRssMb = (run: RebuilderRun | undefined) => mb(run?.peakRssKb ?? (run?.sampledHwmKb || undefined));
const failed = (result: RebuildResult | undefined) => (result?.error ? ' — FAILED (see notes)' : '');

export function targetChecks(r: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const atTarget = r.workload.n === 100_000 && r.workload.k === 3;
  const scale = atTarget ? '' : ` (targets are for N = 100,000, K = 3; this run: N = ${r.workload.n}, K = ${r.workload.k})`;
  for (const ratio of ratios(r)) {
    checks.push({
      target: `${ratio.name} ≤ ${ratio.target}${scale}`,
      value: ratio.value === undefined ? 'not measured (skipped or failed)' : `${ratio.value.toFixed(2)} (${ratio.numeratorS!.toFixed(1)} s / ${ratio.denominatorS!.toFixed(1)} s)`,
      met: ratio.value === undefined ? undefined : ratio.value <= ratio.target,
    });
  }
  if (r.f) {
    checks.push({
      target: `follow p99 < 100 ms at ${r.f.targetRate} events/s`,
      value: `p99 ${r.f.latencyMs.p99.toFixed(1)} ms at ${r.f.achievedRate.toFixed(0)} events/s (${r.f.lost} lost)`,
      met: r.f.latencyMs.p99 < 100 && r.f.lost === 0,
    });
  } else checks.push({ target: 'follow p99 < 100 ms at 1,000 events/s', value: 'not measured', met: undefined });
  const rssRuns: [string, RebuilderRun | undefined][] = [
    [`d${r.d?.error ? ' (failed run)' : ''}`, r.d?.run],
    [`e${r.e?.error ? ' (failed run)' : ''}`, r.e?.run],
    ['f', r.f?.run],
    [`d (N = ${r.small?.n})`, r.small?.d?.run],
    [`e (N = ${r.small?.n})`, r.small?.e?.run],
  ];
  const measured = rssRuns.filter(([, run]) => peakRssMb(run) !== undefined);
  if (measured.length > 0) {
    const worst = Math.max(...measured.map(([, run]) => peakRssMb(run)!));
    checks.push({
      target: 'peak RSS < 300 MB (every rebuilder run)',
      value: measured.map(([label, run]) => `${label} ${peakRssMb(run)!.toFixed(0)} MB`).join(', '),
      met: worst < 300,
    });
  }
  for (const mode of ['d', 'e'] as const) {
    if (r[mode]?.error) continue;
    const big = peakRssMb(r[mode]?.run);
    const small = peakRssMb(r.small?.[mode]?.run);
    if (big === undefined || small === undefined) continue;
    const growth = big / small - 1;
    checks.push({
      target: `peak RSS of (${mode}) within 10% between N = ${r.small!.n} and N = ${r.workload.n}`,
      value: `${small.toFixed(0)} MB → ${big.toFixed(0)} MB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%)`,
      met: Math.abs(growth) <= 0.1,
    });
  }
  return checks;
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

function rows(r: BenchResults): Row[] {
  const w = r.workload;
  const out: Row[] = [];
  if (r.a) out.push({ step: 'a', what: 'Kafka consume + decode (kafkajs, in process)', wallS: s(r.a.elapsedMs), items: r.a.messages, unit: 'events', mb: r.a.bytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.a) });
  if (r.b) out.push({ step: 'b', what: 'raw COPY of the final rows (PostgreSQL)', wallS: s(r.b.elapsedMs), items: r.b.rows, unit: 'rows', mb: r.b.bytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.b) });
  if (r.c) out.push({ step: 'c', what: 'generation + JSON.stringify (in process, 1 thread)', wallS: s(r.c.elapsedMs), items: r.c.workspaces, unit: 'rows', mb: r.c.outputBytes / MiB, rssMb: undefined, cpu: cpuCell(r.cpu.c) });
  if (r.d) out.push({ step: 'd', what: (r.kafkaMode === 'rebuild' ? 'rebuild from Kafka (CLI default mode: shadow + switch)' : 'replay from Kafka (CLI --from-beginning)') + failed(r.d), wallS: s(r.d.run.wallMs), items: w.events, unit: 'events', mb: w.topicBytes / MiB, rssMb: peakRssMb(r.d.run), cpu: cpuCell(r.d.run.cpu, r.d.run) });
  if (r.e) out.push({ step: 'e', what: `snapshot rebuild (CLI --source snapshot: shadow + switch)${failed(r.e)}`, wallS: s(r.e.run.wallMs), items: w.n, unit: 'rows', mb: w.workspaceTableBytes / MiB, rssMb: peakRssMb(r.e.run), cpu: cpuCell(r.e.run.cpu, r.e.run) });
  if (r.small?.d)
    out.push({ step: 'g/d', what: `rebuild from Kafka, N = ${r.small.n} (CLI)${failed(r.small.d)}`, wallS: s(r.small.d.run.wallMs), items: r.small.workload.events, unit: 'events', mb: r.small.workload.topicBytes / MiB, rssMb: peakRssMb(r.small.d.run), cpu: cpuCell(r.small.d.run.cpu, r.small.d.run) });
  if (r.small?.e)
    out.push({ step: 'g/e', what: `snapshot rebuild, N = ${r.small.n} (CLI)${failed(r.small.e)}`, wallS: s(r.small.e.run.wallMs), items: r.small.n, unit: 'rows', mb: r.small.workload.workspaceTableBytes / MiB, rssMb: peakRssMb(r.small.e.run), cpu: cpuCell(r.small.e.run.cpu, r.small.e.run) });
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

function ratioTable(r: BenchResults): string {
  return table(
    ['ratio', 'value', 'numerator', 'denominator', 'target'],
    ratios(r).map((ratio) => [ratio.name, fmt(ratio.value, 2), `${fmt(ratio.numeratorS, 2)} s`, `${fmt(ratio.denominatorS, 2)} s`, `≤ ${ratio.target}`]),
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
  for (const [label, result] of [['d', r.d], ['e', r.e]] as const) {
    if (!result?.summary) continue;
    const same = reference ? (result.summary.checksum === reference.checksum && result.summary.rows === reference.rows ? ' = (b)' : ' ≠ (b): the read model differs from the generator\'s rows') : '';
    lines.push(`(${label}) read model: ${result.summary.rows} rows, ${result.summary.deadLetters} dead letters, checksum ${result.summary.checksum}${same}`);
  }
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
      '(e) the workspaces rows as COPY CSV. CPU seconds over the step: own = the measured process (the benchmark for a–c, the rebuilder for d, e, g: ' +
      'getrusage at its exit); PostgreSQL = all server processes; Kafka = the broker JVM; other = busy CPU of anything else on the machine ' +
      '(interference); machine busy = share of all cores busy.',
  );
  parts.push(`### Ratios (time ratios)`);
  parts.push(ratioTable(r));
  for (const ratio of ratios(r)) parts.push(`- **${ratio.name}**: ${ratio.definition}.`);
  if (r.f) {
    parts.push(`### Follow mode latency (f)`);
    parts.push(followTable(r.f));
    parts.push(
      `Method: ${r.f.method}. Produced for ${fmt(r.f.sent / r.f.achievedRate, 0)} s after a warm-up; the follower became ready (first event visible) ` +
        `${fmt(r.f.readyMs / 1000, 1)} s after it was started; ${r.f.skippedInFlight} turns skipped because the workspace still had an event in flight.`,
    );
  }
  parts.push(`### Targets (reported, not enforced)`);
  parts.push(table(['target', 'measured', 'met'], targetChecks(r).map((c) => [c.target, c.value, c.met === undefined ? '–' : c.met ? 'yes' : '**no**'])));
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
    for (const [label, result] of [['d', r.d], ['e', r.e], ['g/d', r.small?.d], ['g/e', r.small?.e]] as const) {
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
  const lines = [resultsTable(r), '', ratioTable(r)];
  if (r.f) lines.push('', followTable(r.f));
  lines.push('', table(['target', 'measured', 'met'], targetChecks(r).map((c) => [c.target, c.value, c.met === undefined ? '–' : c.met ? 'yes' : 'NO'])));
  const checks = verification(r);
  if (checks.length > 0) lines.push('', ...checks);
  return lines.join('\n');
}
