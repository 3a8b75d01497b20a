/**
 * The node flags the CLI runs with, declared once: in the shebang of src/cli/main.ts (`#!/usr/bin/env -S node
 * <flags>`), which is what `npx rebuild-projection` and an installed bin execute. Whoever starts the CLI as
 * `node <flags> dist/src/cli/main.js` instead (the Dockerfile's ENTRYPOINT, the benchmark, the tests) reads
 * them from there, so that every launch runs the same V8 configuration (src/ops/memory.ts says why).
 */
import { readFileSync } from 'node:fs';

const SHEBANG = /^#!\/usr\/bin\/env (?:-S node((?: --[a-z0-9-]+(?:=[^ ]+)?)+)|node)$/;

/** The node flags in the shebang of `scriptPath`; an error naming the file when its first line is not one. */
export function nodeFlagsOf(scriptPath: string): string[] {
  const firstLine = readFileSync(scriptPath, 'utf8').split('\n', 1)[0] ?? '';
  const match = SHEBANG.exec(firstLine);
  if (match === null) throw new Error(`${scriptPath}: the first line is not "#!/usr/bin/env -S node [--flag[=value] …]": ${JSON.stringify(firstLine)}`);
  return (match[1] ?? '').split(' ').filter((flag) => flag !== '');
}
