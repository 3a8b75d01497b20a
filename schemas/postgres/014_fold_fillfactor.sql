-- Room on each page of the folded states for an update in place. Every applied event rewrites its workspace's
-- state row (about 2 KB once TOAST took the devfile out), and a full page sends the new version to another
-- page with a new index entry; the old one is reclaimed only by VACUUM, which also tells the free-space map,
-- so the table grows with the events folded. With the space, PostgreSQL updates on the same page (a HOT
-- update: no index entry, the dead version pruned on the page's next visit, no VACUUM needed). Measured
-- (bench, N = 20,000, autovacuum off): HOT updates were 15% of 289,000 (391 MB of heap for 20,000 states).
-- Only pages written from now on keep the room: a rebuild writes every state again (its shadow, adopted).
ALTER TABLE rebuild_projection.workspace_states SET (fillfactor = 70);
