/**
 * Where the package's non-code files (schemas/, …) are. The code runs from `src/` under vitest and from
 * `dist/src/` once built, so we walk up to the directory that holds package.json instead of counting `..`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
}

export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const postgresMigrationsDir = join(packageRoot, 'schemas', 'postgres');
export const gitlabSchemaDir = join(packageRoot, 'schemas', 'gitlab');
