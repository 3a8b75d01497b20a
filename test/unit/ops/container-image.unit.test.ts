/**
 * The Dockerfile, checked without Docker (none here or in CI): what its stages copy exists and passes
 * .dockerignore, the runtime stage is unprivileged with production dependencies only, and those suffice for
 * every package the shipped code imports.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeFlagsOf } from '../../../src/cli/bin-flags.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const [build, runtime] = dockerfile.split(/^(?=FROM )/m).filter((stage) => stage.startsWith('FROM '));
const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string> };
const buildConfig = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] };

const lines = (stage: string | undefined, instruction: string) =>
  (stage ?? '').split('\n').filter((line) => line.startsWith(`${instruction} `)).map((line) => line.slice(instruction.length + 1).trim());
const copySources = (stage: string | undefined) =>
  lines(stage, 'COPY').filter((args) => !args.startsWith('--from')).flatMap((args) => args.split(/\s+/).slice(0, -1));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the container image', () => {
  it('has a build stage and a runtime stage on node:20-slim; the runtime one runs as an unprivileged user', () => {
    expect(lines(build, 'FROM')).toEqual(['node:20-slim AS build']);
    expect(lines(runtime, 'FROM')).toEqual(['node:20-slim']);
    const user = lines(runtime, 'USER');
    expect(user).toHaveLength(1);
    expect(['root', '0']).not.toContain(user[0]);
  });

  it("installs only production dependencies in the runtime stage and starts the package's CLI", () => {
    expect(lines(runtime, 'RUN').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(lines(runtime, 'COPY')).toContain('--from=build /app/dist dist');
    // The bin's node flags too (its shebang, in the source the bin is built from).
    const flags = nodeFlagsOf(join(root, 'src/cli/main.ts'));
    expect(flags).not.toEqual([]);
    expect(JSON.parse(lines(runtime, 'ENTRYPOINT')[0]!)).toEqual(['node', ...flags, packageJson.bin['rebuild-projection']!.replace(/^\.\//, '')]);
  });

  // bench/ is compiled locally for `npm run bench`, not shipped.
  it('builds every source folder the build configuration compiles, and ships the files read at run time', () => {
    const sources = copySources(build);
    for (const folder of buildConfig.include.filter((f) => existsSync(join(root, f)) && f !== 'bench')) expect(sources).toContain(folder);
    expect(copySources(runtime)).toContain('schemas');
  });

  it('copies only what exists and what .dockerignore lets into the build context', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    for (const source of [...copySources(build), ...copySources(runtime)]) {
      expect(existsSync(join(root, source)), source).toBe(true);
      expect(allowed, source).toContain(source);
    }
  });

  it('has every package the shipped code imports among the production dependencies', () => {
    const shipped = buildConfig.include.filter((f) => f !== 'bench' && existsSync(join(root, f))).flatMap((f) => sourceFiles(join(root, f)));
    expect(shipped.length).toBeGreaterThan(50);
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    for (const file of shipped) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/^import (?!type )(?:[^'"]* from )?'([^'.][^']*)'/gm)) {
        const specifier = match[1]!;
        if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
      }
    }
    expect([...imported].filter((name) => !(name in packageJson.dependencies))).toEqual([]);
    expect(imported).toContain('prom-client');
  });
});
