/** Our own PostgreSQL sessions write TOASTed values with lz4, and a server refusing the setting is recognized. */
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { openPool } from '../../src/sink/postgres/connect.js';
import { refusesSessionSettings, sessionOptions } from '../../src/sink/postgres/session-settings.js';

describe('the rebuilder’s session settings', () => {
  it('are set on every session of a pool openPool opens', async () => {
    const pool = await openPool(inject('postgresAdminUrl'), 'target');
    try {
      expect((await pool.query('SHOW default_toast_compression')).rows[0]).toEqual({ default_toast_compression: 'lz4' });
      const client = await pool.connect();
      try {
        expect((await client.query('SHOW default_toast_compression')).rows[0]).toEqual({ default_toast_compression: 'lz4' });
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  it("recognize the server refusing one of them (the fallback's trigger), and nothing else", async () => {
    const refused = new pg.Client({ connectionString: inject('postgresAdminUrl'), options: sessionOptions({ default_toast_compression: 'no-such-method' }) });
    const error = await refused.connect().then(() => undefined, (e: unknown) => e);
    await refused.end().catch(() => undefined);
    expect(error).toBeInstanceOf(Error);
    expect(refusesSessionSettings(error)).toBe(true);

    const url = new URL(inject('postgresAdminUrl'));
    url.pathname = '/no_such_database_for_this_test';
    const other = new pg.Client({ connectionString: url.toString() });
    const otherError = await other.connect().then(() => undefined, (e: unknown) => e);
    await other.end().catch(() => undefined);
    expect(otherError).toBeInstanceOf(Error);
    expect(refusesSessionSettings(otherError)).toBe(false);
  });
});
