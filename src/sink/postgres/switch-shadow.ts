/**
 * The switch: a rebuild's shadow becomes the live `workspace_agentk_states` in ONE transaction.
 *
 * We merge into the live table rather than swapping tables by rename: the table keeps its OID, its
 * indexes, its foreign key and GitLab's exact definition, and GitLab (which reads it every few seconds)
 * sees the old contents until COMMIT and the new ones after, never an empty, partial or mixed table. Only
 * rows that differ are written, so a rebuild that changes nothing costs almost nothing at switch time.
 *
 * Rows the rebuild found equal to their live row are not in the shadow but marked (`shadow_unchanged`): the
 * switch leaves them as they are, counts them unchanged, and refuses if one changed since (refuseChangedLiveRows).
 * Each row the switch changes is first copied to `previous_agentk_states` (the undo log for --rollback); the
 * undo logs of the latest K switches are kept (`rebuilds.undo_kept`), older ones deleted.
 * A live row is deleted only when the rebuild saw its workspace deleted (a tombstone in its folded states);
 * a live row the rebuild has no row for otherwise (the workspace failed and is dead-lettered, or the topic
 * never carried it) is kept and counted, never silently dropped. Rows of workspaces gone from GitLab's
 * `workspaces` table disappear through GitLab's own foreign key.
 * The caller holds the projection's exclusive lock for the transaction (no batch interleaves).
 */
import type { Session } from './database.js';
import { BOOKKEEPING_SCHEMA, PROJECTION_TABLES } from './migrate.js';

export interface SwitchCounts {
  inserted: number;
  updated: number;
  deleted: number;
  /** Shadow rows equal to their live row. */
  unchanged: number;
  /** Live rows the rebuild produced no row for and did not see deleted: kept as they were. */
  kept: number;
}

const S = BOOKKEEPING_SCHEMA;

/** Undo logs kept by default: this switch's and those of the two switches before it (`--rollback-history`). */
export const DEFAULT_ROLLBACK_HISTORY = 3;

/**
 * Merges the shadow of rebuild `rebuildId` into the live table. `keepUndoLogsOf`: how many switches' undo
 * logs are kept after this one (this one included, so at least 1); older ones are deleted.
 */
