/** Human-readable output for the CLI: a table of verdicts and SMTP transcripts. */
import { printable, type Verdict } from '../../core/index.js';

/**
 * The last column: the server's reply (its last line, cut: it is someone else's text), else cbv's
 * own message in full, since it may say what to do (allow a target, set a key).
 */
export function replySummary(v: Verdict<string>): string {
  if (v.smtp) return `${v.smtp.code} ${(v.smtp.text.split('\n').at(-1) ?? '').slice(0, 60)}`;
  return v.message;
}

/** A verdict as printed: the service's carry where the answer came from. */
type Printed = Verdict<string> & {
  cache?: { hit: boolean; fact?: string | null; ageSeconds?: number | null };
};

export function formatTable(verdicts: readonly Printed[]): string {
  // REPLY / DETAIL last, so that a message is never cut to fit the column after it.
  const header = ['ADDRESS', 'RESULT', 'REASON', 'RULE', 'MX', 'MS', 'REPLY / DETAIL'];
  // Every cell through printable(): addresses, MX names and replies come from outside.
  const rows = verdicts.map((v) =>
    [
      v.address,
      v.result + (v.temporary ? ' (temp)' : '') + (v.cache?.hit ? ' (cached)' : ''),
      v.reason,
      v.rule,
      v.mx ? `${v.mx.host} [${v.mx.ip}]` : '-',
      String(v.durationMs),
      replySummary(v),
    ].map(printable),
  );
  return alignColumns(header, rows);
}

/**
 * Rows under a header, each column padded to its widest cell; the last column is never padded
 * (nor cut), so a long message stays whole. Cells must already be printable.
 */
export function alignColumns(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * The SMTP transcript of a verdict's callout for `--trace`. A verdict made without an SMTP session
 * (answered from the cache or a domain fact, a syntax error, a DNS answer, a refused target, a
 * skip) has none, and the header line says why instead of heading an empty transcript: the
 * cache's case most of all, since `--no-cache` would show one.
 */
export function formatTranscript(v: Printed): string {
  const lines = v.transcript ?? [];
  const header = `--- transcript for ${printable(v.address)}`;
  if (lines.length > 0) {
    const body = lines.map(
      (l) => `${String(l.t).padStart(6)}ms ${l.dir === '*' ? '**' : `${l.dir}:`} ${printable(l.line)}`,
    );
    return [header, ...body].join('\n');
  }
  return `${header}: none, ${noSession(v)}`;
}

/** Why a verdict carries no transcript (see formatTranscript). */
function noSession(v: Printed): string {
  if (v.cache?.hit) {
    const age = v.cache.ageSeconds == null ? '' : `, ${v.cache.ageSeconds} s old`;
    const what = v.cache.fact ? `the domain fact ${v.cache.fact}` : 'the cache';
    return `answered from ${what}${age}, so no callout was made (--no-cache calls out afresh)`;
  }
  return `no SMTP session was made (${v.reason})`;
}
