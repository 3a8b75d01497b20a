-- Replay-safe folding (fold.ts header): each folded state records, per topic partition ("topic:partition"),
-- the highest offset folded into it, and the partition of its delete, so that a replay finds every event
-- already folded and a create after a delete on the same partition re-creates the workspace. A processed
-- devfile over the generator's limit is kept as a marker ({"characters", "sha256"}), never as its text.
-- States folded before this migration have no offsets: versions alone decide for them, as before.
ALTER TABLE rebuild_projection.workspace_states
    ADD COLUMN offsets jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN deleted_on text,
    ADD COLUMN oversized_devfile jsonb;
