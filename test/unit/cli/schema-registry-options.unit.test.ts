import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../../src/cli/options.js';
import { schemaRegistryConfig } from '../../../src/cli/schema-registry-config.js';
import { UsageError } from '../../../src/cli/usage-error.js';

const URL = 'https://registry.example:8443/apis/ccompat/v7';
const parse = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(['agentk-states', ...argv], env);

describe('the schema registry options', () => {
  it('reads the URL, the user and a password from the environment, and the CA', () => {
    const args = parse(['--schema-registry', URL, '--registry-user', 'reader', '--registry-ca', '/etc/ca.pem'], { REBUILD_PROJECTION_REGISTRY_PASSWORD: 's3cret' });
    expect(args.schemaRegistry).toEqual({ url: URL, user: 'reader', password: { value: 's3cret' }, caFile: '/etc/ca.pem' });
    expect(parse([]).schemaRegistry).toBeUndefined();
    expect(parse([], { REBUILD_PROJECTION_SCHEMA_REGISTRY: 'http://r:8080' }).schemaRegistry).toMatchObject({ url: 'http://r:8080' });
  });

  it('refuses a URL that holds credentials (it is printed in messages and dead letters), without printing them', () => {
    let error: unknown;
    try {
      parse(['--schema-registry', 'https://reader:s3cret@registry.example/apis/ccompat/v7']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^--schema-registry must not hold a user or password: use --registry-user/);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('reads the password file and the CA file when the decoder is made, naming a file it cannot read', () => {
    const files: Record<string, string> = { '/run/secrets/registry': 's3cret\n', '/etc/ca.pem': '-----BEGIN CERTIFICATE-----\n' };
    const read = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error('ENOENT: no such file or directory');
      return text;
    };
    const args = parse(['--schema-registry', URL, '--registry-user', 'reader', '--registry-password-file', '/run/secrets/registry', '--registry-ca', '/etc/ca.pem']);
    expect(schemaRegistryConfig(args.schemaRegistry!, read)).toEqual({ url: URL, username: 'reader', password: 's3cret', ca: '-----BEGIN CERTIFICATE-----\n' });
    const missing = parse(['--schema-registry', URL, '--registry-ca', '/nowhere.pem']);
    expect(() => schemaRegistryConfig(missing.schemaRegistry!, read)).toThrow(new UsageError('--registry-ca /nowhere.pem: cannot read it: ENOENT: no such file or directory'));
  });

  it('refuses what does not go together, naming it', () => {
    const refused = (argv: string[], message: string) => expect(() => parse(argv)).toThrow(message);
    refused(['--schema-registry', 'registry:8080'], '--schema-registry must be an http:// or https:// URL');
    refused(['--registry-user', 'reader', '--registry-password', 'x'], '--registry-user goes with --schema-registry');
    refused(['--schema-registry', URL, '--registry-user', 'reader'], '--registry-user and a password (--registry-password or --registry-password-file) go together');
    refused(['--schema-registry', URL, '--registry-password', 'x'], '--registry-user and a password');
    refused(['--schema-registry', URL, '--registry-user', 'r', '--registry-password', 'x', '--registry-password-file', 'f'], 'choose one of --registry-password, --registry-password-file');
    refused(['--schema-registry', 'http://registry:8080', '--registry-ca', 'ca.pem'], '--registry-ca goes with an https:// --schema-registry');
  });

  it('never prints the password', () => {
    expect(() => parse(['--schema-registry', URL, '--registry-password', 'hunter2'])).toThrow(/^(?!.*hunter2)/);
  });
});
