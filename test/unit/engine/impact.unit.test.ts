import { describe, expect, it } from 'vitest';
import { classifyWorkspace, summarizeRow, type WorkspaceImpact } from '../../../src/engine/impact/classify.js';
import { withPaths } from '../../../src/engine/impact/compute-impact.js';
import { ImpactAccumulator, ImpactFingerprint, rowDigest, type DigestedRow, type RowPair } from '../../../src/engine/impact/impact.js';
import { checkSwitchGuard, SwitchRefusedError } from '../../../src/engine/rebuild.js';
import { gitlabBackfillGolden } from '../../support/golden.js';

type K8sObject = { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: any };

/** GitLab's backfill golden for workspace `id`, as a mutable array of objects. */
function golden(id: number, replicas: 0 | 1 = 1): K8sObject[] {
  return gitlabBackfillGolden({ name: `workspace-${id}`, namespace: `ns-${id}`, id, replicas }) as K8sObject[];
}

const deployment = (config: K8sObject[]) => config.find((o) => o.kind === 'Deployment')!;
const summary = (config: unknown, projectId = 7) => summarizeRow(projectId, config);
const classify = (live: unknown, shadow: unknown, projectIds: [number, number] = [7, 7]) =>
  classifyWorkspace(1, live === null ? null : summary(live, projectIds[0]), shadow === null ? null : summary(shadow, projectIds[1]));
const digested = (config: unknown, projectId = 7): DigestedRow => ({ ...summarizeRow(projectId, config), digest: rowDigest(projectId, config) });
const pair = (workspaceId: number, live: unknown, shadow: unknown): RowPair => ({
  workspaceId,
  live: live === null ? null : digested(live),
  shadow: shadow === null ? null : digested(shadow),
});