export async function switchShadowIntoLive(
  client: Session,
  shadowProjection: string,
  rebuildId: number,
  keepUndoLogsOf: number = DEFAULT_ROLLBACK_HISTORY,
): Promise<SwitchCounts> {
  await refuseChangedLiveRows(client, rebuildId);
  const { rows: shadow } = await client.query<{ n: string; same: string; early: string }>(
    `SELECT (SELECT count(*) FROM ${S}.shadow_agentk_states s
              WHERE s.rebuild_id = $1 AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = s.workspace_id))::text AS n,
            (SELECT count(*) FROM ${S}.shadow_unchanged u
              WHERE u.rebuild_id = $1 AND NOT u.inserted AND EXISTS (SELECT 1 FROM workspace_agentk_states l WHERE l.workspace_id = u.workspace_id))::text AS same,
            (SELECT count(*) FROM ${S}.shadow_unchanged u
              WHERE u.rebuild_id = $1 AND u.inserted AND EXISTS (SELECT 1 FROM workspace_agentk_states l WHERE l.workspace_id = u.workspace_id))::text AS early`,
    [rebuildId],
  );
  await keepUndoLogs(client, rebuildId, keepUndoLogsOf);
  await client.query(
    `INSERT INTO ${S}.previous_agentk_states (rebuild_id, workspace_id, existed, project_id, desired_config, created_at, updated_at)
     SELECT $1, l.workspace_id, true, l.project_id, l.desired_config, l.created_at, l.updated_at
       FROM workspace_agentk_states l
       LEFT JOIN ${S}.shadow_agentk_states s ON s.rebuild_id = $1 AND s.workspace_id = l.workspace_id
      WHERE CASE WHEN s.workspace_id IS NULL
                 THEN EXISTS (SELECT 1 FROM ${S}.workspace_states ws
                               WHERE ws.projection = $2 AND ws.workspace_id = l.workspace_id AND ws.deleted)
                 ELSE s.desired_config IS DISTINCT FROM l.desired_config OR s.project_id IS DISTINCT FROM l.project_id
            END
     UNION ALL
     SELECT $1, s.workspace_id, false, NULL, NULL, NULL, NULL
       FROM ${S}.shadow_agentk_states s
      WHERE s.rebuild_id = $1
        AND NOT EXISTS (SELECT 1 FROM workspace_agentk_states l WHERE l.workspace_id = s.workspace_id)
        AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = s.workspace_id)
     ON CONFLICT (rebuild_id, workspace_id) DO NOTHING`,
    [rebuildId, shadowProjection],
  );
  const deleted = await client.query(
    `DELETE FROM workspace_agentk_states l
      USING ${S}.previous_agentk_states p
      WHERE p.rebuild_id = $1 AND p.existed AND p.workspace_id = l.workspace_id
        AND NOT EXISTS (SELECT 1 FROM ${S}.shadow_agentk_states s WHERE s.rebuild_id = $1 AND s.workspace_id = l.workspace_id)`,
    [rebuildId],
  );
  const updated = await client.query(
    `UPDATE workspace_agentk_states l
        SET desired_config = s.desired_config, project_id = s.project_id, updated_at = now()
       FROM ${S}.shadow_agentk_states s
      WHERE s.rebuild_id = $1 AND s.workspace_id = l.workspace_id
        AND (s.desired_config IS DISTINCT FROM l.desired_config OR s.project_id IS DISTINCT FROM l.project_id)`,
    [rebuildId],
  );
  const inserted = await client.query(
    `INSERT INTO workspace_agentk_states (workspace_id, project_id, desired_config, created_at, updated_at)
     SELECT s.workspace_id, s.project_id, s.desired_config, now(), now()
       FROM ${S}.shadow_agentk_states s
      WHERE s.rebuild_id = $1
        AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = s.workspace_id)
      ORDER BY s.workspace_id
     ON CONFLICT (workspace_id) DO NOTHING`,
    [rebuildId],
  );
  // Rows a first install inserted before the switch count as inserted by it.
  const counts = { inserted: (inserted.rowCount ?? 0) + Number(shadow[0]?.early ?? 0), updated: updated.rowCount ?? 0, deleted: deleted.rowCount ?? 0 };
  const { rows: kept } = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM workspace_agentk_states l
      WHERE NOT EXISTS (SELECT 1 FROM ${S}.shadow_agentk_states s WHERE s.rebuild_id = $1 AND s.workspace_id = l.workspace_id)
        AND NOT EXISTS (SELECT 1 FROM ${S}.shadow_unchanged u WHERE u.rebuild_id = $1 AND u.workspace_id = l.workspace_id)`,
    [rebuildId],
  );
  const unchanged = Number(shadow[0]?.n ?? 0) - (inserted.rowCount ?? 0) - counts.updated + Number(shadow[0]?.same ?? 0);
  return { ...counts, unchanged, kept: Number(kept[0]?.n ?? 0) };
}

/** Live rows a rebuild found equal to what it generated, then changed by someone else: the switch refuses. */
export class LiveRowsChangedError extends Error {
  override readonly name = 'LiveRowsChangedError';
  readonly retriable = false;
}

/** How many changed workspaces a LiveRowsChangedError names. */
const CHANGED_REPORT_LIMIT = 10;

/**
 * The rows the shadow marked unchanged must still be the versions it compared: otherwise the switch would keep
 * another writer's row where the rebuild generated a different one. (Our own consumer's writes are caught up
 * into the shadow as rows, and a workspace gone from `workspaces` takes its live row with it: neither counts.)
 */
async function refuseChangedLiveRows(client: Session, rebuildId: number): Promise<void> {
  const { rows } = await client.query<{ workspace_id: string; total: number }>(
    `SELECT u.workspace_id::text, count(*) OVER ()::int AS total
       FROM ${S}.shadow_unchanged u
       LEFT JOIN workspace_agentk_states l ON l.workspace_id = u.workspace_id
      WHERE u.rebuild_id = $1 AND (l.workspace_id IS NULL OR l.xmin::text <> u.live_version)
        AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = u.workspace_id)
      ORDER BY u.workspace_id LIMIT $2`,
    [rebuildId, CHANGED_REPORT_LIMIT],
  );
  if (rows.length === 0) return;
  const total = rows[0]!.total;
  throw new LiveRowsChangedError(
    `rebuild #${rebuildId}: ${total} rows of workspace_agentk_states were changed by another writer after the rebuild found them right ` +
      `(workspaces ${rows.map((r) => r.workspace_id).join(', ')}${total > rows.length ? ', …' : ''}); nothing was switched. ` +
      `The rebuild was abandoned: run the same command again to start a new one, which compares with the table as it is then`,
  );
}

