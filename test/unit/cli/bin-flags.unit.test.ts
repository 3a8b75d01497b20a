import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeFlagsOf } from '../../../src/cli/bin-flags.js';

const dir = mkdtempSync(join(tmpdir(), 'bin-flags-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(firstLine: string): string {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(file, `${firstLine}\nconsole.log('hi');\n`);
  return file;
}

describe('nodeFlagsOf', () => {
  it("reads the CLI's own shebang: the young generation bound src/ops/memory.ts documents", () => {
    expect(nodeFlagsOf(fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url)))).toEqual(['--max-semi-space-size=2']);
  });

  it('reads flags with and without values, and none', () => {
    expect(nodeFlagsOf(script('#!/usr/bin/env -S node --max-semi-space-size=2 --no-warnings'))).toEqual(['--max-semi-space-size=2', '--no-warnings']);
    expect(nodeFlagsOf(script('#!/usr/bin/env node'))).toEqual([]);
  });

  it('refuses a first line that is not such a shebang, naming the file and the line', () => {
    const file = script('#!/usr/bin/node --max-semi-space-size=2');
    expect(() => nodeFlagsOf(file)).toThrow(`${file}: the first line is not "#!/usr/bin/env -S node [--flag[=value] …]": "#!/usr/bin/node --max-semi-space-size=2"`);
    expect(() => nodeFlagsOf(script('/** no shebang */'))).toThrow('the first line is not');
  });
});
