-- docker compose's demo data, run after GitLab's schema (001) and GitLab's seed workspace (002, cluster agent 1):
-- the agent config of cluster agent 1, and 19 more workspaces like the seed one, so the demo has 20 to project.
INSERT INTO workspaces_agent_configs (created_at, updated_at, cluster_agent_id, project_id, enabled, dns_zone)
VALUES ('2025-09-01 00:00:00+00', '2025-09-01 00:00:00+00', 1, 60, true, 'workspaces.demo.example');

INSERT INTO workspaces (created_at, updated_at, user_id, project_id, cluster_agent_id, desired_state_updated_at,
                        name, namespace, desired_state, actual_state, devfile_path, devfile, processed_devfile,
                        workspaces_agent_config_version, desired_config_generator_version, project_ref)
SELECT created_at, updated_at, user_id, project_id, cluster_agent_id, desired_state_updated_at,
       'demo-workspace-' || n, 'demo_workspace_' || n || '_namespace',
       CASE WHEN n % 4 = 0 THEN 'Stopped' ELSE 'Running' END, actual_state, devfile_path, devfile, processed_devfile,
       workspaces_agent_config_version, desired_config_generator_version, project_ref
FROM workspaces, generate_series(1, 19) AS n
WHERE name = 'workspace-2';
