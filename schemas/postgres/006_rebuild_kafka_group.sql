-- Each rebuild consumes in its own Kafka consumer group, `<group>.rebuild-<kafka_group_uuid>` (README,
-- "Rebuild"). The id alone (a per-database serial) made two rebuilds into two databases share one group and
-- split its partitions, so neither reached the end.
ALTER TABLE rebuild_projection.rebuilds ADD COLUMN kafka_group_uuid uuid NOT NULL DEFAULT gen_random_uuid();