describe('classifyWorkspace (what a switch does to one workspace pod)', () => {
  it('finds nothing between equal rows, whatever the key order of their objects', () => {
    const reversedKeys = golden(1).map((o) => Object.fromEntries(Object.entries(o).reverse()));
    expect(classify(golden(1), reversedKeys)).toBeUndefined();
  });

  it('reports a changed container image as a restart of a running workspace, naming only its Deployment', () => {
    const shadow = golden(1);
    deployment(shadow).spec.template.spec.containers[0].image = 'ubuntu:24.04';
    expect(classify(golden(1), shadow)).toEqual({
      workspaceId: 1,
      change: 'restart',
      running: true,
      objects: [
        { kind: 'Deployment', namespace: 'ns-1', name: 'workspace-1', change: 'changed', effect: 'restart', replicas: { from: 1, to: 1 }, templateChanged: true },
      ],
    });
  });

  it('reports a pod template change of a stopped workspace as a restart that is not running', () => {
    const shadow = golden(1, 0);
    deployment(shadow).spec.template.metadata.annotations = { x: 'y' };
    expect(classify(golden(1, 0), shadow)).toMatchObject({ change: 'restart', running: false });
  });

  it('reports a replica-only change as a stop (1 → 0) or a start (0 → 1)', () => {
    expect(classify(golden(1, 1), golden(1, 0))).toEqual({
      workspaceId: 1,
      change: 'stop',
      running: false,
      objects: [{ kind: 'Deployment', namespace: 'ns-1', name: 'workspace-1', change: 'changed', effect: 'stop', replicas: { from: 1, to: 0 }, templateChanged: false }],
    });
    expect(classify(golden(1, 0), golden(1, 1))).toMatchObject({ change: 'start', running: false, objects: [{ effect: 'start', replicas: { from: 0, to: 1 } }] });
  });

  it('calls a stop a stop even when the pod template changes too, and says the template changed', () => {
    const shadow = golden(1, 0);
    deployment(shadow).spec.template.spec.containers[0].image = 'ubuntu:24.04';
    expect(classify(golden(1, 1), shadow)).toMatchObject({ change: 'stop', running: false, objects: [{ effect: 'stop', templateChanged: true }] });
  });

  it('treats a Deployment without spec.replicas as running one replica (the Kubernetes default)', () => {
    const live = golden(1);
    delete deployment(live).spec.replicas;
    expect(classify(live, golden(1, 0))).toMatchObject({ change: 'stop', objects: [{ replicas: { from: 1, to: 0 } }] });
    expect(classify(live, golden(1, 1))).toMatchObject({ change: 'none', running: false });
  });

  it('has no effect on the pod for Deployment labels and annotations outside the pod template, and other spec fields', () => {
    const shadow = golden(1);
    deployment(shadow).metadata.labels!['team'] = 'a';
    deployment(shadow).metadata.annotations!['note'] = 'b';
    deployment(shadow).spec.strategy = { type: 'Recreate' };
    expect(classify(golden(1), shadow)).toEqual({
      workspaceId: 1,
      change: 'none',
      running: false,
      objects: [{ kind: 'Deployment', namespace: 'ns-1', name: 'workspace-1', change: 'changed', effect: 'none', replicas: { from: 1, to: 1 }, templateChanged: false }],
    });
  });

  it('has no effect on the pod for other objects added, removed or changed', () => {
    const shadow = golden(1).filter((o) => o.kind !== 'NetworkPolicy');
    shadow.find((o) => o.metadata.name === 'workspace-1-scripts-configmap')!.data['gl-init-tools-command'] = 'true';
    shadow.push({ kind: 'ResourceQuota', metadata: { name: 'workspace-1' }, spec: { hard: { 'limits.cpu': '2' } } });
    (shadow.at(-1)!.metadata as { namespace?: string }).namespace = 'ns-1';
    const impact = classify(golden(1), shadow)!;
    expect(impact.change).toBe('none');
    expect(impact.objects.map((o) => [`${o.kind} ${o.namespace}/${o.name}`, o.change, o.effect])).toEqual([
      ['ConfigMap ns-1/workspace-1-scripts-configmap', 'changed', 'none'],
      ['ResourceQuota ns-1/workspace-1', 'added', 'none'],
      ['NetworkPolicy ns-1/workspace-1', 'removed', 'none'],
    ]);
  });

  it('takes the strongest effect of a workspace: a restart outweighs a ConfigMap change', () => {
    const shadow = golden(1);
    deployment(shadow).spec.template.spec.containers[0].image = 'ubuntu:24.04';
    shadow[0]!.metadata.labels!['x'] = 'y';
    expect(classify(golden(1), shadow)).toMatchObject({ change: 'restart', running: true, objects: [{ kind: 'ConfigMap' }, { kind: 'Deployment' }] });
  });

  it('makes a row inserted or deleted whole its own kind: new or removed', () => {
    expect(classify(null, golden(1))).toMatchObject({ change: 'new', running: false });
    expect(classify(null, golden(1))!.objects).toHaveLength(10);
    expect(classify(golden(1), null)).toMatchObject({ change: 'removed', running: false });
  });

  it('reports a project_id change and an object order change as no effect, saying what changed', () => {
    expect(classify(golden(1), golden(1), [7, 8])).toEqual({ workspaceId: 1, change: 'none', running: false, objects: [], projectId: { from: 7, to: 8 } });
    const reordered = golden(1);
    reordered.push(reordered.shift()!);
    expect(classify(golden(1), reordered)).toEqual({ workspaceId: 1, change: 'none', running: false, objects: [], reordered: true });
  });

  it('keeps every object of a row that is not a GitLab desired config (e.g. the backfill error row)', () => {
    const errorRow = [{ message: 'failed', error_message: 'boom', backtrace: [] }];
    expect(classify(errorRow, golden(1))).toMatchObject({ change: 'start', objects: expect.arrayContaining([expect.objectContaining({ kind: '', change: 'removed' })]) });
  });

  it('names the JSON paths that differ in each changed object, from the rows themselves', () => {
    const live = golden(1);
    const shadow = golden(1, 0);
    const impact = classify(live, shadow)!;
    expect(withPaths(impact, { projectId: 7, desiredConfig: live }, { projectId: 7, desiredConfig: shadow }, 5).objects).toEqual([
      expect.objectContaining({ kind: 'Deployment', paths: ['spec.replicas'], pathsTotal: 1 }),
    ]);
  });
});

