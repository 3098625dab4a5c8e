/**
 * Building elements. Everything shown comes from remote parties (addresses,
 * SMTP replies), so text is only ever set as textContent, never as HTML, and
 * every string goes through printable() first: as text, a control character
 * shows as nothing and a bidirectional override silently reorders what
 * follows it, so both are shown as escapes instead.
 */

// The same characters and escapes as src/core/printable.ts (a unit test holds the two equal).
const UNSAFE =
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\p{Default_Ignorable_Code_Point}]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/gu;

/** @param {string} c */
function escape(c) {
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  // Beyond U+FFFF (a tag character): its two UTF-16 escapes.
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** One line of text from outside, safe to show: unsafe characters become \x1b or \u202e. @param {string} text */
export function printable(text) {
  return text.replace(UNSAFE, escape);
}

/** Several lines: each line as printable() makes it, the line feeds kept. @param {string} text */
export function printableLines(text) {
  return text.split('\n').map(printable).join('\n');
}

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
  for (const child of children)
    if (child !== null) el.append(typeof child === 'string' ? printableLines(child) : child);
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
  return lines.map((l) => `${String(l.t).padStart(6)} ms  ${l.dir}: ${printable(l.line)}`).join('\n');
}
