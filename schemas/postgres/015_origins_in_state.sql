-- A folded state's row, laid out so that an update that touches no generator input (an agent report) writes one
-- small row version on the page it is on. At N = 100,000 such an update cost about 8 kB of WAL: its origin on a
-- page of its own (a full-page image after nearly every checkpoint), a state row of about 2 kB whose workspace
-- jsonb was moved to TOAST and back, and a new page plus an index entry when the old page was full.
--
-- 1. The origins of each workspace's last 50 versions (fold.ts ORIGINS_KEPT, `--explain`) move from the ring table
--    workspace_origins into the state's row: `origins`, a jsonb array of the kept origins, oldest first, each
--    [version, kind, topic, partition, "offset"] or [version, "snapshot", taken_at], and `origins_recorded`, how
--    many were ever recorded (the older ones are counted as dropped). Every origin row was written in the same
--    statement as its workspace's state row (saveFolds), so each has its state: none is left behind by the move.
-- 2. The raw `devfile` (often a kilobyte) leaves the workspace jsonb for a column of its own, as processed_devfile
--    did (004): an update that does not change it keeps the stored value.
-- 3. toast_tuple_target = 128 moves the two devfiles out of line, where an update that keeps them writes an 18-byte
--    pointer (and a batch that does not need them does not read them); everything else is STORAGE MAIN: compressed
--    in the row, not moved to TOAST and back. Those are what every event changes (the workspace jsonb, the offsets,
--    the origins) and the agent config, which every batch reads (out of line, each read would cost a TOAST lookup).
-- 4. fillfactor = 70 leaves room on each page for a state's next version: an update that finds it is HOT (that one
--    page, no index entry), so a checkpoint costs at most one full-page image per state page. Set before the rows
--    are rewritten below, so that they land on pages filled to 70%.
-- Our own table only: never a GitLab table's storage.
ALTER TABLE rebuild_projection.workspace_states SET (fillfactor = 70, toast_tuple_target = 128);

ALTER TABLE rebuild_projection.workspace_states
    ADD COLUMN devfile text,
    ADD COLUMN origins jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN origins_recorded bigint NOT NULL DEFAULT 0,
    ALTER COLUMN workspace SET STORAGE MAIN,
    ALTER COLUMN agent_config SET STORAGE MAIN,
    ALTER COLUMN offsets SET STORAGE MAIN,
    ALTER COLUMN origins SET STORAGE MAIN;

-- One pass over the states (each row rewritten once), joined to its workspace's origins, if any.
UPDATE rebuild_projection.workspace_states AS s
   SET devfile = s.workspace ->> 'devfile', workspace = s.workspace - 'devfile',
       -- A new value (not the stored one, which may be a TOAST pointer): back in the row.
       agent_config = (s.agent_config::text)::jsonb,
       origins = coalesce(m.origins, '[]'::jsonb), origins_recorded = coalesce(m.recorded, 0)
  FROM (SELECT st.projection, st.workspace_id, o.origins, o.recorded
          FROM rebuild_projection.workspace_states AS st
          LEFT JOIN (SELECT projection, workspace_id, max(seq) AS recorded,
                            jsonb_agg(CASE WHEN kind = 'snapshot' THEN jsonb_build_array(version, kind, snapshot_taken_at)
                                           ELSE jsonb_build_array(version, kind, topic, kafka_partition, kafka_offset::text) END
                                      ORDER BY seq) AS origins
                       FROM rebuild_projection.workspace_origins
                      GROUP BY projection, workspace_id) AS o
            ON o.projection = st.projection AND o.workspace_id = st.workspace_id) AS m
 WHERE s.projection = m.projection AND s.workspace_id = m.workspace_id;

DROP TABLE rebuild_projection.workspace_origins;
