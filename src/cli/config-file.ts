/**
 * The optional `--config FILE`: a YAML mapping of option names (the flags without `--`) to values.
 * Read with YAML's failsafe schema, so every value is text exactly as written (`group: 0123` stays
 * `0123`, `since: 2026-01-01` is not a Date) and goes through the option's own schema, as an
 * environment variable's does. A list is the same as its comma-separated items.
 */
import yaml from 'js-yaml';
import { z } from 'zod';
import { UsageError } from './usage-error.js';

const documentSchema = z.union([z.undefined(), z.record(z.string(), z.unknown())]);
const valueSchema = z.union([z.null(), z.string(), z.array(z.string())]);

/** A key's value: its text, or undefined when the key has no value (`batch-size:`), as an empty variable. */
export type ConfigValues = Map<string, string | undefined>;

/** Parses the file's text; `path` names it in errors (`config.yaml:3: …`, `config.yaml: batch-size …`). */
export function parseConfigFile(text: string, path: string): ConfigValues {
  let document: unknown;
  try {
    document = yaml.load(text, { filename: path, schema: yaml.FAILSAFE_SCHEMA });
  } catch (error) {
    if (!(error instanceof yaml.YAMLException)) throw error;
    // A document-level error (two documents in one file) has no position.
    throw new UsageError(`${error.mark ? `${path}:${error.mark.line + 1}` : path}: ${error.reason}`);
  }
  const mapping = documentSchema.safeParse(document);
  if (!mapping.success) throw new UsageError(`${path}: must be a mapping of option names to values (e.g. "batch-size: 500")`);
  const values: ConfigValues = new Map();
  for (const [key, raw] of Object.entries(mapping.data ?? {})) {
    // Never the value in the message: it may be a password.
    const value = valueSchema.safeParse(raw);
    if (!value.success) throw new UsageError(`${path}: ${key} must be a value or a list of values`);
    values.set(key, value.data === null ? undefined : Array.isArray(value.data) ? value.data.join(',') : value.data);
  }
  return values;
}
