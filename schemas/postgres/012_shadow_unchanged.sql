-- A rebuild writes into its shadow only the rows that differ from the live table. For a workspace whose
-- generated row equals its live row (same project id, same desired config as jsonb), it records this marker
-- instead: the live row's version (xmin) when compared. The switch leaves such rows alone, and refuses when
-- one of them changed since (another writer), because the rebuild no longer holds the row it generated.
CREATE TABLE rebuild_projection.shadow_unchanged (
    rebuild_id bigint NOT NULL REFERENCES rebuild_projection.rebuilds (id) ON DELETE CASCADE,
    workspace_id bigint NOT NULL,
    live_version text NOT NULL,
    PRIMARY KEY (rebuild_id, workspace_id)
);
