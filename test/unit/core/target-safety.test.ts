import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TargetPolicy } from '../../../src/core/target-safety.js';

describe('TargetPolicy', () => {
  const policy = new TargetPolicy();
  const refused = [
    '127.0.0.1',
    '127.1.2.3',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '255.255.255.255',
    '224.0.0.1',
    '192.0.2.10',
    '198.51.100.1',
    '203.0.113.5',
    '198.18.0.1',
    '240.0.0.1',
    '192.0.0.8',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '2001:db8::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '64:ff9b::a00:1',
    '2002:a00:1::1',
    '2001::1',
    '::127.0.0.1',
    '100::1',
    'not-an-ip',
  ];
  for (const ip of refused) {
    it(`refuses ${ip}`, () => assert.equal(policy.check(ip).safe, false));
  }
  const allowed = [
    '8.8.8.8',
    '93.184.216.34',
    '2a00:1450:4001:81b::200e',
    '::ffff:8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
  ];
  for (const ip of allowed) {
    it(`allows ${ip}`, () => assert.equal(policy.check(ip).safe, true));
  }
  it('names the range it refused', () =>
    assert.deepEqual(policy.check('10.0.0.1'), { safe: false, range: 'private' }));
  it('allows configured CIDRs, including IPv4-mapped forms of them', () => {
    const p = new TargetPolicy(['127.0.0.0/8', '10.9.0.0/16']);
    assert.equal(p.check('127.0.1.5').safe, true);
    assert.equal(p.check('::ffff:127.0.0.1').safe, true);
    assert.equal(p.check('10.9.3.4').safe, true);
    assert.equal(p.check('10.8.3.4').safe, false);
    assert.equal(p.check('::1').safe, false);
  });
  it('rejects malformed CIDRs loudly', () =>
    assert.throws(() => new TargetPolicy(['10.0.0.0/33']), /is not an IP address or CIDR/));
});
