/**
 * A bare NDJSON file's checkpoint (topic `file:<file name>`, offset = line − 1) belongs to the file it was made
 * from: the same file, grown, resumes there; another file of the same name is refused instead of having its
 * first lines skipped, until it is replayed with --from-beginning.
 */
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { insertAgentConfig } from '../support/gitlab-rows.js';
import { asJson, createdEvent, readModel, upsertWorkspaceRows, workspaceRow } from '../support/workspace-events.js';

let db: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'file-identity-int-'));

beforeEach(async () => {
  db = await createTestDatabase();
  await insertAgentConfig(db.pool, { cluster_agent_id: 1, dns_zone: 'file-identity.example' });
  await upsertWorkspaceRows(db.pool, [1, 2, 3, 4, 5].map((id) => workspaceRow(id)));
});

afterEach(async () => {
  await db.drop();
});

/** NDJSON lines creating these workspaces. */
function lines(ids: number[]): string {
  return ids.map((id) => `${asJson(createdEvent(workspaceRow(id))).value!.toString('utf8')}\n`).join('');
}

function fileIn(subdir: string, ids: number[]): string {
  mkdirSync(join(dir, subdir), { recursive: true });
  const path = join(dir, subdir, 'events.ndjson');
  writeFileSync(path, lines(ids));
  return path;
}

const replay = (path: string, start: '--from-checkpoint' | '--from-beginning') =>
  runCli(['agentk-states', '--source', `file:${path}`, '--database-url', db.url, start]);

describe('a bare NDJSON file and its checkpoint', () => {
  it('resume for the same file grown, refuse another file of that name, and --from-beginning replays it', async () => {
    const first = fileIn(`a-${Date.now()}`, [1, 2]);
    expect((await replay(first, '--from-checkpoint')).code).toBe(0);
    appendFileSync(first, lines([5]));
    expect((await replay(first, '--from-checkpoint')).code).toBe(0);
    expect([...(await readModel(db.pool)).keys()]).toEqual([1, 2, 5]);

    const other = fileIn(`b-${Date.now()}`, [3, 4]);
    const refused = await replay(other, '--from-checkpoint');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the checkpoint of file:events.ndjson (line 4) was made from another file of that name');
    // Before: exit 0, lines 1–3 of the other file skipped as applied, workspaces 3 and 4 without a row.
    expect([...(await readModel(db.pool)).keys()]).toEqual([1, 2, 5]);

    expect((await replay(other, '--from-beginning')).code).toBe(0);
    expect([...(await readModel(db.pool)).keys()]).toEqual([1, 2, 3, 4, 5]);
    // The name is now the other file's: resuming it applies nothing more and is not refused.
    expect((await replay(other, '--from-checkpoint')).code).toBe(0);
  });
});
