/**
 * Building elements. Everything shown comes from remote parties (addresses,
 * SMTP replies), so text is only ever set as textContent, never as HTML.
 */

/**
 * @param {string} tag
 * @param {Record<string, string | boolean | ((e: Event) => void)>} [attrs]
 * @param {(Node | string | null)[]} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else if (value !== false) el.setAttribute(name, value);
  }
  for (const child of children) if (child !== null) el.append(child);
  return el;
}

/** @param {string} id */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}

/** @param {string} result */
export const badge = (result) => h('span', { class: `badge ${result}` }, result);

export const numberFormat = new Intl.NumberFormat();

/** @param {number} ms */
export function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Local time of day for today's entries, the date too for older ones. @param {string} iso */
export function when(iso) {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

/**
 * A definition list of label/value pairs; null values are left out.
 * @param {[string, Node | string | null][]} pairs
 */
export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [label, value] of pairs) if (value !== null) dl.append(h('dt', {}, label), h('dd', {}, value));
  return dl;
}

/** @param {{t: number, dir: string, line: string}[]} lines */
export function transcriptText(lines) {
  return lines.map((l) => `${String(l.t).padStart(6)} ms  ${l.dir}: ${l.line}`).join('\n');
}
