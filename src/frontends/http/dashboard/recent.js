/** The most recent decisions, each opening the SMTP transcript behind it. */
import { api, ApiError } from './api.js';
import { badge, byId, duration, h, printable, transcriptText, when } from './dom.js';

/**
 * @typedef {{id: number, at: string, address: string, result: string, reason: string, rule: string,
 *   durationMs: number, cached: boolean, fact: string | null, action: string | null,
 *   hasTranscript: boolean}} Decision
 */

const dialog = /** @type {HTMLDialogElement} */ (byId('transcript-dialog'));

/** @param {Decision} d */
async function openTranscript(d) {
  byId('transcript-title').textContent = printable(d.address);
  const body = byId('transcript-body');
  body.textContent = 'Loading…';
  dialog.showModal();
  try {
    const t = await api(`/v1/recent/${d.id}/transcript`);
    body.textContent = `${d.reason} · ${d.rule}\n\n${transcriptText(t.lines)}`;
  } catch (error) {
    body.textContent =
      error instanceof ApiError && error.status === 404
        ? 'No transcript is held for this decision (no callout since the daemon started, or it was answered without one).'
        : printable(String(error));
  }
}

/** @param {Decision} d */
function source(d) {
  if (d.cached) return d.fact ? `cache (${d.fact})` : 'cache';
  // The service decides these without calling anyone: bad syntax, skip list, limits, budget.
  return d.rule === 'local.invalid-syntax' || d.rule.startsWith('service.') ? 'no callout' : 'callout';
}

/** @param {string} label @param {Node | string} content */
const td = (label, content) => h('td', { 'data-label': label }, content);

/** @param {Decision} d */
function row(d) {
  const open = h(
    'button',
    { type: 'button', class: 'link', onclick: () => void openTranscript(d) },
    d.address,
  );
  return h(
    'tr',
    { 'data-id': String(d.id) },
    td('Time', when(d.at)),
    td('Address', open),
    td('Result', badge(d.result)),
    td('Reason', d.reason),
    td('Rule', h('code', {}, d.rule)),
    td('Action', d.action ?? '—'),
    td('Duration', duration(d.durationMs)),
    td('From', source(d)),
  );
}

export async function refreshRecent() {
  /** @type {{decisions: Decision[]}} */
  const { decisions } = await api('/v1/recent?limit=50');
  const tbody = byId('recent-table').querySelector('tbody');
  tbody?.replaceChildren(...decisions.map(row));
  byId('recent-empty').hidden = decisions.length > 0;
}
