/** The verification request: client IP normalisation and Postfix's protocol states. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normaliseClientIp, stageFromPostfix, toRequest } from '../../../src/service/request.js';

describe('normaliseClientIp', () => {
  it('reads IPv4-mapped IPv6 in any writing as the IPv4 address', () => {
    for (const text of [
      '::ffff:192.0.2.1',
      '::FFFF:192.0.2.1',
      '::ffff:c000:201',
      '::ffff:C000:0201',
      '0:0:0:0:0:ffff:192.0.2.1',
      '0000:0000:0000:0000:0000:ffff:c000:0201',
      '[::ffff:192.0.2.1]',
      'IPv6:::ffff:192.0.2.1',
      '[IPv6:::ffff:c000:201]',
      ' 192.0.2.1 ',
      '[192.0.2.1]',
    ]) {
      assert.equal(normaliseClientIp(text), '192.0.2.1', text);
    }
  });

  it('writes IPv6 in its one RFC 5952 form, without a zone', () => {
    assert.equal(normaliseClientIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normaliseClientIp('[IPv6:2001:db8::0:1]'), '2001:db8::1');
    assert.equal(normaliseClientIp('fe80::1%eth0'), 'fe80::1');
    assert.equal(normaliseClientIp('::1'), '::1');
  });

  it('is null for anything that is not an address (never a guess)', () => {
    for (const text of [
      '',
      'unknown',
      '1.2.3',
      '0x7f.1',
      '010.0.0.1',
      '1.2.3.4.5',
      'fe80::1::2',
      'mx.example',
      null,
      undefined,
    ]) {
      assert.equal(normaliseClientIp(text), null, String(text));
    }
  });
});

describe('toRequest', () => {
  it('makes a bare address a request without connection facts', () => {
    assert.deepEqual(toRequest('a@b.example'), {
      sender: 'a@b.example',
      client: { ip: null, helo: null, hostname: null },
      saslUser: null,
      stage: 'unknown',
    });
  });

  it('normalises the facts a front-end gives, and reads empty ones as unknown', () => {
    assert.deepEqual(
      toRequest({
        sender: '',
        clientIp: '::ffff:127.0.0.2',
        helo: ' mx.example ',
        clientHostname: '',
        saslUser: '',
        stage: 'rcpt',
      }),
      {
        sender: '',
        client: { ip: '127.0.0.2', helo: 'mx.example', hostname: null },
        saslUser: null,
        stage: 'rcpt',
      },
    );
  });

  it('maps Postfix protocol states', () => {
    assert.deepEqual(
      ['RCPT', 'mail', 'EHLO', 'END-OF-MESSAGE', 'BDAT', 'VRFY', undefined].map(stageFromPostfix),
      ['rcpt', 'mail', 'helo', 'end_of_message', 'data', 'unknown', 'unknown'],
    );
  });
});
