/**
 * Usage errors of the cbv command, and the one argument parser every subcommand uses, so that an
 * unknown option, a missing value and a bad value all read alike:
 * `cbv: unknown option '--frobnicate' (try 'cbv stats --help')`.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A problem with the command line: printed as one line (main.ts adds the help hint), exit 64. */
export class UsageError extends Error {
  readonly code = 'CBV_ERR_USAGE';
}

/** The option named in one of node:util parseArgs' messages ("Option '--port <value>' ..."). */
function optionIn(message: string): string {
  return /'(-{1,2}[^\s']+)/.exec(message)?.[1] ?? '?';
}

/** node:util parseArgs errors, reworded as cbv's other usage errors are (lower case, one line). */
export function parseArgsProblem(error: unknown): UsageError | null {
  if (!(error instanceof TypeError) || !('code' in error)) return null;
  const option = optionIn(error.message);
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option '${option}'`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument '${/'([^']*)'/.exec(error.message)?.[1] ?? ''}'`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(error.message))
        return new UsageError(`option '${option}' takes no value`);
      if (/ambiguous/.test(error.message))
        return new UsageError(
          `option '${option}' needs a value; for one starting with '-', write ${option}=-VALUE`,
        );
      return new UsageError(`option '${option}' needs a value`);
    default:
      return null;
  }
}

/** node:util parseArgs (pass `strict: true`), with cbv's wording for its errors. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw parseArgsProblem(error) ?? error;
  }
}
