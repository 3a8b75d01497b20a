/** Where a run's events come from: `--source`'s values, and the name runs, rebuilds and dead letters record. */
export const SOURCE_KINDS = ['kafka', 'snapshot', 'file'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** The sources `--source` names without a path (a file is `file:PATH`). */
export type NamedSource = Exclude<SourceKind, 'file'>;
