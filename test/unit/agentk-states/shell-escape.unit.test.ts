/** Ruby `Shellwords.escape` as spec §7.4 describes it. */
import { describe, expect, it } from 'vitest';

import { shellEscape } from '../../../projections/agentk-states/shell-escape.js';

describe('shellEscape (§7.4)', () => {
  it("turns the empty string into ''", () => {
    expect(shellEscape('')).toBe("''");
  });

  it("leaves the spec's examples as the spec says", () => {
    expect(shellEscape('/projects')).toBe('/projects');
    expect(shellEscape('my dir')).toBe('my\\ dir');
  });

  it('keeps A-Z a-z 0-9 _ - . , : + / @ as they are', () => {
    expect(shellEscape('Az09_-.,:+/@')).toBe('Az09_-.,:+/@');
  });

  it('puts a backslash before every other character, non-ASCII included', () => {
    expect(shellEscape('$HOME')).toBe('\\$HOME');
    expect(shellEscape("it's")).toBe("it\\'s");
    expect(shellEscape('a;b|c&d')).toBe('a\\;b\\|c\\&d');
    expect(shellEscape('é')).toBe('\\é');
  });

  it("turns each newline into ' newline '", () => {
    expect(shellEscape('a\nb')).toBe("a'\n'b");
  });
});
