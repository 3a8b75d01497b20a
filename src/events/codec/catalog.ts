/**
 * The Avro schema catalog (`schemas/catalog.json`): Confluent schema id → writer schema, plus the current
 * reader schema. Types and resolvers are built once when the catalog loads, never per message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';
import { z } from 'zod';
import type { CodecResult } from './bad-message.js';
import type { WriterSchema, WriterSchemas } from './confluent-avro.js';

export type AvroResolver = ReturnType<Type['createResolver']>;

export interface CatalogEntry extends WriterSchema {
  file: string;
  shape: 'event';
  /** Undefined when the writer schema is the reader schema (decode directly, no resolution needed). */
  resolver: AvroResolver | undefined;
}

export interface SchemaCatalog {
  /** The schema id marked current; producers should write with it. */
  currentId: number;
  readerType: Type;
  entries: ReadonlyMap<number, CatalogEntry>;
}

export class SchemaCatalogError extends Error {
  override readonly name = 'SchemaCatalogError';
}

const catalogFileSchema = z
  .object({
    subject: z.string().optional(),
    schemas: z
      .array(
        z.object({
          id: z.number().int().min(0).max(2147483647),
          file: z.string().regex(/^[\w.-]+\.avsc$/, 'a .avsc file name in the schemas directory'),
          current: z.boolean().optional(),
        }),
      )
      .min(1),
  })
  .superRefine((catalog, ctx) => {
    const ids = catalog.schemas.map((entry) => entry.id);
    if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', message: 'duplicate schema id' });
    const current = catalog.schemas.filter((entry) => entry.current === true).length;
    if (current !== 1) ctx.addIssue({ code: 'custom', message: `exactly one schema must be current, found ${current}` });
  });

/**
 * The package's `schemas/` directory. Walks up from this module because it runs both from `src/` (tsx,
 * vitest) and from `dist/src/` (built), at different depths below the package root.
 */
export function findSchemasDir(from: string | URL = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'catalog.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new SchemaCatalogError(`no schemas/catalog.json above ${fileURLToPath(from)}`);
    dir = parent;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    throw new SchemaCatalogError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Loads and compiles the catalog; throws SchemaCatalogError on any inconsistency (a deployment bug). */
export function loadSchemaCatalog(schemasDir: string = findSchemasDir()): SchemaCatalog {
  const dir = resolve(schemasDir);
  const parsed = catalogFileSchema.safeParse(readJson(join(dir, 'catalog.json')));
  if (!parsed.success) {
    throw new SchemaCatalogError(`invalid ${join(dir, 'catalog.json')}: ${z.prettifyError(parsed.error)}`);
  }
  const typesByFile = new Map<string, Type>();
  const typeOf = (file: string): Type => {
    let type = typesByFile.get(file);
    if (type === undefined) {
      try {
        // The schema JSON is checked by avsc itself; a malformed file throws here, at load time.
        type = avro.Type.forSchema(readJson(join(dir, file)) as Schema);
      } catch (error) {
        throw new SchemaCatalogError(`invalid Avro schema ${file}: ${(error as Error).message}`, { cause: error });
      }
      typesByFile.set(file, type);
    }
    return type;
  };

  const currentEntry = parsed.data.schemas.find((entry) => entry.current === true);
  if (currentEntry === undefined) throw new SchemaCatalogError('no current schema'); // unreachable: refined above
  const readerType = typeOf(currentEntry.file);

  const entries = new Map<number, CatalogEntry>();
  for (const { id, file } of parsed.data.schemas) {
    const writerType = typeOf(file);
    let resolver: AvroResolver | undefined;
    if (!writerType.equals(readerType)) {
      try {
        resolver = readerType.createResolver(writerType);
      } catch (error) {
        throw new SchemaCatalogError(
          `schema id ${id} (${file}) cannot be read with the current schema ${currentEntry.file}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    entries.set(id, { id, file, origin: file, writerType, shape: 'event', resolver });
  }
  return { currentId: currentEntry.id, readerType, entries };
}

/** The catalog as the decoder's writer schemas: every id it maps, nothing else. */
export function catalogWriterSchemas(catalog: SchemaCatalog): WriterSchemas {
  const known = [...catalog.entries.keys()].join(', ');
  return {
    readerType: catalog.readerType,
    lookup(id): CodecResult<WriterSchema> {
      const entry = catalog.entries.get(id);
      if (entry !== undefined) return { ok: true, value: entry };
      return { ok: false, failure: { reason: 'unknown_schema_id', detail: `schema id ${id} is not in the catalog (known: ${known})` } };
    },
  };
}

let defaultCatalog: SchemaCatalog | undefined;

/** The catalog shipped with the package, loaded on first use. */
export function defaultSchemaCatalog(): SchemaCatalog {
  defaultCatalog ??= loadSchemaCatalog();
  return defaultCatalog;
}
