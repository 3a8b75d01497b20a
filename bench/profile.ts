/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per component
 * (our generator, our engine, zod, kafkajs, pg, js-yaml, avsc, Node internals, GC, idle).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './environment.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Everything but (idle): time the main thread was busy. */
  busyMs: number;
  functions: ProfileEntry[];
  components: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const withoutScheme = url.replace(/^file:\/\//, '');
  const relative = withoutScheme.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, withoutScheme) : withoutScheme;
  // The CLI runs from dist/ or from the copy the benchmark froze under .cache/ (cli-invocation.ts).
  return relative.replace(/^node_modules\//, '').replace(/^\.cache\/bench-cli-[^/]+\//, 'dist/');
}

function component(name: string, url: string): string {
  if (name === '(idle)') return '(idle)';
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)' || name === '(root)') return '(program: native, not attributed)';
  const u = shortUrl(url);
  if (u.startsWith('dist/projections/agentk-states/fold')) return 'projection fold';
  if (u.startsWith('dist/projections/')) return 'generator (projections/agentk-states)';
  if (u.startsWith('dist/src/events/')) return 'event decoding (src/events)';
  if (u.startsWith('dist/src/sink/')) return 'sink (src/sink)';
  if (u.startsWith('dist/src/engine/')) return 'engine (src/engine)';
  if (u.startsWith('dist/src/')) return 'other src';
  const pkg = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(u)?.[1];
  if (pkg && !u.startsWith('node:') && !u.startsWith('/')) return pkg;
  if (u.startsWith('node:')) return 'node internals';
  return u === '' ? 'native / builtins' : u;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const functions = new Map<string, ProfileEntry>();
  const components = new Map<string, ProfileEntry>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    totalUs += us;
    if (name === '(idle)') idleUs += us;
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, selfMs: 0, share: 0 };
    entry.selfMs += us / 1000;
    functions.set(key, entry);
    const group = component(name, url);
    const c = components.get(group) ?? { name: group, where: '', selfMs: 0, share: 0 };
    c.selfMs += us / 1000;
    components.set(group, c);
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const ranked = (entries: Iterable<ProfileEntry>) =>
    [...entries]
      .filter((e) => e.name !== '(idle)')
      .map((e) => ({ ...e, share: busyMs > 0 ? e.selfMs / busyMs : 0 }))
      .sort((a, b) => b.selfMs - a.selfMs);
  return {
    file,
    totalMs: totalUs / 1000,
    busyMs,
    functions: ranked(functions.values()).slice(0, top),
    components: ranked(components.values()),
  };
}
