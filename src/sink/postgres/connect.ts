/** Opening PostgreSQL pools with errors that name the server (never the password). */
import pg from 'pg';
import { connectWithOwnSettings, OWN_SESSION_SETTINGS, refusedSetting } from './session-settings.js';

// bigint columns arrive as strings by default; ids are parsed with zod at the boundary, so keep that.
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

/**
 * How long one connection attempt may take, TCP and startup included: an unreachable or unanswering host fails
 * in seconds instead of the operating system's TCP timeout (minutes). Also how soon an idle connection starts
 * TCP keepalive probes, so that a peer gone without a word (a failover, a dropped NAT entry) is noticed.
 */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The URL without its password, for messages: scheme, user, host, port and database, plus the `host` and
 * `port` parameters of a socket URL. Other parameters (which may hold `password` or `sslpassword`) are left out.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    const kept = [...parsed.searchParams].filter(([name]) => name === 'host' || name === 'port');
    parsed.search = new URLSearchParams(kept).toString();
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/**
 * Each connection attempt bounded, not the wait for a pooled client: pg.Pool's own `connectionTimeoutMillis`
 * would also fail a checkout queued behind long transactions (a rebuild's lock client, a snapshot stream).
 */
class BoundedClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: CONNECT_TIMEOUT_MS });
  }
}

/**
 * Creates a pool and proves it can connect, so a wrong URL fails at once with one clear line. Its sessions
 * carry OWN_SESSION_SETTINGS, but those the server refuses (no lz4, say): it connects without them.
 */
export async function openPool(url: string, role: string, max = 4): Promise<pg.Pool> {
  return (await connectWithOwnSettings((options) => connectPool(url, role, max, options))).connected;
}

async function connectPool(url: string, role: string, max: number, options: string | undefined): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max, application_name: `rebuild-projection (${role})`, Client: BoundedClient, ...(options ? { options } : {}) });
  // A client losing its connection, idle or checked out, must not crash the process with an unheard 'error'
  // event: the query in flight (or the next one) rejects with the failure, which is where it is handled.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    // A refused setting is openPool's to drop (connectWithOwnSettings); it needs the server's own message.
    if (options !== undefined && refusedSetting(error, OWN_SESSION_SETTINGS) !== undefined) throw error;
    const reason = (error as Error).message === 'timeout expired' ? `no answer within ${CONNECT_TIMEOUT_MS / 1000} s` : (error as Error).message;
    throw new DatabaseUnavailableError(`could not connect to the ${role} database ${redactUrl(url)}: ${reason}`, { cause: error });
  }
  return pool;
}
