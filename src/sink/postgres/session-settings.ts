/**
 * Settings of the rebuilder's own PostgreSQL sessions, sent as startup parameters (no extra round trip).
 *
 * default_toast_compression = lz4: the desired configs (about 17 KiB of JSON each) and the folded states'
 * devfiles are TOASTed; lz4 compresses them several times faster than pglz (PostgreSQL's default), which
 * was a large part of every write's CPU. It only chooses how the values this session writes are compressed:
 * the tables' definitions are untouched (never ALTER TABLE), and every reader decompresses either kind.
 *
 * jit = off: a batch's statements (a thousand index lookups or upserts) are short, but the planner's cost
 * estimate for them passes jit_optimize_above_cost (more so on a table autovacuum has not analyzed yet), and
 * then every batch paid for compiling its statement with LLVM: measured on the follow benchmark at N = 100,000
 * (agent reports), about 0.5 s of PostgreSQL CPU per 1,000-event read, 6.7× the server CPU of the whole
 * stream against jit = off. Our statements run once per batch with new parameters, so compiled code is never
 * reused long enough to pay.
 *
 * A server that refuses one of them (lz4 needs PostgreSQL 14 built with it; jit needs 11) is connected to
 * without that one (see openPool).
 */
export const OWN_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  default_toast_compression: 'lz4',
  jit: 'off',
};

/** The settings as libpq's `options` startup parameter (`-c name=value …`). */
export function sessionOptions(settings: Readonly<Record<string, string>> = OWN_SESSION_SETTINGS): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/** The setting of `settings` a connection failure says the server refused, if it is one. */
export function refusedSetting(error: unknown, settings: Readonly<Record<string, string>>): string | undefined {
  const message = (error as { message?: unknown } | undefined)?.message;
  if (typeof message !== 'string') return undefined;
  return Object.keys(settings).find((name) => message.includes(`"${name}"`));
}

/**
 * Connects with `wanted` settings (`connect` gets them as the `options` startup parameter; undefined: none
 * left); a setting the server refuses is dropped and the connection tried again without it, so one refused
 * setting does not cost the others. Any other failure is `connect`'s own.
 */
export async function connectWithOwnSettings<T>(
  connect: (options: string | undefined) => Promise<T>,
  wanted: Readonly<Record<string, string>> = OWN_SESSION_SETTINGS,
): Promise<{ connected: T; settings: Readonly<Record<string, string>> }> {
  let settings = wanted;
  for (;;) {
    try {
      const options = Object.keys(settings).length === 0 ? undefined : sessionOptions(settings);
      return { connected: await connect(options), settings };
    } catch (error) {
      const refused = refusedSetting(error, settings);
      if (refused === undefined) throw error;
      settings = Object.fromEntries(Object.entries(settings).filter(([name]) => name !== refused));
    }
  }
}
