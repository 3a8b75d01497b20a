/** A wrong command line: printed as one line plus a pointer to --help, exit code 64. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
