/**
 * Weird input must only ever produce a DesiredConfigError (or a valid array), never a stray TypeError.
 * A systematic sweep: every value position of a real devfile replaced by every JSON type, plus odd
 * agent-config values.
 */
import { dump, load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

import { DesiredConfigError } from '../../../projections/agentk-states/errors.js';
import type { JsonValue } from '../../../projections/agentk-states/inputs.js';
import { validateDesiredConfig } from '../../../projections/agentk-states/validate.js';
import { readGitlabFixture } from './fixtures.js';
import { generate, minimalDevfileLines, yaml, type AgentConfigOverrides } from './helpers.js';

const REPLACEMENTS: JsonValue[] = [null, 0, -1.5, 70000, true, '', 'x', '1Gi', [], [null], {}, { a: null }, ['x']];

/** Every path to a value in a JSON document. */
function paths(value: JsonValue, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function replaced(document: JsonValue, path: ReadonlyArray<string | number>, value: JsonValue): JsonValue {
  if (path.length === 0) return value;
  const copy = structuredClone(document) as Record<string | number, JsonValue>;
  let parent: Record<string | number, JsonValue> = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, JsonValue>;
  parent[path[path.length - 1] as string | number] = value;
  return copy;
}

function outcome(devfile: string, agent: AgentConfigOverrides = {}): 'ok' | 'error' {
  try {
    const objects = generate({ devfile, agent, projectPath: 'proj' });
    expect(validateDesiredConfig(objects)).toEqual([]);
    return 'ok';
  } catch (error) {
    if (error instanceof DesiredConfigError) return 'error';
    throw new Error(`stray ${String(error)} for devfile:\n${devfile}`, { cause: error });
  }
}

describe('robustness', () => {
  it('every value of the seed devfile replaced by every JSON type yields an array or a DesiredConfigError', () => {
    const seed = load(readGitlabFixture('seed-processed-devfile.yaml')) as JsonValue;
    let runs = 0;
    for (const path of paths(seed)) {
      for (const value of REPLACEMENTS) {
        outcome(dump(replaced(seed, path, value), { noRefs: true }));
        runs++;
      }
    }
    expect(runs).toBeGreaterThan(1000);
    // Over a thousand generations: seconds on an idle machine, more on a busy CI runner.
  }, 60_000);

  it('odd YAML documents yield a DesiredConfigError', () => {
    const documents = [
      '{',
      ']',
      '- - - -',
      '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
      `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
      `${'a:\n '.repeat(2000)}b`,
      '? [complex]\n: key\n',
      '%YAML 1.1\n---\na: 1\n',
      '\u0000',
      '\ufeff',
      '"unterminated',
      'a: !!str\nb: !!int x\n',
      'components: {}\ncommands: {}\nevents: []\n',
      '__proto__: {components: []}\ncommands: []\nevents: {}\n',
      'constructor: 1\ncommands: []\nevents: {}\n',
    ];
    for (const document of documents) expect(outcome(document), document.slice(0, 40)).toBe('error');
  });

  it('odd agent-config JSON values yield an array or a DesiredConfigError', () => {
    const devfile = yaml(minimalDevfileLines());
    const odd: JsonValue[] = [null, 1, 'x', [], {}, [{}], { a: [] }, { limits: 'x' }, { limits: { cpu: null, memory: [] }, requests: { cpu: 1, memory: {} } }];
    const fields = ['labels', 'annotations', 'max_resources_per_workspace', 'default_resources_per_workspace_container'];
    for (const field of fields) {
      for (const value of odd) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) continue; // not a JSON object: zod refuses it upstream
        outcome(devfile, { [field]: value });
        outcome(devfile, { [field]: { key: value } });
      }
    }
    for (const value of odd) {
      outcome(devfile, { image_pull_secrets: [value] });
      outcome(devfile, { network_policy_egress: [value] });
    }
  });
});
