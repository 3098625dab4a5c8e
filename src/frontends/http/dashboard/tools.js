/** The verify form, and cache lookup and purge for an address or a domain. */
import { api, ApiError, seg } from './api.js';
import { badge, byId, duration, facts, h, transcriptText, when } from './dom.js';

/**
 * @typedef {{address: string, result: string, reason: string, rule: string, message: string,
 *   temporary: boolean, durationMs: number, mx: {host: string, ip: string} | null,
 *   smtp: {code: number, enhancedCode: string | null, text: string} | null,
 *   cache: {hit: boolean, fact: string | null, ageSeconds: number | null},
 *   transcript?: {t: number, dir: string, line: string}[]}} Verdict
 */

/** @param {Verdict} v */
function verdictView(v) {
  const from = v.cache.hit
    ? `cache${v.cache.fact ? ` (${v.cache.fact})` : ''}, ${v.cache.ageSeconds ?? 0} s old`
    : 'callout';
  return h(
    'div',
    { class: 'verdict', 'data-result': v.result },
    h(
      'div',
      { class: 'verdict-head' },
      badge(v.result),
      h('strong', {}, v.reason),
      v.temporary ? h('span', { class: 'muted' }, 'temporary') : null,
    ),
    facts([
      ['Address', v.address],
      ['Rule', h('code', {}, v.rule)],
      ['Detail', v.message],
      ['Server', v.mx ? `${v.mx.host} [${v.mx.ip}]` : null],
      ['Reply', v.smtp ? `${v.smtp.code} ${v.smtp.text}` : null],
      ['From', from],
      ['Took', duration(v.durationMs)],
    ]),
    v.transcript?.length
      ? h('details', {}, h('summary', {}, 'SMTP transcript'), h('pre', {}, transcriptText(v.transcript)))
      : null,
  );
}

/** @param {HTMLElement} box @param {unknown} error */
function showError(box, error) {
  const text = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
  box.replaceChildren(h('p', { class: 'error' }, text));
}

/** @param {() => void} changed called after anything that changes the cache or the statistics */
export function initTools(changed) {
  const verifyBox = byId('verify-result');
  const verifyInput = /** @type {HTMLInputElement} */ (byId('verify-input'));
  byId('verify-form').addEventListener('submit', (event) => {
    event.preventDefault();
    verifyBox.replaceChildren(h('p', { class: 'muted' }, 'Calling back…'));
    api(`/v1/verify?address=${encodeURIComponent(verifyInput.value.trim())}&transcript=true`)
      .then((v) => verifyBox.replaceChildren(verdictView(v)))
      .catch((error) => showError(verifyBox, error))
      .finally(changed);
  });

  const cacheBox = byId('cache-result');
  const cacheInput = /** @type {HTMLInputElement} */ (byId('cache-input'));
  const target = () => {
    const text = cacheInput.value.trim();
    return text.includes('@') ? `/v1/cache/${seg(text)}` : `/v1/cache/domain/${seg(text.toLowerCase())}`;
  };
  byId('cache-form').addEventListener('submit', (event) => {
    event.preventDefault();
    api(target())
      .then((found) => cacheBox.replaceChildren(cacheView(found)))
      .catch((error) =>
        error instanceof ApiError && error.status === 404
          ? cacheBox.replaceChildren(h('p', { class: 'muted', 'data-state': 'missing' }, error.message))
          : showError(cacheBox, error),
      );
  });
  byId('cache-purge').addEventListener('click', () => {
    if (!cacheInput.reportValidity()) return;
    api(target(), { method: 'DELETE' })
      .then(({ removed }) =>
        cacheBox.replaceChildren(
          h(
            'p',
            { 'data-state': 'purged' },
            `${cacheInput.value.trim()}: ${removed} entr${removed === 1 ? 'y' : 'ies'} removed`,
          ),
        ),
      )
      .catch((error) => showError(cacheBox, error))
      .finally(changed);
  });
}

/**
 * @param {{entry?: {verdict: Verdict, storedAt: string, expiresAt: string} | null,
 *   fact?: {domain: string, kind: string, verdict: Verdict, storedAt: string, expiresAt: string} | null}} found
 */
function cacheView(found) {
  const held = found.entry ?? found.fact;
  if (!held) return h('p', { class: 'muted' }, 'Nothing cached.');
  const kind = found.entry ? 'address entry' : `domain fact: ${found.fact?.kind ?? ''}`;
  return h(
    'div',
    { class: 'verdict', 'data-state': 'found' },
    h(
      'div',
      { class: 'verdict-head' },
      badge(held.verdict.result),
      h('strong', {}, held.verdict.reason),
      h('span', { class: 'muted' }, kind),
    ),
    facts([
      ['Rule', h('code', {}, held.verdict.rule)],
      ['Detail', held.verdict.message],
      ['Stored', when(held.storedAt)],
      ['Expires', when(held.expiresAt)],
    ]),
  );
}
