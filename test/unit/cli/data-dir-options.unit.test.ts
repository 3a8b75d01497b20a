import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';

describe('--data-dir (the embedded database, used without a database URL)', () => {
  it("defaults to rebuild-projection in $XDG_CACHE_HOME, else in ~/.cache", () => {
    expect(parseCommandLine(['agentk-states'], { XDG_CACHE_HOME: '/var/cache/me' }).dataDir).toBe('/var/cache/me/rebuild-projection');
    expect(parseCommandLine(['agentk-states'], {}).dataDir).toBe(join(homedir(), '.cache', 'rebuild-projection'));
  });

  it('takes the directory given, and leaves the database URL unset so that the embedded database is used', () => {
    const args = parseCommandLine(['agentk-states', '--data-dir', './demo-data'], {});
    expect(args.dataDir).toBe('./demo-data');
    expect(args.databaseUrl).toBeUndefined();
  });
});
