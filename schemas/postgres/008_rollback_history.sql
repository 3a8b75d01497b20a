-- Rollback history (README, "Rollback"): the undo logs (previous_agentk_states) of the last K switches are
-- kept, and --rollback [--to ID] undoes them latest first. `undo_kept` says a switched rebuild's undo log is
-- still there (an empty log, a switch that changed nothing, is still one); `rolled_back_at` when it was undone.
ALTER TABLE rebuild_projection.rebuilds ADD COLUMN undo_kept boolean NOT NULL DEFAULT false;
ALTER TABLE rebuild_projection.rebuilds ADD COLUMN rolled_back_at timestamptz;
-- Before this migration only the latest switch's undo log was kept, and only while it was not rolled back.
UPDATE rebuild_projection.rebuilds r SET undo_kept = true
 WHERE r.phase = 'switched'
   AND NOT EXISTS (SELECT 1 FROM rebuild_projection.rebuilds o
                    WHERE o.projection = r.projection AND o.phase IN ('switched', 'rolled_back') AND o.id > r.id);
