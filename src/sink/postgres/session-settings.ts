/**
 * Settings of the rebuilder's own PostgreSQL sessions, sent as startup parameters (no extra round trip).
 *
 * default_toast_compression = lz4: the desired configs (about 17 KiB of JSON each) and the folded states'
 * devfiles are TOASTed; lz4 compresses them several times faster than pglz (PostgreSQL's default), which
 * was a large part of every write's CPU. It only chooses how the values this session writes are compressed:
 * the tables' definitions are untouched (never ALTER TABLE), and every reader decompresses either kind.
 * A server built without lz4 (or older than PostgreSQL 14) refuses the parameter: the pool then connects
 * without it (see openPool).
 */
export const OWN_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  default_toast_compression: 'lz4',
};

/** The settings as libpq's `options` startup parameter (`-c name=value …`). */
export function sessionOptions(settings: Readonly<Record<string, string>> = OWN_SESSION_SETTINGS): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/** Whether a connection failure is the server refusing one of OWN_SESSION_SETTINGS. */
export function refusesSessionSettings(error: unknown): boolean {
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && Object.keys(OWN_SESSION_SETTINGS).some((name) => message.includes(`"${name}"`));
}
