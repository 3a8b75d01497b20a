/** --schema-registry's settings as the registry client takes them: the password and CA files read here, once. */
import { readFileSync } from 'node:fs';
import type { SchemaRegistryConfig } from '../events/codec/schema-registry.js';
import type { SchemaRegistryArgs } from './options.js';
import { UsageError } from './usage-error.js';

export function schemaRegistryConfig(args: SchemaRegistryArgs, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): SchemaRegistryConfig {
  const read = (flag: string, path: string): string => {
    try {
      return readFile(path);
    } catch (error) {
      throw new UsageError(`--${flag} ${path}: cannot read it: ${(error as Error).message}`);
    }
  };
  const password = args.password === undefined ? undefined : 'value' in args.password ? args.password.value : read('registry-password-file', args.password.file).replace(/\r?\n$/, '');
  return {
    url: args.url,
    username: args.user,
    password,
    ca: args.caFile === undefined ? undefined : read('registry-ca', args.caFile),
  };
}
