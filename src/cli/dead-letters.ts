/**
 * `--dead-letters` (the listing: read-only, writes nothing, runs no migration), `--retry-dead-letters` and
 * `--purge-dead-letters` (dead-letter-retry.ts): their output and exit codes.
 */
import type { Logger } from '../ops/logger.js';
import type { Database } from '../sink/postgres/database.js';
import type { WorkspaceDecoder } from '../events/decode.js';
import { purgeDeadLetters, retryDeadLetters, type DeadLetterWorkOptions } from '../engine/dead-letter-retry.js';
import { AGENTK_STATES_PROJECTION } from '../../projections/agentk-states/projection.js';
import {
  countDeadLetters,
  countDeadLettersByReason,
  deadLetterTablesReady,
  selectDeadLetters,
  type ReasonCount,
  type StoredDeadLetter,
} from '../sink/postgres/dead-letters.js';
import { countHeldEvents } from '../sink/postgres/held-events.js';
import { liveAgentkStates } from '../sink/postgres/row-sink.js';
import { ExitCode } from './exit-codes.js';
import type { CliArgs } from './options.js';
import { UsageError } from './usage-error.js';

/** How many letters the listing prints; the counts by reason cover them all. */
export const DEAD_LETTER_LIST_LIMIT = 50;

export class DeadLetterTablesMissingError extends Error {
  override readonly name = 'DeadLetterTablesMissingError';
}

interface Io {
  report: (line: string) => void;
  log: Logger;
  signal: AbortSignal;
}

export async function listDeadLetters(args: CliArgs, io: Io, db: Database): Promise<ExitCode> {
  if (!(await deadLetterTablesReady(db))) {
    throw new DeadLetterTablesMissingError(
      'no dead-letter bookkeeping at migration 010 in this database: the listing writes nothing, so run another mode once (e.g. --status) to migrate',
    );
  }
  const filter = args.deadLetterFilter;
  const reasons = await countDeadLettersByReason(db, AGENTK_STATES_PROJECTION, filter);
  const letters = await selectDeadLetters(db, AGENTK_STATES_PROJECTION, filter, DEAD_LETTER_LIST_LIMIT);
  const held = await countHeldEvents(db, AGENTK_STATES_PROJECTION, letters.flatMap((l) => (l.kafka && l.workspaceId !== undefined ? [l.workspaceId] : [])));
  const total = reasons.reduce((sum, r) => sum + r.count, 0);
  const heldOf = (l: StoredDeadLetter) => (l.kafka && l.workspaceId !== undefined ? (held.get(l.workspaceId) ?? 0) : 0);
  if (args.json) {
    io.report(
      JSON.stringify({
        total,
        by_reason: reasons,
        letters: letters.map((l) => ({
          workspace_id: l.workspaceId ?? null,
          source: l.source,
          position: l.kafka ? `${l.kafka.topic}[${l.kafka.partition}]@${l.kafka.offset}` : null,
          reason: l.errorKind,
          path: l.errorPath ?? null,
          message: l.message,
          attempts: l.attempts,
          first_seen_at: l.firstSeenAt.toISOString(),
          held_events: heldOf(l),
          retriable: l.kafka === undefined || l.raw !== undefined,
        })),
      }),
    );
  } else {
    io.report(`${total} dead letters${total > letters.length ? ` (listing the first ${letters.length})` : ''}`);
    for (const r of reasons) io.report(`  ${r.reason}: ${r.count}, e.g. ${r.example}`);
    for (const l of letters) {
      const where = l.kafka ? `${l.kafka.topic}[${l.kafka.partition}]@${l.kafka.offset}` : l.source;
      const workspace = l.workspaceId === undefined ? 'workspace ?' : `workspace ${l.workspaceId}`;
      const holding = heldOf(l) > 0 ? `, holds ${heldOf(l)} later events` : '';
      const kept = l.kafka && l.raw === undefined ? ', message not kept (purge only)' : '';
      io.report(`${workspace} ${where} ${l.errorKind}${l.errorPath ? ` at ${l.errorPath}` : ''}: attempts ${l.attempts}${holding}${kept}: ${l.message}`);
    }
  }
  return total > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
}

/** Reasons a run's summary names, and the length an example is cut to: enough to say why, on one line. */
const SUMMARY_REASONS = 3;
const SUMMARY_EXAMPLE_CHARS = 160;

/**
 * The end of a run's summary: the dead letters the table holds (`count`, all of them, as the exit code), by
 * reason with one example each, so that why they failed is on screen without another command.
 */
export async function deadLettersInTotal(db: Database, count: number): Promise<string> {
  return describeDeadLetterTotal(count, count > 0 ? await countDeadLettersByReason(db, AGENTK_STATES_PROJECTION, {}) : []);
}

/** `3 dead letters in total (agent_config_missing ×2, e.g. workspace 17: …; invalid_json ×1, e.g. t[0]@42: …)`. */
export function describeDeadLetterTotal(count: number, reasons: readonly ReasonCount[]): string {
  if (count === 0 || reasons.length === 0) return `${count} dead letters in total`;
  const shown = reasons.slice(0, SUMMARY_REASONS).map((r) => {
    const example = r.example.length > SUMMARY_EXAMPLE_CHARS ? `${r.example.slice(0, SUMMARY_EXAMPLE_CHARS - 1)}…` : r.example;
    return `${r.reason} ×${r.count}, e.g. ${example.replace(/\s*\n\s*/g, ' ')}`;
  });
  const more = reasons.length > SUMMARY_REASONS ? `; ${reasons.length - SUMMARY_REASONS} more reasons` : '';
  return `${count} dead letters in total (${shown.join('; ')}${more}; see --dead-letters)`;
}

export async function workOffDeadLetters(args: CliArgs, io: Io, db: Database, decode: WorkspaceDecoder): Promise<ExitCode> {
  const options: DeadLetterWorkOptions = {
    db,
    projection: AGENTK_STATES_PROJECTION,
    filter: args.deadLetterFilter,
    decode,
    agentConfigMode: args.agentConfigMode,
    sink: liveAgentkStates,
    signal: io.signal,
    log: io.log,
  };
  const purge = args.mode === 'purge-dead-letters';
  if (purge && !args.yes) {
    const chosen = await selectDeadLetters(db, AGENTK_STATES_PROJECTION, args.deadLetterFilter);
    const workspaces = new Set(chosen.flatMap((l) => (l.kafka && l.workspaceId !== undefined ? [l.workspaceId] : [])));
    const held = [...(await countHeldEvents(db, AGENTK_STATES_PROJECTION, [...workspaces])).values()].reduce((a, b) => a + b, 0);
    throw new UsageError(
      `--purge-dead-letters would delete ${chosen.length} dead letters (their workspaces hold ${held} events, applied once released): add --yes to delete them`,
    );
  }
  const totals = purge ? await purgeDeadLetters(options) : await retryDeadLetters(options);
  const left = await countDeadLetters(db, AGENTK_STATES_PROJECTION);
  io.report(
    `agentk-states ${purge ? 'purge' : 'retry'}: ${totals.selected} dead letters chosen, ${totals.removed} ${purge ? 'removed' : 'resolved'}, ` +
      `${totals.remaining} still failing; ${totals.released} held events applied, ${totals.stale} changed nothing (already superseded); ` +
      (await deadLettersInTotal(db, left)),
  );
  return left > 0 ? ExitCode.finishedWithDeadLetters : ExitCode.ok;
}
