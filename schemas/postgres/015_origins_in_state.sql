-- The origins of each workspace's last 50 versions (fold.ts ORIGINS_KEPT, `--explain`) move from the ring table
-- workspace_origins into the folded state's own row: `origins`, a jsonb array of the kept origins, oldest first,
-- each [version, kind, topic, partition, "offset"] or [version, "snapshot", taken_at], and `origins_recorded`, how
-- many were ever recorded (the older ones are counted as dropped). Why: every applied event already writes a new
-- version of its state row; the ring wrote a second row on a page of its own per workspace, and at N = 100,000
-- that page was a full-page image in the WAL after nearly every checkpoint (f6: 6 of the 8 MB of WAL per 1,000
-- agent reports, and a second index probe and upsert per event). Inline, an event writes one row version.
--
-- Every origin row was written in the same statement as its workspace's state row (saveFolds), so each has its
-- state: none is left behind by the move.
-- Room on each page for a state's next version (its rows are about 2 kB): an update that finds it is HOT, i.e.
-- touches that one page (no new page, no index entry), so a checkpoint costs one full-page image per state page
-- at most. Set before the move below, so that the rows it rewrites land on pages filled to 70% (our own table:
-- never a GitLab table's storage).
ALTER TABLE rebuild_projection.workspace_states SET (fillfactor = 70);

ALTER TABLE rebuild_projection.workspace_states
    ADD COLUMN origins jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN origins_recorded bigint NOT NULL DEFAULT 0;

UPDATE rebuild_projection.workspace_states AS s
   SET origins = o.origins, origins_recorded = o.recorded
  FROM (SELECT projection, workspace_id, max(seq) AS recorded,
               jsonb_agg(CASE WHEN kind = 'snapshot' THEN jsonb_build_array(version, kind, snapshot_taken_at)
                              ELSE jsonb_build_array(version, kind, topic, kafka_partition, kafka_offset::text) END
                         ORDER BY seq) AS origins
          FROM rebuild_projection.workspace_origins
         GROUP BY projection, workspace_id) AS o
 WHERE s.projection = o.projection AND s.workspace_id = o.workspace_id;

DROP TABLE rebuild_projection.workspace_origins;
