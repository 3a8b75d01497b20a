/**
 * validateDesiredConfig (spec §9), on GitLab's backfill golden and edits of it. Messages are matched by the
 * spec's text; a prefix (such as a field name) is allowed.
 */
import { describe, expect, test } from 'vitest';

import type { JsonObject, KubernetesObject } from '../../../projections/agentk-states/inputs.js';
import { validateDesiredConfig } from '../../../projections/agentk-states/validate.js';
import { backfillGolden } from './fixtures.js';

function golden(): KubernetesObject[] {
  return backfillGolden({ workspaceId: 2, workspaceName: 'workspace-2', workspaceNamespace: 'workspace_2_namespace', replicas: 1 });
}

/**
 * The golden with a `pad` entry in the scripts ConfigMap making its compact JSON exactly `bytes` long
 * (`padChar` repeated, topped up with ASCII `x` when its UTF-8 width does not divide the gap).
 */
function goldenOfSize(bytes: number, padChar = 'x'): KubernetesObject[] {
  const objects = golden();
  const scripts = objects[6];
  if (scripts?.['kind'] !== 'ConfigMap') throw new Error('golden layout changed');
  const data = scripts['data'] as JsonObject;
  data['pad'] = '';
  const gap = bytes - Buffer.byteLength(JSON.stringify(objects), 'utf8');
  const width = Buffer.byteLength(padChar, 'utf8');
  data['pad'] = padChar.repeat(Math.floor(gap / width)) + 'x'.repeat(gap % width);
  expect(Buffer.byteLength(JSON.stringify(objects), 'utf8')).toBe(bytes);
  return objects;
}

describe('rule 1: a non-empty array', () => {
  test.each([
    ['an object', { kind: 'ConfigMap' }],
    ['null', null],
    ['a string', '[]'],
  ])('%s is reported as "must be an array"', (_label, value) => {
    expect(validateDesiredConfig(value)).toEqual([expect.stringContaining('must be an array')]);
  });

  test('an empty array is reported as "must not be empty"', () => {
    expect(validateDesiredConfig([])).toEqual([expect.stringContaining('must not be empty')]);
  });
});

describe('rule 2: at most 65,536 bytes of compact JSON', () => {
  test('exactly 65,536 bytes is valid', () => {
    expect(validateDesiredConfig(goldenOfSize(65_536))).toEqual([]);
  });

  test('65,537 bytes is reported as too large', () => {
    expect(validateDesiredConfig(goldenOfSize(65_537))).toEqual([
      expect.stringContaining('is too large. Maximum size allowed is 64 KB'),
    ]);
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    const objects = goldenOfSize(65_537, 'é');
    expect(JSON.stringify(objects).length).toBeLessThan(65_536);

    expect(validateDesiredConfig(objects)).toEqual([
      expect.stringContaining('is too large. Maximum size allowed is 64 KB'),
    ]);
  });
});

describe('rule 3: order', () => {
  test("GitLab's backfill golden is valid", () => {
    expect(validateDesiredConfig(golden())).toEqual([]);
  });

  test('optional objects may be missing', () => {
    const objects = golden().filter((o) => o['kind'] !== 'NetworkPolicy' && o['kind'] !== 'PersistentVolumeClaim');

    expect(validateDesiredConfig(objects)).toEqual([]);
  });

  test('an item no pattern matches is reported as unexpected, with its index', () => {
    const objects = golden();
    objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'workspace-2-other', namespace: 'workspace_2_namespace' } });

    expect(validateDesiredConfig(objects)).toEqual([
      expect.stringContaining('item ConfigMap/workspace-2-other at index 10 is unexpected'),
    ]);
  });

  test('an item of a kind GitLab never generates is reported as unexpected', () => {
    const objects = golden();
    objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'workspace-2' } });

    expect(validateDesiredConfig(objects)).toContainEqual(
      expect.stringContaining('item Ingress/workspace-2 at index 10 is unexpected'),
    );
  });

  test('items out of order are reported with their index and expected position', () => {
    const objects = golden();
    const [deployment, service] = [objects[1], objects[2]];
    if (deployment === undefined || service === undefined) throw new Error('golden layout changed');
    objects[1] = service;
    objects[2] = deployment;

    expect(validateDesiredConfig(objects)).toEqual([
      expect.stringContaining('item Service/workspace-2 at index 1 must be at 2'),
      expect.stringContaining('item Deployment/workspace-2 at index 2 must be at 1'),
    ]);
  });

  test('a secrets inventory placed before the scripts ConfigMap is reported out of order', () => {
    const objects = golden();
    const [scripts, secretsInventory] = [objects[6], objects[7]];
    if (scripts === undefined || secretsInventory === undefined) throw new Error('golden layout changed');
    objects[6] = secretsInventory;
    objects[7] = scripts;

    expect(validateDesiredConfig(objects)).toEqual([
      expect.stringContaining('item ConfigMap/workspace-2-secrets-inventory at index 6 must be at 7'),
      expect.stringContaining('item ConfigMap/workspace-2-scripts-configmap at index 7 must be at 6'),
    ]);
  });
});
