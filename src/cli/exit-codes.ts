/** The documented exit codes (README, "Exit codes"). */
export const ExitCode = {
  /** Everything was projected. */
  ok: 0,
  /** Could not run: a database or broker unreachable, a lock held, a refused operation. */
  couldNotRun: 1,
  /** Finished, but some workspaces or messages are in the dead-letter table (`--verify`: the table drifted). */
  finishedWithDeadLetters: 2,
  /** The command line is wrong. */
  usage: 64,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
