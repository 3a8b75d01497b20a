-- The processed devfile (often the bulk of a folded state) gets its own column, so that a state update that
-- does not change it keeps the stored (TOASTed) value instead of rewriting kilobytes per event.
ALTER TABLE rebuild_projection.workspace_states ADD COLUMN processed_devfile text;
UPDATE rebuild_projection.workspace_states
   SET processed_devfile = workspace ->> 'processed_devfile', workspace = workspace - 'processed_devfile'
 WHERE workspace ? 'processed_devfile';
