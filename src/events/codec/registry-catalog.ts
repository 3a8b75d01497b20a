/**
 * Writer schemas fetched from a schema registry by id, with their resolvers to our reader schema, built once
 * per id. Fetching is asynchronous and decoding is not (it runs inside the batch transaction), so the
 * decoder's `prepare` fetches a batch's ids first. An id the registry does not know is asked again by the
 * next `prepare` (a registry restored from a backup may know it later); a known id is kept for good, since
 * an id never changes meaning.
 */
import type { Type } from 'avsc';
import type { CodecResult } from './bad-message.js';
import type { WriterSchema, WriterSchemas } from './confluent-avro.js';
import type { WriterSchemaLookup, WriterSchemaSource } from './schema-registry.js';
import { errorMessage } from './util.js';

export class RegistryCatalog implements WriterSchemas {
  private readonly known = new Map<number, CodecResult<WriterSchema>>();
  private readonly unknown = new Map<number, CodecResult<WriterSchema>>();

  constructor(
    readonly readerType: Type,
    private readonly source: WriterSchemaSource,
  ) {}

  /** Fetches the ids not known yet; rejects with the source's SchemaRegistryError. */
  async prepare(ids: Iterable<number>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.known.has(id));
    await Promise.all(
      missing.map(async (id) => {
        const lookup = await this.source.fetch(id);
        if (lookup.found) {
          this.known.set(id, this.entry(id, lookup));
          this.unknown.delete(id);
        } else {
          this.unknown.set(id, { ok: false, failure: { reason: 'unknown_schema_id', detail: lookup.detail } });
        }
      }),
    );
  }

  lookup(id: number): CodecResult<WriterSchema> {
    const result = this.known.get(id) ?? this.unknown.get(id);
    // A caller that skipped prepare: a bug, and never a dead letter.
    if (result === undefined) throw new Error(`schema id ${id} was looked up before the decoder's prepare() fetched it`);
    return result;
  }

  private entry(id: number, lookup: Extract<WriterSchemaLookup, { found: true }>): CodecResult<WriterSchema> {
    const writerType = lookup.type;
    const origin = `${writerType.name ?? 'an unnamed schema'} from ${this.source.description}`;
    if (writerType.name !== this.readerType.name) return { ok: true, value: { id, origin, writerType, shape: 'foreign', resolver: undefined } };
    if (writerType.equals(this.readerType)) return { ok: true, value: { id, origin, writerType, shape: 'event', resolver: undefined } };
    try {
      return { ok: true, value: { id, origin, writerType, shape: 'event', resolver: this.readerType.createResolver(writerType) } };
    } catch (error) {
      // Kept: the schema behind an id does not change, so neither does this answer.
      return { ok: false, failure: { reason: 'avro_decode_failed', detail: `schema id ${id} (${origin}) cannot be read with the current schema: ${errorMessage(error)}` } };
    }
  }
}
