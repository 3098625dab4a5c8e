/** Human-readable output for the CLI: a table of verdicts and SMTP transcripts. */
import { printable, type TranscriptLine, type Verdict } from '../../core/index.js';

function replySummary(v: Verdict<string>): string {
  if (v.smtp) return `${v.smtp.code} ${(v.smtp.text.split('\n').at(-1) ?? '').slice(0, 60)}`;
  return v.message.slice(0, 70);
}

/** A verdict as printed: the service's carry where the answer came from. */
type Printed = Verdict<string> & { cache?: { hit: boolean } };

export function formatTable(verdicts: readonly Printed[]): string {
  const header = ['ADDRESS', 'RESULT', 'REASON', 'RULE', 'MX', 'REPLY / DETAIL', 'MS'];
  // Every cell through printable(): addresses, MX names and replies come from outside.
  const rows = verdicts.map((v) =>
    [
      v.address,
      v.result + (v.temporary ? ' (temp)' : '') + (v.cache?.hit ? ' (cached)' : ''),
      v.reason,
      v.rule,
      v.mx ? `${v.mx.host} [${v.mx.ip}]` : '-',
      replySummary(v),
      String(v.durationMs),
    ].map(printable),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatTranscript(address: string, lines: readonly TranscriptLine[]): string {
  const body = lines.map(
    (l) => `${String(l.t).padStart(6)}ms ${l.dir === '*' ? '**' : `${l.dir}:`} ${printable(l.line)}`,
  );
  return [`--- transcript for ${printable(address)}`, ...body].join('\n');
}
