-- Kafka replay bookkeeping. Written in the same transaction as the read-model rows they explain, so the
-- three always agree (exactly-once effect): checkpoint, folded state, rows.

-- Next offset to apply per topic partition; the consumer seeks here on every assignment.
CREATE TABLE rebuild_projection.checkpoints (
    projection text NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, kafka_partition)
);

-- Each workspace's folded state: its create plus every later change, the version reached, and the agent
-- config its create carried (null: resolved from GitLab's tables at generation time).
CREATE TABLE rebuild_projection.workspace_states (
    projection text NOT NULL,
    workspace_id bigint NOT NULL,
    version bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    workspace jsonb,
    agent_config jsonb,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, workspace_id),
    CHECK (deleted OR workspace IS NOT NULL)
);

-- Updates that arrived before their workspace's create (another topic, no ordering across topics).
CREATE TABLE rebuild_projection.parked_updates (
    projection text NOT NULL,
    workspace_id bigint NOT NULL,
    version bigint NOT NULL,
    changes jsonb NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, workspace_id, version)
);
