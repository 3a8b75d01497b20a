-- Rebuilds from zero: each builds a shadow copy of the read model, then switches it in with one merge
-- transaction (README, "Rebuild"). The previous contents of every row the switch changed are kept for
-- --rollback until the next rebuild switches.

CREATE TABLE rebuild_projection.rebuilds (
    id bigserial PRIMARY KEY,
    projection text NOT NULL,
    source text NOT NULL CHECK (source IN ('kafka', 'snapshot')),
    -- Where the shadow's folded states and checkpoints live in workspace_states/checkpoints.
    shadow_projection text NOT NULL UNIQUE,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    phase text NOT NULL DEFAULT 'building'
        CHECK (phase IN ('building', 'catching_up', 'switched', 'failed', 'abandoned', 'rolled_back')),
    -- Snapshot source: the last workspace id written to the shadow, and when the first snapshot was taken.
    snapshot_after_id bigint,
    snapshot_taken_at timestamptz,
    -- Kafka end offsets recorded when the build started ({"topic:partition": "offset"}), for progress and handoff.
    start_offsets jsonb,
    total bigint,
    done bigint NOT NULL DEFAULT 0,
    built_at timestamptz,
    switched_at timestamptz,
    inserted bigint,
    updated bigint,
    deleted bigint,
    error text
);
-- At most one unfinished rebuild per projection: a crashed one is resumed, not duplicated.
CREATE UNIQUE INDEX rebuilds_one_in_progress ON rebuild_projection.rebuilds (projection)
    WHERE phase IN ('building', 'catching_up');

CREATE TABLE rebuild_projection.shadow_agentk_states (
    rebuild_id bigint NOT NULL REFERENCES rebuild_projection.rebuilds (id) ON DELETE CASCADE,
    workspace_id bigint NOT NULL,
    project_id bigint NOT NULL,
    desired_config jsonb NOT NULL,
    PRIMARY KEY (rebuild_id, workspace_id)
);

-- The undo log of the last switch: a row's contents before the switch (existed = false: the switch inserted it).
CREATE TABLE rebuild_projection.previous_agentk_states (
    rebuild_id bigint NOT NULL REFERENCES rebuild_projection.rebuilds (id) ON DELETE CASCADE,
    workspace_id bigint NOT NULL,
    existed boolean NOT NULL,
    project_id bigint,
    desired_config jsonb,
    created_at timestamptz,
    updated_at timestamptz,
    PRIMARY KEY (rebuild_id, workspace_id)
);
