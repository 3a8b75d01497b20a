-- The rebuilder's own bookkeeping. Everything lives in schema rebuild_projection: GitLab's tables are
-- never altered, and the only GitLab table ever written is workspace_agentk_states.

CREATE TABLE rebuild_projection.dead_letters (
    id bigserial PRIMARY KEY,
    projection text NOT NULL,
    -- 'workspace:<id>' when the workspace is known, else 'message:<topic>:<partition>:<offset>'.
    -- One row per failing thing: a repeated failure bumps attempts and last_seen_at.
    dead_letter_key text NOT NULL,
    workspace_id bigint,
    source text NOT NULL,
    topic text,
    kafka_partition integer,
    kafka_offset bigint,
    message_key text,
    error_kind text NOT NULL,
    error_path text,
    message text NOT NULL,
    input_excerpt text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 1,
    UNIQUE (projection, dead_letter_key)
);
CREATE INDEX dead_letters_workspace_id ON rebuild_projection.dead_letters (projection, workspace_id);

CREATE TABLE rebuild_projection.runs (
    id bigserial PRIMARY KEY,
    projection text NOT NULL,
    mode text NOT NULL,
    source text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'succeeded_with_dead_letters', 'failed')),
    written bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    error text
);
