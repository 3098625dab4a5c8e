/** Human-readable output for the CLI: a table of verdicts and SMTP transcripts. */
import type { TranscriptLine, Verdict } from '../../core/index.js';

/** Make any string safe to print on one terminal line (addresses that failed parsing may hold controls). */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function replySummary(v: Verdict<string>): string {
  if (v.smtp) return `${v.smtp.code} ${(v.smtp.text.split('\n').at(-1) ?? '').slice(0, 60)}`;
  return v.message.slice(0, 70);
}

export function formatTable(verdicts: readonly Verdict<string>[]): string {
  const header = ['ADDRESS', 'RESULT', 'REASON', 'RULE', 'MX', 'REPLY / DETAIL', 'MS'];
  const rows = verdicts.map((v) => [
    printable(v.address),
    v.result + (v.temporary ? ' (temp)' : ''),
    v.reason,
    v.rule,
    v.mx ? `${v.mx.host} [${v.mx.ip}]` : '-',
    printable(replySummary(v)),
    String(v.durationMs),
  ]);
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
