/** Small helpers for handling untyped decoded values before zod sees them. */
import { bigintId } from '../../../projections/agentk-states/inputs.js';

export type UnknownObject = Record<string, unknown>;

export function isObject(value: unknown): value is UnknownObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A workspace id for error reports only: undefined unless it is a safe integer (number or decimal string). */
export function readWorkspaceId(value: unknown): number | undefined {
  const parsed = bigintId.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
