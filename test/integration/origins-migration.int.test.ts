/**
 * Migration 015 against the real PostgreSQL: a bookkeeping schema at 014, with origins in the ring table
 * workspace_origins (slot = seq % 50, as the previous version wrote it) and the raw devfile inside the workspace
 * jsonb, is upgraded; each workspace's kept origins, oldest first, the count of dropped ones and its folded
 * workspace read the same, and the next event appends after them and keeps the devfiles it did not load.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ORIGINS_KEPT, type VersionOrigin } from '../../projections/agentk-states/fold.js';
import { postgresMigrationsDir } from '../../src/package-paths.js';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { readBatchFolds, readFold, readOrigins, saveFolds } from '../../src/sink/postgres/workspace-states.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { workspaceRow } from '../support/workspace-events.js';

const PROJECTION = 'agentk-states';
const TOPIC = 'workspace-events';
let db: TestDatabase;
let before015: string;

beforeEach(async () => {
  db = await createTestDatabase();
  // The migrations of the previous version: every one before 015.
  before015 = mkdtempSync(join(tmpdir(), 'migrations-014-'));
  for (const file of readdirSync(postgresMigrationsDir).filter((f) => /^\d{3}_/.test(f) && Number(f.slice(0, 3)) < 15)) {
    cpSync(join(postgresMigrationsDir, file), join(before015, file));
  }
  expect(await migrate(db.pool, before015)).toContain(14);
});

afterEach(async () => {
  rmSync(before015, { recursive: true, force: true });
  await db.drop();
});

/** A state row as 014 stored it (no origins columns yet). */
async function insertState(workspaceId: number, version: number): Promise<void> {
  const { processed_devfile: devfile, ...workspace } = rawRow(workspaceId);
  await db.pool.query(
    `INSERT INTO rebuild_projection.workspace_states (projection, workspace_id, version, workspace, processed_devfile, offsets)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [PROJECTION, workspaceId, version, JSON.stringify(workspace), devfile, JSON.stringify({ [`${TOPIC}:0`]: String(version + 99) })],
  );
}

/** Origin seq as the ring stored it: its slot is seq % 50, a later seq overwrote the slot's earlier one. */
async function insertRingOrigin(workspaceId: number, seq: number, origin: VersionOrigin): Promise<void> {
  const kafka = origin.kind === 'snapshot' ? null : origin;
  await db.pool.query(
    `INSERT INTO rebuild_projection.workspace_origins
       (projection, workspace_id, slot, seq, version, kind, topic, kafka_partition, kafka_offset, snapshot_taken_at)
     VALUES ($1, $2, $3 % 50, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (projection, workspace_id, slot) DO UPDATE
       SET seq = EXCLUDED.seq, version = EXCLUDED.version, kind = EXCLUDED.kind, topic = EXCLUDED.topic,
           kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset, snapshot_taken_at = EXCLUDED.snapshot_taken_at`,
    [PROJECTION, workspaceId, seq, origin.version, origin.kind, kafka?.topic ?? null, kafka?.partition ?? null, kafka?.offset ?? null,
      origin.kind === 'snapshot' ? origin.takenAt : null],
  );
}

/** A workspace row with its raw devfile (GitLab's `devfile` column), as 014 kept it inside the workspace jsonb. */
const rawRow = (workspaceId: number) => workspaceRow(workspaceId, { devfile: `schemaVersion: 2.2.0\n# the raw devfile of ${workspaceId}\n` });

const updated = (version: number): VersionOrigin => ({ version, kind: 'updated', topic: TOPIC, partition: 0, offset: String(version + 99) });

describe('migration 015 (origins into the state rows)', () => {
  it('moves every kept origin, oldest first, and the dropped count; the next event appends after them', async () => {
    // Workspace 7: created, then 57 updates: 58 origins recorded, the ring keeps v9…v58.
    await insertState(7, 58);
    const history: VersionOrigin[] = [{ version: 1, kind: 'created', topic: TOPIC, partition: 0, offset: '100' }];
    for (let version = 2; version <= 58; version++) history.push(updated(version));
    for (const [index, origin] of history.entries()) await insertRingOrigin(7, index + 1, origin);
    // Workspace 8: rebuilt from a snapshot, then one update, handed to another partition.
    await insertState(8, 1);
    const snapshot: VersionOrigin = { version: 0, kind: 'snapshot', takenAt: '2026-11-25T10:00:00.123Z' };
    const eight: VersionOrigin[] = [snapshot, { version: 1, kind: 'updated', topic: TOPIC, partition: 3, offset: '7' }];
    for (const [index, origin] of eight.entries()) await insertRingOrigin(8, index + 1, origin);
    // Workspace 9: folded before origins were recorded (migration 009).
    await insertState(9, 4);

    expect(await migrate(db.pool)).toContain(15);
    const { rows } = await db.pool.query<{ present: boolean }>(`SELECT to_regclass('rebuild_projection.workspace_origins') IS NOT NULL AS present`);
    expect(rows[0]!.present).toBe(false);
    expect(await readOrigins(db.pool, PROJECTION, 7)).toEqual({ origins: history.slice(8), dropped: 8 });
    expect(await readOrigins(db.pool, PROJECTION, 8)).toEqual({ origins: eight, dropped: 0 });
    expect(await readOrigins(db.pool, PROJECTION, 9)).toEqual({ origins: [], dropped: 0 });
    const devfiles = await db.pool.query<{ id: number; devfile: string | null; in_workspace: boolean }>(
      `SELECT workspace_id::int AS id, devfile, workspace ? 'devfile' AS in_workspace FROM rebuild_projection.workspace_states ORDER BY 1`);
    expect(devfiles.rows).toEqual([7, 8, 9].map((id) => ({ id, devfile: rawRow(id).devfile, in_workspace: false })));
    expect((await readFold(db.pool, PROJECTION, 7)).state!.workspace).toEqual(rawRow(7));

    // Version 59 of workspace 7 (no devfile change: the kept-state UPDATE) and the first recorded of 9.
    const loaded = (await readBatchFolds(db.pool, PROJECTION, [7, 9], { devfile: new Set() })).folds;
    const next = new Map([7, 9].map((id) => {
      const fold = loaded.get(id)!;
      const version = fold.state!.version + 1;
      return [id, { state: { ...fold.state!, version }, parked: [], newOrigins: [updated(version)] }];
    }));
    await saveFolds(db.pool, PROJECTION, next, loaded);
    expect(await readOrigins(db.pool, PROJECTION, 7)).toEqual({ origins: [...history.slice(9), updated(59)], dropped: 9 });
    expect((await readOrigins(db.pool, PROJECTION, 7)).origins).toHaveLength(ORIGINS_KEPT);
    expect(await readOrigins(db.pool, PROJECTION, 9)).toEqual({ origins: [updated(5)], dropped: 0 });
    // Loaded without their devfiles (an agent report's batch): kept as stored.
    expect((await readFold(db.pool, PROJECTION, 7)).state).toMatchObject({ version: 59, workspace: rawRow(7) });
  });
});
