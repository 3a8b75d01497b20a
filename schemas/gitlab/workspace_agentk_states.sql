-- GitLab's own definition of the read model (GitLab 18.1, CreateWorkspaceAgentkStatesTable). Applied only
-- when the table is missing; the rebuilder never alters it.
CREATE TABLE workspace_agentk_states (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    workspace_id bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    project_id bigint NOT NULL,
    desired_config jsonb NOT NULL
);
CREATE UNIQUE INDEX index_workspace_agentk_states_on_workspace_id ON workspace_agentk_states (workspace_id);
CREATE INDEX index_workspace_agentk_states_on_project_id ON workspace_agentk_states (project_id);
