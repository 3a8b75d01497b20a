/** Opening PostgreSQL pools with errors that name the server (never the password). */
import pg from 'pg';

// bigint columns arrive as strings by default; ids are parsed with zod at the boundary, so keep that.
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** Creates a pool and proves it can connect, so a wrong URL fails at once with one clear line. */
export async function openPool(url: string, role: string, max = 4): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max, application_name: `rebuild-projection (${role})` });
  // A client losing its connection, idle or checked out, must not crash the process with an unheard 'error'
  // event: the query in flight (or the next one) rejects with the failure, which is where it is handled.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DatabaseUnavailableError(`could not connect to the ${role} database ${redactUrl(url)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return pool;
}
