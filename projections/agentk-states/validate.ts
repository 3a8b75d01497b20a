/**
 * GitLab's checks of a finished desired-config array (spec §9). Returns the error messages, worded as
 * GitLab words them; an empty list means valid. Never throws, whatever `value` is.
 *
 * Checks 1–3 are GitLab's. GitLab's per-kind JSON schemas (check 4) are not public; the shape check here
 * is the minimum every object of §5 satisfies (messages are ours).
 */
import { Buffer } from 'node:buffer';

/** 64 KB, measured on the compact JSON serialization in UTF-8 bytes. */
export const MAX_DESIRED_CONFIG_BYTES = 65_536;

/** §9.3: the expected order, as (kind, name suffix) patterns; `undefined` matches any name. */
const ORDER: ReadonlyArray<readonly [kind: string, nameSuffix: string | undefined]> = [
  ['ConfigMap', 'workspace-inventory'],
  ['Deployment', undefined],
  ['Service', undefined],
  ['PersistentVolumeClaim', undefined],
  ['ServiceAccount', undefined],
  ['NetworkPolicy', undefined],
  ['ConfigMap', 'scripts-configmap'],
  ['ConfigMap', 'secrets-inventory'],
  ['ResourceQuota', undefined],
  ['Secret', 'env-var'],
  ['Secret', 'file'],
];

const KNOWN_KINDS = new Set(ORDER.map(([kind]) => kind));

type Item = { readonly [key: string]: unknown };

function isItem(value: unknown): value is Item {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: unknown, key: string): unknown {
  return isItem(value) && Object.prototype.hasOwnProperty.call(value, key) ? value[key] : undefined;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

/** `Kind/name`, the identity GitLab's order check uses. */
function identity(item: unknown): { kind: string; name: string; id: string } {
  const kind = text(field(item, 'kind'));
  const name = text(field(field(item, 'metadata'), 'name'));
  return { kind, name, id: `${kind}/${name}` };
}

function serializedBytes(value: unknown[]): number | undefined {
  try {
    const json = JSON.stringify(value);
    return typeof json === 'string' ? Buffer.byteLength(json, 'utf8') : undefined;
  } catch {
    return undefined; // cycles, BigInt: not JSON
  }
}

function isStringMap(value: unknown): boolean {
  return isItem(value) && Object.values(value).every((entry) => typeof entry === 'string');
}

/** §9.4, the minimal shape. */
function shapeErrors(item: unknown, index: number): string[] {
  const where = `item at index ${index}`;
  if (!isItem(item)) return [`${where} must be an object`];
  const errors: string[] = [];
  if (typeof item['apiVersion'] !== 'string') errors.push(`${where} must have a string apiVersion`);
  const kind = item['kind'];
  if (typeof kind !== 'string' || !KNOWN_KINDS.has(kind)) {
    errors.push(`${where} has an unsupported kind ${JSON.stringify(kind ?? null)}`);
  }
  const metadata = item['metadata'];
  if (!isItem(metadata)) errors.push(`${where} must have a metadata object`);
  else {
    for (const key of ['name', 'namespace']) {
      const value = metadata[key];
      if (typeof value !== 'string' || value === '') errors.push(`${where} must have a metadata.${key}`);
    }
    for (const key of ['labels', 'annotations']) {
      if (metadata[key] !== undefined && !isStringMap(metadata[key])) {
        errors.push(`${where} metadata.${key} must map strings to strings`);
      }
    }
  }
  return errors;
}

/**
 * @param serialized the compact JSON text of `value` (`JSON.stringify(value)`), when the caller already has
 *   it: the size rule then measures it instead of serializing again.
 */
export function validateDesiredConfig(value: unknown, serialized?: string): string[] {
  if (!Array.isArray(value)) return ['must be an array'];
  if (value.length === 0) return ['must not be empty'];

  const errors: string[] = [];
  const bytes = serialized === undefined ? serializedBytes(value) : Buffer.byteLength(serialized, 'utf8');
  if (bytes === undefined) errors.push('must be serializable as JSON');
  else if (bytes > MAX_DESIRED_CONFIG_BYTES) errors.push('is too large. Maximum size allowed is 64 KB');

  const items = value.map(identity);
  const expected: string[] = [];
  for (const [kind, suffix] of ORDER) {
    for (const item of items) {
      if (item.kind === kind && (suffix === undefined || item.name.endsWith(suffix))) expected.push(item.id);
    }
  }
  items.forEach((item, index) => {
    const position = expected.indexOf(item.id);
    if (position === -1) errors.push(`item ${item.id} at index ${index} is unexpected`);
    else if (position !== index) errors.push(`item ${item.id} at index ${index} must be at ${position}`);
  });

  value.forEach((item, index) => errors.push(...shapeErrors(item, index)));
  return errors;
}
