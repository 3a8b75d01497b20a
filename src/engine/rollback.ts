/**
 * `--rollback [--to REBUILD_ID]`: undoes switches from their undo logs, in one transaction that holds the
 * projection's exclusive lock, and only while no rebuild is running.
 *
 * The switches that can be undone form a stack: the switched rebuilds whose undo log is kept (the last K
 * switches, `--rollback-history`), latest on top; a rolled-back switch leaves it. `--rollback` undoes the
 * top one. `--rollback --to ID` restores the table as it was before rebuild #ID switched: it undoes every
 * switch from the top down to #ID included, latest first, so each undo log is applied to the table its
 * switch left (rows a --follow consumer wrote meanwhile are overwritten, as by a single rollback).
 */
import type { Database, Session } from '../sink/postgres/database.js';
import { lockProjectionExclusive } from '../sink/postgres/projection-locks.js';
import { withRebuildLock } from '../sink/postgres/rebuild-lock.js';
import { latestRebuilds, markRolledBack, undoableSwitches, type Rebuild } from '../sink/postgres/rebuilds.js';
import { rollbackSwitch } from '../sink/postgres/switch-shadow.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { RebuildRefusedError } from './rebuild.js';

export interface RollbackResult {
  /** The switches undone, latest first. */
  undone: { rebuild: Rebuild; restored: number }[];
  /** Rows put back in all. */
  restored: number;
  /** Switches that can still be undone after this one, latest first. */
  remaining: number[];
}

export async function rollbackRebuilds(db: Database, projection: string, options: { to?: number } = {}): Promise<RollbackResult> {
  const outcome = await withRebuildLock(db, projection, () =>
    withTransaction(db, async (client) => {
      await lockProjectionExclusive(client, projection);
      const stack = await undoableSwitches(client, projection);
      const count = options.to === undefined ? 1 : stack.findIndex((s) => s.rebuild.id === options.to) + 1;
      if (stack.length === 0 || count === 0) throw new RebuildRefusedError(await whyNot(client, projection, stack, options.to));
      const undo = stack.slice(0, count);
      const undone: RollbackResult['undone'] = [];
      for (const { rebuild } of undo) undone.push({ rebuild, restored: await rollbackSwitch(client, rebuild.id) });
      await markRolledBack(client, undo.map((s) => s.rebuild.id));
      return {
        undone,
        restored: undone.reduce((sum, u) => sum + u.restored, 0),
        remaining: stack.slice(count).map((s) => s.rebuild.id),
      };
    }),
  );
  if (!outcome.held) throw new RebuildRefusedError(`a rebuild of ${projection} is running: roll back after it has finished`);
  return outcome.value;
}

/** One line saying why nothing can be rolled back (to `to`), and what can. */
async function whyNot(client: Session, projection: string, stack: { rebuild: Rebuild }[], to: number | undefined): Promise<string> {
  const undoable = stack.length > 0 ? `; switches that can be undone, latest first: ${stack.map((s) => `#${s.rebuild.id}`).join(', ')}` : '';
  const history = await latestRebuilds(client, projection, 1000);
  if (to === undefined) {
    const switched = history.find((r) => r.phase === 'switched');
    if (switched) return `rebuild #${switched.id}'s undo log is no longer kept (only the last switches' are, see --rollback-history); nothing to roll back`;
    const undone = history
      .filter((r) => r.phase === 'rolled_back')
      .sort((a, b) => (b.rolled_back_at?.getTime() ?? 0) - (a.rolled_back_at?.getTime() ?? 0) || a.id - b.id)[0];
    return undone ? `rebuild #${undone.id} was already rolled back and no earlier switch's undo log is kept` : `no rebuild of ${projection} has been switched in yet`;
  }
  const target = history.find((r) => r.id === to);
  if (!target) return `rebuild #${to} is not a rebuild of ${projection}${undoable}`;
  if (target.phase === 'rolled_back') return `rebuild #${to} was already rolled back${undoable}`;
  if (target.phase !== 'switched') return `rebuild #${to} never switched (it is ${target.phase})${undoable}`;
  return `rebuild #${to}'s undo log is no longer kept (only the last switches' are, see --rollback-history)${undoable}`;
}
