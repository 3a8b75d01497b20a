/**
 * The README's configuration reference, generated from OPTIONS (flag, environment variable, config key,
 * default, meaning) so that it cannot drift: `npm run docs` writes it between the markers, and a unit test
 * fails when the README's block differs from what this generates.
 */
import { envVarOf, OPTION_ENTRIES, readsFrom, type OptionSpec } from './options.js';

export const REFERENCE_BEGIN = '<!-- options reference: generated from src/cli/options.ts by `npm run docs`; do not edit by hand -->';
export const REFERENCE_END = '<!-- end of options reference -->';

/** A table cell: `|` would end it. */
const cell = (text: string) => text.replaceAll('|', '\\|');
const code = (text: string) => `\`${cell(text)}\``;

function defaultCell(spec: OptionSpec): string {
  if (spec.default !== undefined) return code(spec.default);
  return spec.defaultText === undefined ? '' : cell(spec.defaultText);
}

/** The markdown table, one row per option in declaration order. */
export function optionsReference(): string {
  const rows = OPTION_ENTRIES.map(([name, spec]) => {
    const flag = code(`--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`) + (spec.short === undefined ? '' : `, ${code(`-${spec.short}`)}`);
    const env = readsFrom(spec, 'env') ? [envVarOf(name), spec.fallbackEnv].filter((v) => v !== undefined).map(code).join(', then ') : '';
    const key = readsFrom(spec, 'file') ? code(name) : '';
    const meaning = cell(spec.help) + (spec.secret ? ' (a secret: never printed in full)' : '');
    return `| ${flag} | ${env} | ${key} | ${defaultCell(spec)} | ${meaning} |`;
  });
  return ['| flag | environment | config key | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** `readme` with the block between the markers replaced by the current reference. */
export function withReference(readme: string): string {
  const begin = readme.indexOf(REFERENCE_BEGIN);
  const end = readme.indexOf(REFERENCE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the markers ${REFERENCE_BEGIN} … ${REFERENCE_END}`);
  return `${readme.slice(0, begin + REFERENCE_BEGIN.length)}\n${optionsReference()}\n${readme.slice(end)}`;
}
