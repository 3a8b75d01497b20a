/**
 * Reads of a rebuild's shadow next to the live `workspace_agentk_states`, for the impact preview and the
 * switch's guards: the rows the switch would change, with the same predicates as `switchShadowIntoLive`
 * (update: both rows exist and differ; insert: a shadow row whose workspace exists and has no live row;
 * delete: a live row without a shadow row whose workspace the shadow saw deleted; kept: any other live row
 * without a shadow row, except those the rebuild found equal to what it generated: `shadow_unchanged`). Read-only.
 *
 * Each changed row comes summarized by PostgreSQL (digests of the row, of each object and of a Deployment's
 * pod template, and its replicas), so classifying a switch of 30,000 rows moves a few hundred bytes per row
 * instead of two desired configs of ~13 KB each. `jsonb::text` is jsonb's canonical text (keys sorted, no
 * duplicates), so equal stored values give equal digests. Measured on a busy 2-core machine: 30,000 rows that
 * all differ summarize in about 1 ms per row (both sides, windows of 1000); with every summary known (by row
 * version) a pass costs the comparison only, 2–3 s. `pairs` is MATERIALIZED: inlined, its CASE (a jsonb
 * comparison of two 13 KB values) ran once per reference, four times a row (178 ms a window against 52).
 */
import { createHash } from 'node:crypto';
import type { Session } from './database.js';
import { z } from 'zod';
import { bigintId } from '../../../projections/agentk-states/inputs.js';
import type { DigestedRow, RowPair } from '../../engine/impact/impact.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

const S = BOOKKEEPING_SCHEMA;

/** `expr` (jsonb) as text when it is a JSON string, else '' (what `summarizeObject` does). */
const str = (expr: string) => `CASE WHEN jsonb_typeof(${expr}) = 'string' THEN ${expr} #>> '{}' ELSE '' END`;

/**
 * A row's summary as jsonb: {project_id, array: whether desired_config is an array, objects: [[kind, namespace,
 * name, digest, template digest|null, replicas|null], …]}. The row's own digest is made from it (`digestRow`),
 * so each stored value is turned into text once (per object), not twice.
 */
const summary = (project: string, config: string) => `jsonb_build_object(
  'project_id', ${project},
  'array', jsonb_typeof(${config}) = 'array',
  'objects', coalesce((
    SELECT jsonb_agg(jsonb_build_array(
             ${str(`o -> 'kind'`)}, ${str(`o -> 'metadata' -> 'namespace'`)}, ${str(`o -> 'metadata' -> 'name'`)}, md5(o::text),
             CASE WHEN o -> 'kind' = '"Deployment"' THEN coalesce(md5((o -> 'spec' -> 'template')::text), '') END,
             CASE WHEN jsonb_typeof(o -> 'spec' -> 'replicas') = 'number' THEN o -> 'spec' -> 'replicas' END
           ) ORDER BY i)
      FROM jsonb_array_elements(CASE jsonb_typeof(${config}) WHEN 'array' THEN ${config} ELSE jsonb_build_array(${config}) END)
           WITH ORDINALITY AS e(o, i)), '[]'::jsonb))`;

/** The row's digest from its summary: its project id, whether it is an array, and its objects' digests in order. */
function digestRow(projectId: number, array: boolean, objectDigests: readonly string[]): string {
  return createHash('sha256').update(`${projectId} ${array ? 'array' : 'value'} ${objectDigests.join(',')}`).digest('hex');
}

const objectSchema = z
  .tuple([z.string(), z.string(), z.string(), z.string(), z.string().nullable(), z.number().nullable()])
  .transform(([kind, namespace, name, digest, templateDigest, replicas]) =>
    templateDigest === null ? { kind, namespace, name, digest } : { kind, namespace, name, digest, deployment: { templateDigest, replicas } },
  );
const summarySchema = z
  .object({ project_id: bigintId, array: z.boolean(), objects: z.array(objectSchema) })
  .transform((row): DigestedRow => ({
    digest: digestRow(row.project_id, row.array, row.objects.map((o) => o.digest)),
    projectId: row.project_id,
    objects: row.objects,
  }));

