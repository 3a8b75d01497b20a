/**
 * Progress people can watch: on a terminal, one status line redrawn in place (phase, bar, rate, ETA);
 * without one (a log collector, CI), one JSON line every few seconds and at each phase change.
 */
export interface ProgressSample {
  phase: string;
  done: number;
  total: number | undefined;
}

export interface ProgressReporter {
  update(sample: ProgressSample): void;
  /** Writes the final state and ends the status line. */
  finish(): void;
}

export interface ProgressOptions {
  write: (text: string) => void;
  isTty: boolean;
  /** Between JSON lines (default 5 s). */
  intervalMs?: number;
  now?: () => number;
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? (() => Date.now());
  const intervalMs = options.intervalMs ?? 5_000;
  let phase: string | undefined;
  let phaseStart = now();
  let lastEmit = 0;
  let last: ProgressSample | undefined;
  let drewLine = false;

  const describe = (sample: ProgressSample) => {
    const elapsedS = Math.max((now() - phaseStart) / 1000, 0.001);
    const rate = sample.done / elapsedS;
    const remaining = sample.total === undefined ? undefined : Math.max(sample.total - sample.done, 0);
    const etaS = remaining === undefined || rate === 0 ? undefined : Math.round(remaining / rate);
    return { rate, etaS, elapsedS };
  };

  const emit = (sample: ProgressSample) => {
    const { rate, etaS, elapsedS } = describe(sample);
    if (options.isTty) {
      const fraction = sample.total ? Math.min(sample.done / sample.total, 1) : 0;
      const bar = sample.total ? `[${'#'.repeat(Math.round(fraction * 24)).padEnd(24, '-')}] ${(fraction * 100).toFixed(0).padStart(3)}% ` : '';
      const count = sample.total === undefined ? `${sample.done}` : `${sample.done}/${sample.total}`;
      const eta = etaS === undefined ? '' : ` ETA ${etaS}s`;
      options.write(`\r\x1b[2K${sample.phase.padEnd(11)} ${bar}${count} ${Math.round(rate)}/s${eta}`);
      drewLine = true;
    } else {
      options.write(
        `${JSON.stringify({ progress: sample.phase, done: sample.done, total: sample.total ?? null, rate_per_s: Math.round(rate), eta_s: etaS ?? null, elapsed_s: Math.round(elapsedS) })}\n`,
      );
    }
    lastEmit = now();
  };

  return {
    update(sample) {
      if (sample.phase !== phase) {
        phase = sample.phase;
        phaseStart = now();
        if (drewLine) options.write('\n');
        drewLine = false;
        last = sample;
        emit(sample);
        return;
      }
      last = sample;
      // A terminal redraws often enough to look alive; a log gets a line every few seconds.
      if (now() - lastEmit >= (options.isTty ? 200 : intervalMs)) emit(sample);
    },
    finish() {
      if (last) emit(last);
      if (drewLine) options.write('\n');
    },
  };
}
