/**
 * Progress people can watch: on a terminal, one status line redrawn in place (phase, bar, rate, ETA) that
 * log lines print above; without one (a log collector, CI), an info line every few seconds and at the end
 * of each phase, with the numbers as context.
 */
import type { Logger } from '../ops/logger.js';

export interface ProgressSample {
  phase: string;
  done: number;
  total: number | undefined;
  /** A phase counted in steps rather than items (the switch): the step now running; no rate or ETA. */
  step?: string;
}

export interface ProgressReporter {
  update(sample: ProgressSample): void;
  /** Writes the final state and ends the status line; `complete: false` when the run failed or stopped. */
  finish(outcome?: { complete: boolean }): void;
}

/**
 * The terminal's last line, shared by the progress bar and the logger: a log line clears the bar, prints,
 * and redraws it below, so every line starts on a line of its own.
 */
export interface StatusLine {
  /** Replaces the status line with `text`. */
  draw(text: string): void;
  /** Ends the status line (it stays on screen); the next output starts below it. */
  end(): void;
  /** Prints a whole line (newline included) above the status line. */
  print(line: string): void;
}

const CLEAR_LINE = '\r\x1b[2K';

export function createStatusLine(write: (text: string) => void): StatusLine {
  let drawn: string | undefined;
  return {
    draw(text) {
      write(`${CLEAR_LINE}${text}`);
      drawn = text;
    },
    end() {
      if (drawn !== undefined) write('\n');
      drawn = undefined;
    },
    print(line) {
      write(drawn === undefined ? line : `${CLEAR_LINE}${line}${drawn}`);
    },
  };
}

export interface ProgressOptions {
  /** On a terminal: the line to redraw. Without one, progress is logged. */
  statusLine: StatusLine | undefined;
  log: Logger;
  /** Every phase name, so that the phase column fits the longest. */
  phases?: readonly string[];
  /** Between logged lines (default 5 s). */
  intervalMs?: number;
  now?: () => number;
}

const BAR_WIDTH = 24;

interface Figures {
  /** 0..1 of the total, when known. */
  fraction: number | undefined;
  ratePerS: number;
  etaS: number | undefined;
  elapsedS: number;
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? (() => Date.now());
  const intervalMs = options.intervalMs ?? 5_000;
  const phaseWidth = Math.max(0, ...(options.phases ?? []).map((p) => p.length));
  const { statusLine } = options;
  let last: ProgressSample | undefined;
  // Where the current count started: the phase's start, or a restarted count (a catch-up round, a retried
  // step), so the rate is this count's own and never includes work counted before it.
  let countStart = now();
  let lastEmit = 0;
  let lastShown = false;

  const figures = (sample: ProgressSample, complete: boolean): Figures => {
    const elapsedS = Math.max((now() - countStart) / 1000, 0.001);
    const ratePerS = sample.done / elapsedS;
    if (complete) return { fraction: 1, ratePerS, etaS: undefined, elapsedS };
    const fraction = sample.total ? Math.min(sample.done / sample.total, 1) : undefined;
    const remaining = sample.total === undefined ? undefined : Math.max(sample.total - sample.done, 0);
    const etaS = remaining === undefined || ratePerS === 0 || sample.step !== undefined ? undefined : Math.round(remaining / ratePerS);
    return { fraction, ratePerS, etaS, elapsedS };
  };

  const emit = (sample: ProgressSample, complete: boolean) => {
    const f = figures(sample, complete);
    if (statusLine) statusLine.draw(statusText(sample, f, complete, phaseWidth));
    else {
      options.log.info(progressMessage(sample, f, complete), {
        progress: sample.phase,
        done: sample.done,
        total: sample.total ?? null,
        ...(sample.step === undefined ? {} : { step: sample.step }),
        ratePerS: Math.round(f.ratePerS),
        etaS: f.etaS ?? null,
        elapsedS: Math.round(f.elapsedS),
        complete,
      });
    }
    lastEmit = now();
    lastShown = true;
  };

  /** Ends the phase: a completed one's last line says 100%; an unfinished one keeps its last figures. */
  const close = (complete: boolean) => {
    if (last && (complete || !lastShown)) emit(last, complete);
    statusLine?.end();
    last = undefined;
  };

  return {
    update(sample) {
      if (sample.phase !== last?.phase) {
        // The previous phase has ended, whichever of its samples the throttle let through.
        close(true);
        countStart = now();
        last = sample;
        emit(sample, false);
        return;
      }
      if (sample.done < last.done) countStart = now();
      last = sample;
      lastShown = false;
      // A terminal redraws often enough to look alive (and at every step); a log gets a line every few seconds.
      if (sample.step !== undefined || now() - lastEmit >= (statusLine ? 200 : intervalMs)) emit(sample, false);
    },
    finish(outcome = { complete: true }) {
      close(outcome.complete);
    },
  };
}

/** `materializing [############------------]  50% 100/200 50/s ETA 2s`; completed: `… 100% 200 in 4.0s 50/s`. */
function statusText(sample: ProgressSample, f: Figures, complete: boolean, phaseWidth: number): string {
  const phase = sample.phase.padEnd(phaseWidth);
  const bar = f.fraction === undefined ? '' : ` [${'#'.repeat(Math.round(f.fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '-')}] ${(f.fraction * 100).toFixed(0).padStart(3)}%`;
  if (complete) {
    const counted = sample.step === undefined && sample.done > 0;
    return `${phase}${bar}${counted ? ` ${sample.done}` : ''} in ${f.elapsedS.toFixed(1)}s${counted ? ` ${Math.round(f.ratePerS)}/s` : ''}`;
  }
  const count = sample.total === undefined ? `${sample.done}` : `${sample.done}/${sample.total}`;
  if (sample.step !== undefined) return `${phase}${bar} ${count} ${sample.step}`;
  const eta = f.etaS === undefined ? '' : ` ETA ${f.etaS}s`;
  return `${phase}${bar} ${count} ${Math.round(f.ratePerS)}/s${eta}`;
}

/** The logged line's message (its numbers are context too). */
function progressMessage(sample: ProgressSample, f: Figures, complete: boolean): string {
  const counted = sample.step === undefined && sample.done > 0;
  if (complete) return `${sample.phase}: done${counted ? `, ${sample.done}` : ''} in ${f.elapsedS.toFixed(1)} s${counted ? ` (${Math.round(f.ratePerS)}/s)` : ''}`;
  const count = sample.total === undefined ? `${sample.done}` : `${sample.done}/${sample.total}`;
  if (sample.step !== undefined) return `${sample.phase}: step ${count}, ${sample.step}`;
  const percent = f.fraction === undefined ? '' : ` (${(f.fraction * 100).toFixed(0)}%)`;
  const eta = f.etaS === undefined ? '' : `, ETA ${f.etaS} s`;
  return `${sample.phase}: ${count}${percent}, ${Math.round(f.ratePerS)}/s${eta}`;
}
