/**
 * The Received-SPF field against RFC 7208 section 9.1's grammar, for hostile and odd inputs:
 * every key-value pair's value is a dot-atom or a quoted-string (RFC 5322 3.2.3, 3.2.4), the
 * comment stays one balanced comment, and nothing a client sends (HELO, sender) can end the
 * field or start another one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SpfOutcome } from '../../../src/service/spf/outcome.js';
import { receivedSpf } from '../../../src/service/spf/received-spf.js';

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const DOT_ATOM = `${ATEXT}+(?:\\.${ATEXT}+)*`;
const QUOTED = '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*"';
const PAIR = `[A-Za-z][A-Za-z0-9-]*=(?:${DOT_ATOM}|${QUOTED})`;
const COMMENT = '\\((?:[\\x20-\\x27\\x2a-\\x5b\\x5d-\\x7e])*\\)';
/** RFC 7208 9.1: "Received-SPF:" result FWS [comment FWS] [key-value-list], on one line here. */
const FIELD = new RegExp(
  `^Received-SPF: (pass|fail|softfail|neutral|none|temperror|permerror) ${COMMENT} ${PAIR}(?:; ${PAIR})*$`,
);

function outcome(clientIp: string, comment = 'domain of x designates it'): SpfOutcome {
  return { result: 'pass', identity: 'mailfrom', domain: 'example.org', clientIp, comment, cached: false };
}

describe('Received-SPF (RFC 7208 9.1)', () => {
  const cases: [string, SpfOutcome, { sender: string; helo: string | null; receiver: string }][] = [
    [
      'an IPv4 client',
      outcome('192.0.2.1'),
      { sender: 'a@example.org', helo: 'mx.example.org', receiver: 'mx.test' },
    ],
    [
      'an IPv6 client',
      outcome('2001:db8::1'),
      { sender: 'a@example.org', helo: 'mx.example.org', receiver: 'mx.test' },
    ],
    [
      'an address-literal HELO',
      outcome('2001:db8::1'),
      { sender: 'a@example.org', helo: '[IPv6:2001:db8::1]', receiver: '[192.0.2.9]' },
    ],
    ['the null sender', outcome('192.0.2.1'), { sender: '', helo: 'mx.example.org', receiver: 'mx.test' }],
    [
      'a quoted local part',
      outcome('192.0.2.1'),
      { sender: '"john \\"q\\" smith"@example.org', helo: null, receiver: 'mx.test' },
    ],
    [
      'a HELO with line breaks, quotes and a backslash',
      outcome('192.0.2.1'),
      { sender: 'a@example.org', helo: 'x"\r\nX-Injected: yes\\', receiver: 'mx.test' },
    ],
    [
      'a comment with parentheses, a backslash and a line break',
      outcome('192.0.2.1', 'domain of (a)@example.org \\ designates\r\nX-Injected: yes'),
      { sender: 'a@example.org', helo: 'mx.example.org', receiver: 'mx.test' },
    ],
    ['an empty HELO', outcome('192.0.2.1'), { sender: 'a@example.org', helo: '', receiver: 'mx.test' }],
  ];
  for (const [what, o, facts] of cases) {
    it(what, () => {
      const field = receivedSpf(o, facts);
      assert.match(field, FIELD, field);
      assert.doesNotMatch(field, /[\r\n]/);
    });
  }

  it('quotes an IPv6 client-ip (":" is no atext) and keeps an IPv4 one bare', () => {
    const facts = { sender: 'a@example.org', helo: null, receiver: 'mx.test' };
    assert.match(receivedSpf(outcome('2001:db8::1'), facts), /client-ip="2001:db8::1";/);
    assert.match(receivedSpf(outcome('192.0.2.1'), facts), /client-ip=192\.0\.2\.1;/);
  });
});
