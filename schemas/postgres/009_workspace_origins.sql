-- Where each folded version came from (fold.ts, `--explain`): per workspace, the origins of its last 50 versions.
-- seq numbers a workspace's origins from 1 without gaps; the table is a ring of 50 slots (slot = seq % 50), so
-- an append overwrites the oldest kept origin and the last seq tells how many were ever recorded. An event's
-- origin is its kind and Kafka position; a snapshot row's is the snapshot's time. A table of its own rather than
-- a list inside workspace_states: the follow hot path then writes one small row per applied event instead of
-- rewriting a growing list with every state (a batch of 250 updates took about 50% longer with the list inline).
-- States folded before this migration have no origins for their earlier versions.
CREATE TABLE rebuild_projection.workspace_origins (
    projection text NOT NULL,
    workspace_id bigint NOT NULL,
    slot integer NOT NULL,
    seq bigint NOT NULL,
    version bigint NOT NULL,
    kind text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'full-row', 'snapshot')),
    topic text,
    kafka_partition integer,
    kafka_offset bigint,
    snapshot_taken_at timestamptz,
    PRIMARY KEY (projection, workspace_id, slot),
    CHECK (CASE WHEN kind = 'snapshot' THEN snapshot_taken_at IS NOT NULL
                ELSE topic IS NOT NULL AND kafka_partition IS NOT NULL AND kafka_offset IS NOT NULL END)
);
