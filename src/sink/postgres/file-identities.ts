/**
 * What each bare NDJSON file's checkpoint was made from (migration 014): the sha256 of its first record.
 * Read and written in the transaction of the file's first batch, locked against a concurrent replay.
 */
import type { Session } from './database.js';
import { BOOKKEEPING_SCHEMA } from './migrate.js';

/** The recorded identity of `topic` (undefined: none yet), locked for the caller's transaction. */
export async function lockFileIdentity(client: Session, projection: string, topic: string): Promise<string | undefined> {
  const { rows } = await client.query<{ first_record_sha256: string }>(
    `SELECT first_record_sha256 FROM ${BOOKKEEPING_SCHEMA}.file_identities WHERE projection = $1 AND topic = $2 FOR UPDATE`,
    [projection, topic],
  );
  return rows[0]?.first_record_sha256;
}

export async function saveFileIdentity(client: Session, projection: string, topic: string, sha256: string): Promise<void> {
  await client.query(
    `INSERT INTO ${BOOKKEEPING_SCHEMA}.file_identities (projection, topic, first_record_sha256) VALUES ($1, $2, $3)
     ON CONFLICT (projection, topic) DO UPDATE SET first_record_sha256 = EXCLUDED.first_record_sha256`,
    [projection, topic, sha256],
  );
}
