-- A rebuild from a history (Kafka, a file) stages its events instead of folding them one batch at a time
-- (staged-events.ts): each transaction appends its decoded messages' bytes to the rebuild's own table
-- rebuild_projection.staged_events_<id>, with its checkpoints, and the fold phase then folds each workspace's
-- events at once, in the order they were staged, and generates its row. `staging` is true while the events are
-- staged and not folded yet; false for rebuilds that fold batch by batch (the older ones, a snapshot's, and a
-- staging rebuild once its fold phase has folded every staged event and dropped the table).
ALTER TABLE rebuild_projection.rebuilds ADD COLUMN staging boolean NOT NULL DEFAULT false;
