/**
 * Our own PostgreSQL sessions write TOASTed values with lz4 and never JIT-compile, and a setting the server
 * refuses costs only itself.
 */
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { openPool } from '../../src/sink/postgres/connect.js';
import { connectWithOwnSettings, refusedSetting } from '../../src/sink/postgres/session-settings.js';

const SETTINGS = 'SELECT current_setting($1) AS toast, current_setting($2) AS jit';
const shown = async (session: pg.Pool | pg.PoolClient | pg.Client) =>
  (await session.query(SETTINGS, ['default_toast_compression', 'jit'])).rows[0] as { toast: string; jit: string };

async function connectError(url: string, options?: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, ...(options === undefined ? {} : { options }) });
  const error = await client.connect().then(() => undefined, (e: unknown) => e);
  await client.end().catch(() => undefined);
  return error;
}

describe('the rebuilder’s session settings', () => {
  it('are set on every session of a pool openPool opens', async () => {
    const pool = await openPool(inject('postgresAdminUrl'), 'target');
    try {
      expect(await shown(pool)).toEqual({ toast: 'lz4', jit: 'off' });
      const client = await pool.connect();
      try {
        expect(await shown(client)).toEqual({ toast: 'lz4', jit: 'off' });
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  it('name the setting a server refuses, and nothing for another failure', async () => {
    const wanted = { default_toast_compression: 'no-such-method', jit: 'off' };
    const refused = await connectError(inject('postgresAdminUrl'), '-c default_toast_compression=no-such-method');
    expect(refused).toBeInstanceOf(Error);
    expect(refusedSetting(refused, wanted)).toBe('default_toast_compression');
    const unknown = await connectError(inject('postgresAdminUrl'), '-c nosuchsetting=1');
    expect(unknown).toBeInstanceOf(Error);
    expect(refusedSetting(unknown, { nosuchsetting: '1' })).toBe('nosuchsetting');

    const url = new URL(inject('postgresAdminUrl'));
    url.pathname = '/no_such_database_for_this_test';
    const other = await connectError(url.toString());
    expect(other).toBeInstanceOf(Error);
    expect(refusedSetting(other, wanted)).toBeUndefined();
  });

  it('drop only the setting the server refuses and keep the others', async () => {
    const tried: (string | undefined)[] = [];
    const { connected, settings } = await connectWithOwnSettings(async (options) => {
      tried.push(options);
      const client = new pg.Client({ connectionString: inject('postgresAdminUrl'), ...(options === undefined ? {} : { options }) });
      await client.connect().catch(async (error: unknown) => {
        await client.end().catch(() => undefined);
        throw error;
      });
      return client;
    }, { default_toast_compression: 'no-such-method', jit: 'off' });
    try {
      expect(settings).toEqual({ jit: 'off' });
      expect(tried).toEqual(['-c default_toast_compression=no-such-method -c jit=off', '-c jit=off']);
      expect((await shown(connected)).jit).toBe('off');
    } finally {
      await connected.end();
    }
  });

  it('leave a failure that is not a refused setting to the caller', async () => {
    let attempts = 0;
    const failing = connectWithOwnSettings(async () => {
      attempts++;
      throw new Error('connect ECONNREFUSED 127.0.0.1:1');
    });
    await expect(failing).rejects.toThrow('ECONNREFUSED');
    expect(attempts).toBe(1);
  });
});
