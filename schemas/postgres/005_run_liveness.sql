-- A run killed with -9 never finishes its row. Each run now holds a session-level advisory lock keyed by its
-- id on a connection of its own for its whole life (taken in the transaction that inserts the row, so no one
-- sees the row unlocked); a 'running' row whose lock is free belongs to a process that is gone, whatever its
-- host, and the next run (or --status) marks it 'crashed'. session_pid is that connection's backend pid, for
-- operators (pg_stat_activity, pg_terminate_backend).
ALTER TABLE rebuild_projection.runs ADD COLUMN session_pid integer;
ALTER TABLE rebuild_projection.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE rebuild_projection.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'succeeded_with_dead_letters', 'failed', 'crashed'));
