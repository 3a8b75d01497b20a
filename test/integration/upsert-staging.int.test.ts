/**
 * The live upsert (upsert-agentk-states.ts) through its staging table, against the real PostgreSQL: the rows
 * reach the server by COPY into a temporary table of the session, which each upsert consumes. Two upserts in
 * one transaction, and upserts in successive transactions of one session, each write their own rows only.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/sink/postgres/migrate.js';
import { upsertAgentkStates } from '../../src/sink/postgres/upsert-agentk-states.js';
import type { AgentkStateRow } from '../../projections/agentk-states/projection.js';
import { useFreshGitLabDatabase } from '../support/database.js';
import { readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

const db = useFreshGitLabDatabase('staging.example');

const row = (id: number, replicas: number): AgentkStateRow => ({
  workspaceId: id,
  projectId: 100 + (id % 7),
  desiredConfigJson: JSON.stringify([{ kind: 'Deployment', metadata: { name: `workspace-${id}` }, spec: { replicas } }]),
});

describe('the live upsert through its staging table', () => {
  it('writes each call its own rows, twice in one transaction and across transactions of one session', async () => {
    await migrate(db.pool);
    await upsertWorkspaceRows(db.pool, [1, 2, 3].map((id) => workspaceRow(id)));
    // One connection: the staging table lives in its session.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const inTransaction = async <T>(work: () => Promise<T>): Promise<T> => {
      await client.query('BEGIN');
      const result = await work();
      await client.query('COMMIT');
      return result;
    };
    try {
      const [first, second] = await inTransaction(async () => [
        await upsertAgentkStates(client, [row(1, 1), row(2, 1), row(404, 1)]),
        await upsertAgentkStates(client, [row(3, 1)]),
      ]);
      expect(first).toEqual({ written: 2, unchanged: 0, missingWorkspaceIds: [404] });
      expect(second).toEqual({ written: 1, unchanged: 0, missingWorkspaceIds: [] });
      const again = await inTransaction(() => upsertAgentkStates(client, [row(1, 1), row(2, 0)]));
      expect(again).toEqual({ written: 1, unchanged: 1, missingWorkspaceIds: [] });
    } finally {
      await client.end();
    }
    expect(await readModel(db.pool)).toEqual(new Map([
      [1, [{ kind: 'Deployment', metadata: { name: 'workspace-1' }, spec: { replicas: 1 } }]],
      [2, [{ kind: 'Deployment', metadata: { name: 'workspace-2' }, spec: { replicas: 0 } }]],
      [3, [{ kind: 'Deployment', metadata: { name: 'workspace-3' }, spec: { replicas: 1 } }]],
    ]));
  });
});
