-- The row a batch locks to fold a workspace: one per workspace a projection has folded (or is folding), with
-- no data. A batch inserts the missing ones and locks them all in one statement, in id order
-- (projection-locks.ts lockFolds). Row locks live in the tuples, not in PostgreSQL's shared lock table, so a
-- batch of thousands of workspaces locks exactly those workspaces: concurrent batches (partitions, topics)
-- wait only for a workspace they share. The advisory-lock buckets this replaces made every batch of 1,000
-- workspaces take all 256 buckets, which serialized every partition's batch behind the others.
CREATE TABLE rebuild_projection.fold_locks (
    projection text NOT NULL,
    workspace_id bigint NOT NULL,
    PRIMARY KEY (projection, workspace_id)
);