describe('the fingerprint of a switch diff', () => {
  const stopped = () => golden(2, 0);
  const restarted = () => {
    const config = golden(3);
    deployment(config).spec.template.spec.containers[0].image = 'ubuntu:24.04';
    return config;
  };
  const fingerprintOf = (pairs: RowPair[]) => {
    const acc = new ImpactAccumulator();
    for (const p of pairs) acc.add(p);
    return acc.result().fingerprint;
  };
  const diff = () => [pair(2, golden(2), stopped()), pair(3, golden(3), restarted()), pair(4, null, golden(4))];

  it('is stable for identical diffs, whatever the key order of the stored JSON', () => {
    const reordered = diff().map((p) => ({ ...p }));
    reordered[1] = pair(3, golden(3), restarted().map((o) => Object.fromEntries(Object.entries(o).reverse())));
    expect(fingerprintOf(diff())).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprintOf(reordered)).toBe(fingerprintOf(diff()));
  });

  it('changes when the shadow side, the live side or the set of workspaces changes', () => {
    const base = fingerprintOf(diff());
    const shadowMoved = diff();
    shadowMoved[0] = pair(2, golden(2), golden(2, 1).map((o) => (o.kind === 'Service' ? { ...o, spec: {} } : o)));
    const liveMoved = diff();
    liveMoved[1] = pair(3, golden(3, 0), restarted());
    const another = [...diff(), pair(5, golden(5), null)];
    const fewer = diff().slice(1);
    for (const other of [shadowMoved, liveMoved, another, fewer]) expect(fingerprintOf(other)).not.toBe(base);
  });

  it('tells a row deleted from a row inserted (the sides are part of it)', () => {
    expect(fingerprintOf([pair(4, null, golden(4))])).not.toBe(fingerprintOf([pair(4, golden(4), null)]));
  });

  it('takes the workspaces in ascending id order only', () => {
    const fingerprint = new ImpactFingerprint();
    fingerprint.add(5, 'a', 'b');
    expect(() => fingerprint.add(5, 'a', 'c')).toThrowError(/ascending id order/);
    expect(() => fingerprint.add(4, 'a', 'c')).toThrowError(/ascending id order/);
  });
});

describe('ImpactAccumulator (counts, sample, guards)', () => {
  function impactOf(n: number, sampleSize = 20) {
    const acc = new ImpactAccumulator(sampleSize);
    let id = 0;
    const restart = (replicas: 0 | 1) => {
      const config = golden(++id, replicas);
      const shadow = golden(id, replicas);
      deployment(shadow).spec.template.spec.containers[0].image = 'ubuntu:24.04';
      acc.add(pair(id, config, shadow));
    };
    acc.add(pair(++id, golden(id), golden(id)));
    for (let i = 0; i < n; i++) restart(1);
    restart(0);
    acc.add(pair(++id, golden(id, 0), golden(id, 1)));
    acc.add(pair(++id, golden(id, 1), golden(id, 0)));
    acc.add(pair(++id, null, golden(id)));
    acc.add(pair(++id, golden(id), null));
    const labelled = golden(++id);
    labelled[0]!.metadata.labels!['x'] = 'y';
    acc.add(pair(id, golden(id), labelled));
    acc.keep(4);
    return acc.result();
  }

  it('counts each kind of change, ignores equal rows, and keeps the kept rows apart', () => {
    expect(impactOf(3).counts).toEqual({ workspaces: 9, restart: 4, restartRunning: 3, start: 1, stop: 1, none: 1, new: 1, removed: 1 });
    expect(impactOf(3).kept).toBe(4);
  });

  it('shows the most disruptive first: running restarts, restarts, stops, starts, removed, new, no effect; bounded', () => {
    const kinds = (sample: WorkspaceImpact[]) => sample.map((w) => (w.running ? 'restart-running' : w.change));
    expect(kinds(impactOf(2).sample)).toEqual(['restart-running', 'restart-running', 'restart', 'stop', 'start', 'removed', 'new', 'none']);
    expect(kinds(impactOf(30, 20).sample)).toEqual(Array(20).fill('restart-running'));
    expect(impactOf(30, 20).sample.map((w) => w.workspaceId)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  });

  it('lets a switch through only with the previewed fingerprint and at most --max-restarts running restarts', () => {
    const impact = impactOf(3);
    expect(() => checkSwitchGuard({ id: 9 }, impact, { fingerprint: impact.fingerprint, maxRestarts: 3 })).not.toThrow();
    expect(() => checkSwitchGuard({ id: 9 }, impact, { fingerprint: '0'.repeat(64) })).toThrowError(SwitchRefusedError);
    expect(() => checkSwitchGuard({ id: 9 }, impact, { fingerprint: '0'.repeat(64) })).toThrowError(
      `rebuild #9: the diff is not the one previewed (its fingerprint is now ${impact.fingerprint}, not ${'0'.repeat(64)})`,
    );
    expect(() => checkSwitchGuard({ id: 9 }, impact, { maxRestarts: 2 })).toThrowError(
      `rebuild #9: 3 running workspaces would restart, more than --max-restarts 2 (2, 3, 4). Nothing was switched; the shadow is kept: ` +
        `inspect it with --preview, then switch it with --switch --fingerprint ${impact.fingerprint}`,
    );
  });
});