/** Row versions (`xmin` of the live row and of the shadow row) already summarized, by workspace id. */
export type KnownVersions = ReadonlyMap<number, string>;

export interface ShadowLiveWindow {
  /**
   * The rows the switch would change in this window, in id order, each with its row versions; `pair` is
   * undefined when `known` held exactly these versions (the caller has its summary already).
   */
  pairs: { workspaceId: number; version: string; pair: RowPair | undefined }[];
  /** Live rows in this window the switch keeps (no shadow row, not deleted). */
  kept: number;
  /** Where the next window starts (`after` for the next call), or null: this was the last one. */
  upTo: number | null;
}

/**
 * The window of ids `(after, upTo]` holding at most `limit` shadow rows and at most `limit` live rows: keyset
 * pages over both tables' own indexes, so a window never sorts more than 2 × `limit` rows.
 *
 * A row's version is its `xmin` (the transaction that wrote it; every write makes a new one, and only committed
 * versions are visible), so a pair whose two versions are in `known` is the pair summarized then: its summary,
 * the costly part, is not computed again.
 */
export async function readShadowLiveWindow(
  client: Session,
  rebuild: { id: number; shadow_projection: string },
  after: number,
  limit: number,
  known: KnownVersions = new Map(),
): Promise<ShadowLiveWindow> {
  const { rows: bounds } = await client.query<{ up_to: string | null }>(
    `SELECT least(
       (SELECT workspace_id FROM ${S}.shadow_agentk_states WHERE rebuild_id = $1 AND workspace_id > $2 ORDER BY workspace_id OFFSET $3 - 1 LIMIT 1),
       (SELECT workspace_id FROM workspace_agentk_states WHERE workspace_id > $2 ORDER BY workspace_id OFFSET $3 - 1 LIMIT 1))::text AS up_to`,
    [rebuild.id, after, limit],
  );
  const upTo = bounds[0]?.up_to == null ? null : Number(bounds[0].up_to);
  const knownHere = [...known].filter(([id]) => id > after && (upTo === null || id <= upTo));
  const { rows } = await client.query<{ id: string; version: string; change: string; live: unknown; shadow: unknown }>(
    `WITH s AS (
       SELECT xmin::text AS version, workspace_id, project_id, desired_config FROM ${S}.shadow_agentk_states
        WHERE rebuild_id = $1 AND workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3)
     ), l AS (
       SELECT xmin::text AS version, workspace_id, project_id, desired_config FROM workspace_agentk_states
        WHERE workspace_id > $2 AND ($3::bigint IS NULL OR workspace_id <= $3)
     ), known AS (
       SELECT * FROM unnest($5::bigint[], $6::text[]) AS k(workspace_id, version)
     ), pairs AS MATERIALIZED (
       SELECT coalesce(s.workspace_id, l.workspace_id) AS workspace_id,
              coalesce(l.version, '-') || ' ' || coalesce(s.version, '-') AS version,
              l.project_id AS l_project, l.desired_config AS l_config, s.project_id AS s_project, s.desired_config AS s_config,
              CASE
                WHEN s.workspace_id IS NOT NULL AND l.workspace_id IS NOT NULL THEN
                  CASE WHEN s.desired_config IS DISTINCT FROM l.desired_config OR s.project_id IS DISTINCT FROM l.project_id THEN 'update' END
                WHEN s.workspace_id IS NOT NULL THEN
                  CASE WHEN EXISTS (SELECT 1 FROM workspaces w WHERE w.id = s.workspace_id) THEN 'insert' END
                WHEN EXISTS (SELECT 1 FROM ${S}.shadow_unchanged u WHERE u.rebuild_id = $1 AND u.workspace_id = l.workspace_id) THEN NULL
                WHEN EXISTS (SELECT 1 FROM ${S}.workspace_states ws WHERE ws.projection = $4 AND ws.workspace_id = l.workspace_id AND ws.deleted) THEN 'delete'
                ELSE 'kept'
              END AS change
         FROM s FULL JOIN l ON l.workspace_id = s.workspace_id
     )
     SELECT pairs.workspace_id::text AS id, pairs.version, change,
            CASE WHEN change IN ('update', 'delete') AND NOT cached THEN ${summary('l_project', 'l_config')} END AS live,
            CASE WHEN change IN ('update', 'insert') AND NOT cached THEN ${summary('s_project', 's_config')} END AS shadow
       FROM pairs
       LEFT JOIN known ON known.workspace_id = pairs.workspace_id AND known.version = pairs.version
       CROSS JOIN LATERAL (SELECT known.workspace_id IS NOT NULL AS cached) c
      WHERE change IS NOT NULL ORDER BY pairs.workspace_id`,
    [rebuild.id, after, upTo, rebuild.shadow_projection, knownHere.map(([id]) => id), knownHere.map(([, version]) => version)],
  );
  const pairs: ShadowLiveWindow['pairs'] = [];
  let kept = 0;
  for (const row of rows) {
    if (row.change === 'kept') {
      kept++;
      continue;
    }
    const workspaceId = Number(row.id);
    const cached = known.get(workspaceId) === row.version;
    pairs.push({
      workspaceId,
      version: row.version,
      pair: cached
        ? undefined
        : {
            workspaceId,
            live: row.live === null ? null : summarySchema.parse(row.live),
            shadow: row.shadow === null ? null : summarySchema.parse(row.shadow),
          },
    });
  }
  return { pairs, kept, upTo };
}

