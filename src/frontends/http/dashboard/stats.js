/**
 * The statistics table (the WcSAP-style statistics table, as `cbv stats` prints it) for
 * three periods side by side: today, this month, and a chosen range. Days are
 * the server's UTC days: "today" is whatever /v1/stats answers by default.
 */
import { api } from './api.js';
import { byId, h, numberFormat } from './dom.js';

/** @typedef {{key: string, label: string, depth: number, value: number, percent: number | null}} Row */
/** @typedef {{since: string, until: string, rows: Row[], reasons: Row[], fleet?: boolean, nodes?: string[]}} Report */

const PERIODS = ['today', 'month', 'range'];
const since = /** @type {HTMLInputElement} */ (byId('range-since'));
const until = /** @type {HTMLInputElement} */ (byId('range-until'));
/** Fleet mode: the table shows every node's counters (summed in Redis) instead of this node's. */
const fleet = /** @type {HTMLInputElement} */ (byId('stats-fleet'));

/** @param {string} day @param {number} days */
function addDays(day, days) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** @param {Row | undefined} row @param {string} period */
function cell(row, period) {
  const value = row?.value ?? 0;
  const percent = row?.percent ?? null;
  return h(
    'td',
    { 'data-period': period, 'data-key': row?.key ?? '' },
    h('span', { class: 'v' }, numberFormat.format(value)),
    // An empty percentage keeps the numbers of rows without one aligned with the others.
    h('span', { class: 'pct' }, percent === null ? '' : `${percent.toFixed(2)}%`),
  );
}

/** @param {Report[]} reports @param {'rows' | 'reasons'} part @param {string} key */
const rowsFor = (reports, part, key) => reports.map((r) => r[part].find((row) => row.key === key));

/** @param {Report[]} reports */
function render(reports) {
  const [first] = reports;
  if (!first) return;
  const tbody = byId('stats-table').querySelector('tbody');
  if (!tbody) return;
  const lines = first.rows.map((row) =>
    h(
      'tr',
      { class: row.depth > 0 ? 'detail' : 'total' },
      h('th', { scope: 'row' }, row.label),
      ...rowsFor(reports, 'rows', row.key).map((r, i) => cell(r, PERIODS[i] ?? '')),
    ),
  );
  const reasons = first.reasons.filter((row) =>
    rowsFor(reports, 'reasons', row.key).some((r) => (r?.value ?? 0) > 0),
  );
  if (reasons.length > 0) {
    lines.push(
      h('tr', { class: 'section' }, h('th', { colspan: '4', scope: 'rowgroup' }, 'results by reason')),
    );
    for (const row of reasons) {
      lines.push(
        h(
          'tr',
          { class: 'detail' },
          h('th', { scope: 'row' }, row.label),
          ...rowsFor(reports, 'reasons', row.key).map((r, i) => cell(r, PERIODS[i] ?? '')),
        ),
      );
    }
  }
  tbody.replaceChildren(...lines);
  const range = reports[2];
  if (range) {
    const days = range.since === range.until ? range.since : `${range.since} – ${range.until}`;
    byId('range-head').replaceChildren('Range', h('small', {}, days));
  }
}

export async function refreshStats() {
  const scope = fleet.checked ? 'fleet' : 'node';
  /** @type {Report} */
  const today = await api(`/v1/stats?scope=${scope}`);
  // The toggle is offered only by a node that is in a fleet.
  byId('stats-scope').hidden = !today.fleet;
  const day = today.until;
  if (!until.value) until.value = day;
  if (!since.value) since.value = addDays(day, -6);
  if (since.value > until.value) since.value = until.value;
  const q = (/** @type {string} */ a, /** @type {string} */ b) =>
    `/v1/stats?since=${a}&until=${b}&scope=${scope}`;
  const [month, range] = await Promise.all([
    api(q(`${day.slice(0, 8)}01`, day)),
    api(q(since.value, until.value)),
  ]);
  render([today, month, range]);
  const title = scope === 'fleet' ? `Statistics: fleet of ${today.nodes?.length ?? 0}` : 'Statistics';
  byId('stats-title').textContent = title;
}

/** @param {(error: unknown) => void} report */
export function initStats(report) {
  for (const input of [since, until, fleet])
    input.addEventListener('change', () => refreshStats().catch(report));
}
