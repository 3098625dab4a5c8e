/** Domains the flood breaker holds tripped: new senders deferred, verified as a trickle. */
import { api } from './api.js';
import { byId, h, printable, when } from './dom.js';

/** @typedef {{domain: string, until: string, suspects: number, queued: number}} Tripped */

/** @param {string} label @param {Node | string} content */
const td = (label, content) => h('td', { 'data-label': label }, content);

/** @param {Tripped} t */
const row = (t) =>
  h(
    'tr',
    {},
    td('Domain', printable(t.domain)),
    td('Unknown senders', String(t.suspects)),
    td('Waiting for the trickle', String(t.queued)),
    td('Until', when(t.until)),
  );

export async function refreshFlood() {
  /** @type {{tripped: Tripped[]}} */
  const { tripped } = await api('/v1/flood');
  byId('flood-table')
    .querySelector('tbody')
    ?.replaceChildren(...tripped.map(row));
  byId('flood-table').hidden = tripped.length === 0;
  byId('flood-empty').hidden = tripped.length > 0;
}
