-- Rebuilds from a file (`--source file:PATH`): the source may be 'file', and the rebuild records which file
-- (its topic name, `file:<basename>`), so that a rebuild from another file starts afresh instead of resuming.
ALTER TABLE rebuild_projection.rebuilds
    DROP CONSTRAINT rebuilds_source_check,
    ADD CONSTRAINT rebuilds_source_check CHECK (source IN ('kafka', 'snapshot', 'file')),
    ADD COLUMN source_file text;
