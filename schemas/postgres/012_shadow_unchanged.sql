-- A rebuild writes into its shadow only the rows that differ from the live table. For a workspace whose
-- generated row equals its live row (same project id, same desired config as jsonb), it records this marker
-- instead: the live row's version (xmin) when compared. The switch leaves such rows alone, and refuses when
-- one of them changed since (another writer), because the rebuild no longer holds the row it generated.
-- inserted: the workspace had no live row and the rebuild inserted its row itself before the switch (a first
-- install writes each row once; README, "Rebuild"); the switch counts it as inserted, --rollback removes it.
CREATE TABLE rebuild_projection.shadow_unchanged (
    rebuild_id bigint NOT NULL REFERENCES rebuild_projection.rebuilds (id) ON DELETE CASCADE,
    workspace_id bigint NOT NULL,
    live_version text NOT NULL,
    inserted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (rebuild_id, workspace_id)
);