/**
 * Marks `rebuildId`'s undo log kept and deletes those of the switches before it beyond the latest `keep` − 1
 * (rolled-back switches have none: applying an undo log deletes it).
 */
async function keepUndoLogs(client: Session, rebuildId: number, keep: number): Promise<void> {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`rollback history must keep at least this switch's undo log (got ${keep})`);
  const { rows } = await client.query<{ id: string }>(
    `WITH mine AS (SELECT projection FROM ${S}.rebuilds WHERE id = $1),
          kept AS (SELECT r.id FROM ${S}.rebuilds r, mine
                    WHERE r.projection = mine.projection AND r.undo_kept AND r.id <> $1
                    ORDER BY r.switched_at DESC NULLS LAST, r.id DESC LIMIT $2 - 1)
     UPDATE ${S}.rebuilds r SET undo_kept = (r.id = $1)
       FROM mine
      WHERE r.projection = mine.projection AND (r.id = $1 OR (r.undo_kept AND r.id NOT IN (SELECT id FROM kept)))
     RETURNING r.id::text AS id`,
    [rebuildId, keep],
  );
  const dropped = rows.map((r) => Number(r.id)).filter((id) => id !== rebuildId);
  if (dropped.length > 0) await client.query(`DELETE FROM ${S}.previous_agentk_states WHERE rebuild_id = ANY($1::bigint[])`, [dropped]);
}

/**
 * Holds back every other writer of the live table (GitLab's own inserts and deletes included; its readers
 * are not blocked) until the caller's transaction ends, so a diff measured now is the diff merged.
 */
export async function lockLiveAgainstWrites(client: Session): Promise<void> {
  await client.query('LOCK TABLE workspace_agentk_states IN SHARE MODE');
}

/**
 * Makes the shadow's folded states, parked updates, held events, origins and checkpoints the live projection's (a Kafka rebuild,
 * or a snapshot rebuild handed off to the stream), inside the switch transaction.
 */
export async function adoptShadowBookkeeping(client: Session, projection: string, shadowProjection: string): Promise<void> {
  for (const table of PROJECTION_TABLES) {
    await client.query(`DELETE FROM ${S}.${table} WHERE projection = $1`, [projection]);
    await client.query(`UPDATE ${S}.${table} SET projection = $1 WHERE projection = $2`, [projection, shadowProjection]);
  }
}

/**
 * Restores the rows one switch changed from its undo log, then deletes the log, in the caller's transaction.
 * Applied to several switches latest first, each restores the table as it was before that switch.
 * Returns how many rows it put back (re-inserted, overwritten or removed).
 */
export async function rollbackSwitch(client: Session, rebuildId: number): Promise<number> {
  const removed = await client.query(
    `DELETE FROM workspace_agentk_states l USING ${S}.previous_agentk_states p
      WHERE p.rebuild_id = $1 AND NOT p.existed AND p.workspace_id = l.workspace_id`,
    [rebuildId],
  );
  const restored = await client.query(
    `INSERT INTO workspace_agentk_states (workspace_id, project_id, desired_config, created_at, updated_at)
     SELECT p.workspace_id, p.project_id, p.desired_config, p.created_at, p.updated_at
       FROM ${S}.previous_agentk_states p
      WHERE p.rebuild_id = $1 AND p.existed AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = p.workspace_id)
      ORDER BY p.workspace_id
     ON CONFLICT (workspace_id) DO UPDATE
       SET project_id = EXCLUDED.project_id, desired_config = EXCLUDED.desired_config,
           created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`,
    [rebuildId],
  );
  await client.query(`DELETE FROM ${S}.previous_agentk_states WHERE rebuild_id = $1`, [rebuildId]);
  return (removed.rowCount ?? 0) + (restored.rowCount ?? 0);
}
