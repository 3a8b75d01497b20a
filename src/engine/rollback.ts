/**
 * `--rollback`: puts back the rows the last switch changed (its undo log), in one transaction that holds
 * the projection's exclusive lock, and only while no rebuild is running.
 */
import type pg from 'pg';
import { lockProjectionExclusive, tryLockRebuild, unlockRebuild } from '../sink/postgres/projection-locks.js';
import { latestRebuilds, updateRebuild, type Rebuild } from '../sink/postgres/rebuilds.js';
import { rollbackSwitch } from '../sink/postgres/switch-shadow.js';
import { withTransaction } from '../sink/postgres/transaction.js';
import { RebuildRefusedError } from './rebuild.js';

export async function rollbackLastRebuild(db: pg.Pool, projection: string): Promise<{ rebuild: Rebuild; restored: number }> {
  const lockClient = await db.connect();
  try {
    if (!(await tryLockRebuild(lockClient, projection)).locked) {
      throw new RebuildRefusedError(`a rebuild of ${projection} is running: roll back after it has finished`);
    }
    try {
      const last = (await latestRebuilds(db, projection, 20)).find((r) => r.phase === 'switched' || r.phase === 'rolled_back');
      if (!last || last.phase !== 'switched') {
        throw new RebuildRefusedError(
          last ? `rebuild #${last.id} was already rolled back; nothing older is kept` : `no rebuild of ${projection} has been switched in yet`,
        );
      }
      const restored = await withTransaction(db, async (client) => {
        await lockProjectionExclusive(client, projection);
        const count = await rollbackSwitch(client, last.id);
        await updateRebuild(client, last.id, { phase: 'rolled_back' });
        return count;
      });
      return { rebuild: last, restored };
    } finally {
      await unlockRebuild(lockClient, projection);
    }
  } finally {
    lockClient.release();
  }
}
