import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SchemaCatalogError, findSchemasDir, loadSchemaCatalog } from '../../../src/events/codec/catalog.js';
import { createWorkspaceDecoder } from '../../../src/events/decode.js';
import { encodeAvro } from '../../../src/events/encode.js';
import { createdEvent, message } from './helpers.js';

const schemasDir = fileURLToPath(new URL('../../../schemas', import.meta.url));

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function catalogDir(catalog: unknown, schemas: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'workspace-event-catalog-'));
  tempDirs.push(dir);
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify(catalog));
  for (const [file, schema] of Object.entries(schemas)) writeFileSync(join(dir, file), JSON.stringify(schema));
  return dir;
}

const record = (fields: unknown[]) => ({ type: 'record', name: 'WorkspaceEvent', namespace: 'test', fields });

describe('the Avro schema catalog', () => {
  it('maps schema ids 1 and 2 and reads everything with v2, resolving only v1', () => {
    const catalog = loadSchemaCatalog();
    expect(catalog.currentId).toBe(2);
    expect([...catalog.entries.keys()]).toEqual([1, 2]);
    expect(catalog.entries.get(1)).toMatchObject({ file: 'workspace-event.v1.avsc' });
    expect(catalog.entries.get(1)?.resolver).toBeDefined();
    expect(catalog.entries.get(2)).toMatchObject({ file: 'workspace-event.v2.avsc', resolver: undefined });
  });

  it('finds the schemas directory from the source module and from the built dist/src module', () => {
    expect(findSchemasDir(new URL('../../../src/events/codec/catalog.ts', import.meta.url))).toBe(schemasDir);
    expect(findSchemasDir(new URL('../../../dist/src/events/codec/catalog.js', import.meta.url))).toBe(schemasDir);
  });

  it('refuses a catalog whose older schema cannot be read with the current one', () => {
    const dir = catalogDir(
      { schemas: [{ id: 1, file: 'old.avsc' }, { id: 2, file: 'new.avsc', current: true }] },
      {
        'old.avsc': record([{ name: 'a', type: 'string' }]),
        'new.avsc': record([{ name: 'a', type: 'string' }, { name: 'b', type: 'long' }]),
      },
    );
    expect(() => loadSchemaCatalog(dir)).toThrow(/schema id 1 \(old\.avsc\) cannot be read with the current schema new\.avsc/);
  });

  it('refuses a catalog with two current schemas', () => {
    const dir = catalogDir({ schemas: [{ id: 1, file: 'a.avsc', current: true }, { id: 2, file: 'b.avsc', current: true }] });
    expect(() => loadSchemaCatalog(dir)).toThrow(SchemaCatalogError);
    expect(() => loadSchemaCatalog(dir)).toThrow(/exactly one schema must be current, found 2/);
  });

  it('lets a decoder use another catalog, e.g. with the ids of a team\'s own registry', () => {
    const dir = catalogDir({ schemas: [{ id: 1001, file: 'workspace-event.v2.avsc', current: true }] });
    copyFileSync(join(schemasDir, 'workspace-event.v2.avsc'), join(dir, 'workspace-event.v2.avsc'));
    const catalog = loadSchemaCatalog(dir);
    const decode = createWorkspaceDecoder({ catalog });
    expect(decode(message(encodeAvro(createdEvent, 1001, catalog)))).toMatchObject({ ok: true, schemaId: 1001 });
    expect(decode(message(encodeAvro(createdEvent, 2)))).toMatchObject({ ok: false, error: { reason: 'unknown_schema_id', schemaId: 2 } });
  });
});
