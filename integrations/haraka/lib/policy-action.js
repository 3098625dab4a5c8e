'use strict';
/**
 * Reads a Postfix access(5) action, as cbv's policy server answers it, into what a Haraka hook
 * does with it. The mapping follows access(5):
 *
 *   4NN [x.y.z] text, DEFER text, DEFER_IF_PERMIT text   -> DENYSOFT (4xx)
 *   5NN [x.y.z] text, REJECT text                        -> DENY (5xx)
 *   PREPEND header: value                                -> continue, and add the header
 *   WARN text                                            -> continue, and log the text
 *   DUNNO, OK, anything else                             -> continue (other plugins decide)
 *
 * "OK" is deliberately not an acceptance: cbv has no opinion that should bypass the gateway's
 * other checks. DEFER_IF_REJECT only defers a message that is rejected anyway, which Haraka
 * would do on its own, so it continues too.
 */

/**
 * @typedef {object} Verdict
 * @property {'continue' | 'deny' | 'denysoft'} kind
 * @property {number} [code]      the SMTP reply code, for deny and denysoft
 * @property {[number, number, number]} [enhanced]  the RFC 3463 enhanced status code
 * @property {string} [text]      the reply text without the codes
 * @property {{ name: string, value: string }} [header]  for PREPEND
 * @property {string} [warning]   for WARN
 */

const CODE = /^([45])(\d\d)(?:\s+(.*))?$/s;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+(.*))?$/s;

/**
 * @param {string} text a reply text that may start with an enhanced status code
 * @param {4 | 5} cls the reply class the code must agree with
 * @param {[number, number, number]} fallback
 * @returns {{ enhanced: [number, number, number], text: string }}
 */
function splitEnhanced(text, cls, fallback) {
  const m = ENHANCED.exec(text.trim());
  if (m && Number(m[1]) === cls) return { enhanced: [cls, Number(m[2]), Number(m[3])], text: m[4] ?? '' };
  return { enhanced: fallback, text: text.trim() };
}

/** @param {string} action @returns {Verdict} */
function readAction(action) {
  const trimmed = action.trim();
  const m = CODE.exec(trimmed);
  if (m) {
    const cls = Number(m[1]);
    const code = cls * 100 + Number(m[2]);
    return { kind: cls === 5 ? 'deny' : 'denysoft', code, ...splitEnhanced(m[3] ?? '', cls, [cls, 0, 0]) };
  }
  const space = trimmed.indexOf(' ');
  const word = (space < 0 ? trimmed : trimmed.slice(0, space)).toUpperCase();
  const rest = space < 0 ? '' : trimmed.slice(space + 1);
  switch (word) {
    case 'REJECT':
      return { kind: 'deny', code: 550, ...splitEnhanced(rest, 5, [5, 7, 1]) };
    case 'DEFER':
    case 'DEFER_IF_PERMIT':
      return { kind: 'denysoft', code: 450, ...splitEnhanced(rest, 4, [4, 7, 1]) };
    case 'PREPEND': {
      const colon = rest.indexOf(':');
      if (colon <= 0) return { kind: 'continue' };
      return {
        kind: 'continue',
        header: { name: rest.slice(0, colon).trim(), value: rest.slice(colon + 1).trim() },
      };
    }
    case 'WARN':
      return { kind: 'continue', warning: rest };
    default:
      return { kind: 'continue' };
  }
}

module.exports = { readAction };
