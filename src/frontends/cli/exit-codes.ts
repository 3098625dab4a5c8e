/**
 * Exit statuses of the cbv command (documented in docs/cli.md).
 * For `cbv verify` with several addresses, the first of 1, 3, 2 that applies wins:
 * one undeliverable address is the most important thing to report.
 */
export const EXIT = {
  ok: 0,
  undeliverable: 1,
  risky: 2,
  unknown: 3,
  usage: 64, // EX_USAGE: bad arguments
  software: 70, // EX_SOFTWARE: internal error
  unavailable: 69, // EX_UNAVAILABLE: a store or service could not be opened
  config: 78, // EX_CONFIG: bad configuration
  cantCreate: 73, // EX_CANTCREAT: a listener, socket or file could not be created (in use, permission)
} as const;

export function exitForResults(results: readonly string[]): number {
  if (results.includes('undeliverable')) return EXIT.undeliverable;
  if (results.includes('unknown')) return EXIT.unknown;
  if (results.includes('risky')) return EXIT.risky;
  return EXIT.ok;
}
