/** GitLab's checks of a finished array (spec §9), with the spec's messages. */
import { Buffer } from 'node:buffer';

import { describe, expect, it } from 'vitest';

import { validateDesiredConfig } from '../../../projections/agentk-states/validate.js';

function object(kind: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind, metadata: { name, namespace: 'ns' }, ...extra };
}

describe('validateDesiredConfig (§9)', () => {
  it('rule 1: "must be an array" and "must not be empty"', () => {
    expect(validateDesiredConfig({})).toEqual(['must be an array']);
    expect(validateDesiredConfig(null)).toEqual(['must be an array']);
    expect(validateDesiredConfig([])).toEqual(['must not be empty']);
  });

  it('accepts the §4 order with optional objects missing', () => {
    expect(
      validateDesiredConfig([
        object('ConfigMap', 'w-workspace-inventory'),
        object('Deployment', 'w'),
        object('Service', 'w'),
        object('ServiceAccount', 'w'),
        object('ConfigMap', 'w-secrets-inventory'),
        object('Secret', 'w-env-var'),
        object('Secret', 'w-file'),
      ]),
    ).toEqual([]);
  });

  it('rule 3: "item Kind/name at index i must be at j" for misplaced items', () => {
    expect(validateDesiredConfig([object('Secret', 'w-file'), object('ConfigMap', 'w-workspace-inventory')])).toEqual([
      'item Secret/w-file at index 0 must be at 1',
      'item ConfigMap/w-workspace-inventory at index 1 must be at 0',
    ]);
  });

  it('rule 3: "item Kind/name at index i is unexpected" for items no pattern matches', () => {
    const errors = validateDesiredConfig([object('ConfigMap', 'w-workspace-inventory'), object('ConfigMap', 'w-other')]);
    expect(errors).toContain('item ConfigMap/w-other at index 1 is unexpected');
    const ingress = validateDesiredConfig([object('ConfigMap', 'w-workspace-inventory'), object('Ingress', 'w')]);
    expect(ingress).toContain('item Ingress/w at index 1 is unexpected');
  });

  it('rule 2: at most 65,536 bytes of compact JSON, else "is too large. Maximum size allowed is 64 KB"', () => {
    const sized = (bytes: number): unknown[] => {
      const items = [object('ConfigMap', 'w-workspace-inventory', { data: { pad: '' } })];
      const overhead = Buffer.byteLength(JSON.stringify(items), 'utf8');
      return [object('ConfigMap', 'w-workspace-inventory', { data: { pad: 'x'.repeat(bytes - overhead) } })];
    };
    const atLimit = sized(65_536);
    expect(Buffer.byteLength(JSON.stringify(atLimit), 'utf8')).toBe(65_536);
    expect(validateDesiredConfig(atLimit)).toEqual([]);
    expect(validateDesiredConfig(sized(65_537))).toEqual(['is too large. Maximum size allowed is 64 KB']);
    // Bytes, not characters: 32,769 two-byte characters are over the limit.
    const wide = [object('ConfigMap', 'w-workspace-inventory', { data: { pad: 'é'.repeat(32_769) } })];
    expect(validateDesiredConfig(wide)).toEqual(['is too large. Maximum size allowed is 64 KB']);
  });

  it('never throws on values that are not JSON, and reports them', () => {
    const cyclic: Record<string, unknown> = object('ConfigMap', 'w-workspace-inventory');
    cyclic['self'] = cyclic;
    expect(validateDesiredConfig([cyclic])).toContain('must be serializable as JSON');
    expect(validateDesiredConfig([1n])).toContain('must be serializable as JSON');
    expect(validateDesiredConfig(['text', 3, null]).length).toBeGreaterThan(0);
  });

  it('rule 4: flags items without the shape of a Kubernetes object', () => {
    expect(validateDesiredConfig([{ kind: 'ConfigMap', metadata: { name: 'w-workspace-inventory' } }])).toEqual([
      'item at index 0 must have a string apiVersion',
      'item at index 0 must have a metadata.namespace',
    ]);
  });
});
