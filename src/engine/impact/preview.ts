/**
 * `--preview`: what switching the unfinished rebuild's built shadow in would do, read in one REPEATABLE READ
 * READ ONLY snapshot of the shadow and the live table. It writes nothing and takes no lock, so it can run
 * beside a --follow consumer and GitLab. Without a built shadow it refuses: building one is `--no-switch`
 * (which prints this same preview when it is done), never a side effect of looking.
 */
import type { Database } from '../../sink/postgres/database.js';
import type { Rebuild } from '../../sink/postgres/rebuilds.js';
import { partitionsLiveIsAhead } from '../../sink/postgres/shadow-live-diff.js';
import { withReadOnlySnapshot } from '../../sink/postgres/transaction.js';
import { requireBuiltShadow } from '../rebuild.js';
import { computeImpact, type ComputeImpactOptions } from './compute-impact.js';
import type { Impact } from './impact.js';

export interface ShadowPreview {
  rebuild: Rebuild;
  impact: Impact;
  /**
   * Partitions where the live consumer has applied events the shadow has not: the switch consumes them into
   * the shadow first, so its diff (and fingerprint) will differ from this one. Empty when in step, and for a
   * snapshot rebuild that does not read Kafka.
   */
  liveAhead: string[];
}

/** Paths named per changed object in a preview. */
export const PREVIEW_MAX_PATHS = 5;

export async function previewShadow(db: Database, projection: string, options: ComputeImpactOptions = {}): Promise<ShadowPreview> {
  const rebuild = await requireBuiltShadow(db, projection, 'preview');
  return withReadOnlySnapshot(db, async (client) => {
    const impact = await computeImpact(client, rebuild, { maxPaths: PREVIEW_MAX_PATHS, ...options });
    // Only a rebuild that reads Kafka (a Kafka one, or a snapshot handed off to it) catches up at its switch.
    const readsKafka = rebuild.source === 'kafka' || rebuild.start_offsets !== null;
    const liveAhead = readsKafka ? await partitionsLiveIsAhead(client, projection, rebuild.shadow_projection) : [];
    return { rebuild, impact, liveAhead };
  });
}
