/**
 * Ruby's `Shellwords.escape` (spec §7.4), used for postStart working directories and the project path.
 * Every character outside `A-Za-z0-9_-.,:+/@` and newline gets a backslash (non-ASCII too: Ruby's regex
 * matches them); a newline cannot be backslash-escaped in sh, so it becomes `'` newline `'`.
 */
const SAFE = /^[A-Za-z0-9_\-.,:+/@]$/;

export function shellEscape(text: string): string {
  if (text.length === 0) return "''";
  let out = '';
  for (const char of text) {
    if (char === '\n') out += "'\n'";
    else if (SAFE.test(char)) out += char;
    else out += `\\${char}`;
  }
  return out;
}
