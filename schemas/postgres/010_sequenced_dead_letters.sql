-- Dead letters you can retry (README, "Dead letters"). A bad message's letter keeps the whole message (key,
-- value, timestamp; bounded by what Kafka carries) so that --retry-dead-letters can decode it again after a
-- fix; letters written before this migration have only the excerpt (raw_kept false) and can only be purged.
ALTER TABLE rebuild_projection.dead_letters
    ADD COLUMN raw_kept boolean NOT NULL DEFAULT false,
    ADD COLUMN raw_key bytea,
    ADD COLUMN raw_value bytea,
    ADD COLUMN raw_timestamp text;

-- A sequenced dead-letter queue: once a workspace's message is bad, its later messages wait here, in their
-- partition order, instead of being folded out of order. Per fold namespace (projection), like the folded
-- states: a rebuild's shadow holds its own and adopts them at its switch. A row with dead_letter_key is the
-- bad message itself (its bytes are in dead_letters); the others carry their own bytes.
CREATE TABLE rebuild_projection.held_events (
    projection text NOT NULL,
    workspace_id bigint NOT NULL,
    topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    dead_letter_key text,
    raw_key bytea,
    raw_value bytea,
    raw_timestamp text,
    held_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, kafka_partition, kafka_offset)
);
CREATE INDEX held_events_workspace ON rebuild_projection.held_events (projection, workspace_id);
