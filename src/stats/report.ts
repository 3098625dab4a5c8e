/**
 * The statistics table as data (rows with labels, values and percentages), in
 * the shape of WcSAP's statistics table. The CLI prints it; the dashboard
 * renders it; both therefore show the same numbers.
 */
import { ENGINE_REASONS } from '../core/index.js';
import { SERVICE_REASONS_EXTRA } from '../service/verdict.js';
import type { Counts } from './stats-store.js';

export interface StatsRow {
  key: string;
  label: string;
  /** 0 = top level, 1 = a detail of the row above (printed with a leading '-'). */
  depth: number;
  value: number;
  /** Percentage of `of`, when the row has a meaningful base. */
  percent: number | null;
  of: string | null;
}

export interface StatsReport {
  since: string;
  until: string;
  rows: StatsRow[];
  reasons: StatsRow[];
}

const LAYOUT: [key: string, label: string, depth: number, of: string | null][] = [
  ['requests', 'verification requests', 0, null],
  ['skips', 'skips', 1, 'requests'],
  ['cache_hits', 'cache hits (address)', 1, 'requests'],
  ['cache_hits_domain', 'cache hits (domain fact)', 1, 'requests'],
  ['callouts', 'callouts', 0, 'requests'],
  ['bad_domain', 'bad domain (NXDOMAIN)', 1, 'callouts'],
  ['null_mx', 'null MX', 1, 'callouts'],
  ['no_mail_host', 'no MX / no mail host', 1, 'callouts'],
  ['dns_errors', 'DNS errors', 1, 'callouts'],
  ['unsafe_targets', 'unsafe targets refused', 1, null],
  ['bad_connects', 'bad connects', 1, null],
  ['smtp_sessions', 'smtp sessions', 0, null],
  ['refused_greeting', 'refused welcome', 1, 'smtp_sessions'],
  ['refused_helo', 'refused helo', 1, 'smtp_sessions'],
  ['refused_starttls', 'refused starttls', 1, 'smtp_sessions'],
  ['refused_mail_from', 'refused mail from', 1, 'smtp_sessions'],
  ['refused_rcpt_to', 'refused rcpt to', 1, 'smtp_sessions'],
  ['session_failures', 'timeouts / lost sessions', 1, 'smtp_sessions'],
  ['spf_checks', 'SPF checks', 0, 'requests'],
  ['spf.pass', 'SPF pass', 1, 'spf_checks'],
  ['spf.fail', 'SPF fail', 1, 'spf_checks'],
  ['spf.softfail', 'SPF softfail', 1, 'spf_checks'],
  ['spf.neutral', 'SPF neutral', 1, 'spf_checks'],
  ['spf.none', 'SPF none (no record)', 1, 'spf_checks'],
  ['spf.errors', 'SPF errors (temp/perm)', 1, 'spf_checks'],
  ['spf_callouts_avoided', 'callouts avoided by SPF', 0, 'requests'],
];

function pct(value: number, base: number): number | null {
  return base > 0 ? Math.round((value / base) * 10_000) / 100 : null;
}

export function buildReport(counts: Counts, since: string, until: string): StatsReport {
  const get = (k: string): number => counts[k] ?? 0;
  const rows = LAYOUT.map(([key, label, depth, of]) => ({
    key,
    label,
    depth,
    value: get(key),
    percent: of ? pct(get(key), get(of)) : null,
    of,
  }));
  const reasons = [...ENGINE_REASONS, ...SERVICE_REASONS_EXTRA].map((r) => ({
    key: `reason.${r}`,
    label: r,
    depth: 1,
    value: get(`reason.${r}`),
    percent: pct(get(`reason.${r}`), get('requests')),
    of: 'requests',
  }));
  return { since, until, rows, reasons };
}

export function formatReport(report: StatsReport): string {
  const line = (r: StatsRow): string => {
    const label = `${r.depth > 0 ? '-' : ''}${r.label}`.padEnd(28);
    const pctText = r.percent === null ? '' : ` (${r.percent.toFixed(2).padStart(6)}%)`;
    return `${label}: ${String(r.value).padStart(9)}${pctText}`;
  };
  const header =
    report.since === report.until
      ? `Statistics: ${report.since}`
      : `Statistics: ${report.since} to ${report.until}`;
  const results = report.reasons.filter((r) => r.value > 0);
  return [
    header,
    '',
    ...report.rows.map(line),
    '',
    'results by reason:',
    ...(results.length ? results.map(line) : ['  (none)']),
  ].join('\n');
}
