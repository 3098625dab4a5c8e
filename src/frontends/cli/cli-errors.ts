/** Errors a CLI command raises for the user (printed as one line, never a stack trace). */
export class UsageError extends Error {
  readonly code = 'CBV_ERR_USAGE';
}

/** Turn node:util parseArgs errors into one readable line. */
export function parseArgsProblem(error: unknown): UsageError | null {
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    return new UsageError(
      error.message
        .replace(/\s*\n\s*/g, ' ')
        .replace(/ To specify a positional argument.*$/, '')
        .trim(),
    );
  }
  return null;
}