export interface StoredRow {
  projectId: number;
  desiredConfig: unknown;
}

/** The live and shadow rows of the given workspaces, whole (for the few a preview shows). */
export async function readShadowLiveRows(
  client: Session,
  rebuildId: number,
  workspaceIds: readonly number[],
): Promise<Map<number, { live: StoredRow | null; shadow: StoredRow | null }>> {
  const { rows } = await client.query<{ workspace_id: string; l_project: string | null; l_config: unknown; s_project: string | null; s_config: unknown }>(
    `SELECT ids.id::text AS workspace_id, l.project_id::text AS l_project, l.desired_config AS l_config,
            s.project_id::text AS s_project, s.desired_config AS s_config
       FROM unnest($2::bigint[]) AS ids(id)
       LEFT JOIN workspace_agentk_states l ON l.workspace_id = ids.id
       LEFT JOIN ${S}.shadow_agentk_states s ON s.rebuild_id = $1 AND s.workspace_id = ids.id`,
    [rebuildId, [...workspaceIds]],
  );
  return new Map(
    rows.map((row) => [
      Number(row.workspace_id),
      {
        live: row.l_project === null ? null : { projectId: Number(row.l_project), desiredConfig: row.l_config },
        shadow: row.s_project === null ? null : { projectId: Number(row.s_project), desiredConfig: row.s_config },
      },
    ]),
  );
}

/** Partitions where the live projection has consumed further than the shadow: the switch catches up first. */
export async function partitionsLiveIsAhead(client: Session, projection: string, shadowProjection: string): Promise<string[]> {
  const { rows } = await client.query<{ topic: string; kafka_partition: number; live: string; shadow: string | null }>(
    `SELECT l.topic, l.kafka_partition, l.next_offset::text AS live, s.next_offset::text AS shadow
       FROM ${S}.checkpoints l
       LEFT JOIN ${S}.checkpoints s ON s.projection = $2 AND s.topic = l.topic AND s.kafka_partition = l.kafka_partition
      WHERE l.projection = $1 AND l.next_offset > coalesce(s.next_offset, 0)
      ORDER BY l.topic, l.kafka_partition`,
    [projection, shadowProjection],
  );
  return rows.map((r) => `${r.topic}:${r.kafka_partition} (live ${r.live}, shadow ${r.shadow ?? 'none'})`);
}
