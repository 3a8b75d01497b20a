-- What a bare NDJSON file's checkpoint was made from. Its lines are positioned as topic `file:<file name>`,
-- offset = line − 1, so another file of the same name would resume at the first one's checkpoint and skip its
-- own first lines without a word. A replay from the checkpoint is refused when the file's first record differs
-- from the one recorded here (file-replayer.ts); --from-beginning records the new one.
CREATE TABLE rebuild_projection.file_identities (
    projection text NOT NULL,
    topic text NOT NULL,
    first_record_sha256 text NOT NULL,
    PRIMARY KEY (projection, topic)
);
