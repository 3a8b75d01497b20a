import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionsReference, REFERENCE_BEGIN, REFERENCE_END, withReference } from '../../../src/cli/options-reference.js';

describe("the README's options reference", () => {
  it('is the one generated from the options table (run `npm run docs` after changing an option)', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    expect(withReference(readme)).toBe(readme);
  });

  it('names each option with its variable, config key and default, escaping table pipes', () => {
    const rows = optionsReference().split('\n');
    expect(rows).toContain('| `--batch-size N` | `REBUILD_PROJECTION_BATCH_SIZE` | `batch-size` | `250` | workspaces per transaction of a snapshot, a rebuild page or a file (Kafka: see Operations) |');
    expect(rows).toContain(
      '| `--database-url URL` | `REBUILD_PROJECTION_DATABASE_URL`, then `DATABASE_URL` | `database-url` |  | ' +
        "GitLab's PostgreSQL, where workspace_agentk_states lives (a secret: never printed in full) |",
    );
    expect(rows).toContain(
      "| `--agent-config pinned\\|live` | `REBUILD_PROJECTION_AGENT_CONFIG` | `agent-config` | `pinned` | agent config per workspace: the pinned version, or the live row as GitLab's backfill did |",
    );
    // Flags of one invocation: no variable, no key.
    expect(rows.find((row) => row.startsWith('| `--purge-dead-letters`'))).toMatch(/^\| `--purge-dead-letters` \|  \|  \|  \| /);
    expect(rows.find((row) => row.startsWith('| `--config FILE`'))).toMatch(/^\| `--config FILE` \| `REBUILD_PROJECTION_CONFIG` \|  \|  \| /);
    expect(rows.find((row) => row.startsWith('| `--help`'))).toMatch(/^\| `--help`, `-h` \|/);
  });

  it('refuses a README without its markers', () => {
    expect(() => withReference('# nothing here')).toThrowError(`README.md lacks the markers ${REFERENCE_BEGIN} … ${REFERENCE_END}`);
  });
});
