/**
 * Every configured domain list is normalised once, in the schema, to the form cbv compares
 * everywhere (A-labels, lower case, no trailing dot), whichever form the file uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

function fails(raw: unknown, message: RegExp): void {
  assert.throws(
    () => parseConfig(raw, 'cbv.yaml'),
    (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'),
  );
}

describe('domain lists in the configuration', () => {
  it('accepts U-labels and A-labels in every list and keeps one canonical form', () => {
    const c = parseConfig(
      {
        verify: { sender: 'Verify@Prüfung.example', recheck_sender: 'postmaster@MX.Prüfung.example.' },
        http: { allowed_hosts: ['cbv.bücher.example', 'cbv.example.org', '192.0.2.1'] },
        service: {
          skip_domains: ['Bücher.Example.', 'xn--bcher-kva.example'],
          skip_addresses: ['Ghost@Straße.example'],
          routes: { 'Relay-ü.example.': '10.0.0.5:25' },
        },
        policy: {
          local_domains: ['MÜLLER.example', 'mail.example.org.'],
          allow_senders: ['straße.example', 'x@[192.0.2.1]', '[192.0.2.2]', 'john doe@bücher.example'],
        },
      },
      'cbv.yaml',
    );
    assert.equal(c.verify.sender, 'Verify@xn--prfung-4ya.example');
    assert.equal(c.verify.recheck_sender, 'postmaster@mx.xn--prfung-4ya.example');
    assert.deepEqual(c.http.allowed_hosts, ['cbv.xn--bcher-kva.example', 'cbv.example.org', '192.0.2.1']);
    assert.deepEqual(c.service.skip_domains, ['xn--bcher-kva.example', 'xn--bcher-kva.example']);
    assert.deepEqual(c.service.skip_addresses, ['Ghost@xn--strae-oqa.example']);
    assert.deepEqual(c.service.routes, { 'xn--relay--8ya.example': '10.0.0.5:25' });
    assert.deepEqual(c.policy.local_domains, ['xn--mller-kva.example', 'mail.example.org']);
    assert.deepEqual(c.policy.allow_senders, [
      'xn--strae-oqa.example',
      'x@[192.0.2.1]',
      '[192.0.2.2]',
      '"john doe"@xn--bcher-kva.example',
    ]);
  });

  it('reads a domain in NFD, with ideographic or full-width stops, or an A-label in upper case, as the same one', () => {
    const c = parseConfig(
      {
        service: { skip_domains: ['bu\u0308cher。example。', 'XN--MLLER-KVA.EXAMPLE.', 'straße．example'] },
        policy: {
          local_domains: ['Bu\u0308cher｡Example', 'xn--bcher-kva.example'],
          allow_senders: ['[IPv6:2001:DB8:0:0::1]', 'x@[ipv6:0:0::1]', 'Ghost@Stra\u00dfe。example'],
        },
      },
      'cbv.yaml',
    );
    assert.deepEqual(c.service.skip_domains, [
      'xn--bcher-kva.example',
      'xn--mller-kva.example',
      'xn--strae-oqa.example',
    ]);
    assert.deepEqual(c.policy.local_domains, ['xn--bcher-kva.example', 'xn--bcher-kva.example']);
    assert.deepEqual(c.policy.allow_senders, [
      '[IPv6:2001:db8::1]',
      'x@[IPv6:::1]',
      'Ghost@xn--strae-oqa.example',
    ]);
  });

  it('refuses what is not a domain, naming the key, in one line', () => {
    fails(
      { policy: { local_domains: ['exa mple.org'] } },
      /^cbv\.yaml: policy\.local_domains\.0: got "exa mple\.org", expected a domain such as example\.org or bücher\.example \(space at position 4/,
    );
    fails({ service: { skip_domains: ['localhost'] } }, /service\.skip_domains\.0: .*has no dot/);
    fails({ policy: { local_domains: ['[192.0.2.1]'] } }, /policy\.local_domains\.0: got "\[192\.0\.2\.1\]"/);
    fails(
      { service: { routes: { 'bad..example': '10.0.0.5:25' } } },
      /service\.routes\.bad\.\.example: .*empty label/,
    );
    fails({ service: { skip_addresses: ['nobody'] } }, /service\.skip_addresses\.0: .*missing '@'/);
    fails({ verify: { sender: '<postmaster@example.org>' } }, /verify\.sender: /);
  });

  it('reads @domain as Postfix\'s access maps do: the whole domain in allow_senders, refused in skip_addresses (was the empty local part ""@domain)', () => {
    const c = parseConfig(
      { policy: { allow_senders: ['@Partner.Example', '@bücher.example.', '""@x.example'] } },
      'x',
    );
    assert.deepEqual(c.policy.allow_senders, ['partner.example', 'xn--bcher-kva.example', '""@x.example']);
    fails(
      { service: { skip_addresses: ['@example.org'] } },
      /service\.skip_addresses\.0: got "@example\.org", expected .*service\.skip_domains/,
    );
  });

  it('refuses one route domain given twice in two spellings', () => {
    fails(
      { service: { routes: { 'bücher.example': '10.0.0.5:25', 'XN--BCHER-KVA.example': '10.0.0.6:25' } } },
      /service\.routes\.XN--BCHER-KVA\.example: .*each domain once \(xn--bcher-kva\.example is listed twice/,
    );
  });
});
