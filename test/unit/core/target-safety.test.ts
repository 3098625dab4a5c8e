import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrList, TargetPolicy, isValidCidr } from '../../../src/core/target-safety.js';

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
  it('allows targets whose allow_targets entry is written IPv4-mapped, in both forms', () => {
    for (const entry of ['::ffff:127.0.1.5', '::ffff:127.0.0.0/104', '::FFFF:7f00:0/104']) {
      const p = new TargetPolicy([entry]);
      assert.equal(p.check('127.0.1.5').safe, true, entry);
      assert.equal(p.check('::ffff:127.0.1.5').safe, true, entry);
      assert.equal(p.check('10.0.0.1').safe, false, entry);
    }
  });
});

describe('CidrList', () => {
  /** [entry, addresses it must contain, addresses it must not]. */
  const cases: [string, string[], string[]][] = [
    ['::ffff:10.0.0.1', ['10.0.0.1', '::ffff:10.0.0.1', '::ffff:a00:1'], ['10.0.0.2', '::a00:1']],
    ['::ffff:10.0.0.0/104', ['10.200.0.1', '::ffff:10.200.0.1'], ['11.0.0.1', '::ffff:11.0.0.1']],
    ['::ffff:0:0/96', ['192.0.2.1', '::ffff:192.0.2.1'], ['2001:db8::1']],
    ['10.0.0.0/8', ['10.1.2.3', '::ffff:10.1.2.3'], ['11.1.2.3']],
    ['192.0.2.7', ['192.0.2.7', '::ffff:192.0.2.7'], ['192.0.2.8']],
    ['2001:db8::/32', ['2001:db8::1'], ['2001:db9::1', '10.0.0.1']],
  ];
  for (const [entry, inside, outside] of cases) {
    it(`${entry} contains ${inside.join(', ')} and not ${outside.join(', ')}`, () => {
      const list = new CidrList([entry]);
      for (const ip of inside) assert.equal(list.contains(ip), true, ip);
      for (const ip of outside) assert.equal(list.contains(ip), false, ip);
    });
  }

  it('refuses entries that would not mean what they say', () => {
    // inet_aton forms: octal, short and hex quads read as other addresses than they look.
    for (const bad of ['010.0.0.1', '10.1', '0xa.0.0.1', '010.0.0.0/8', '10.0.0.0/+8', '::ffff:10.0.0.0/80'])
      assert.equal(isValidCidr(bad), false, bad);
    assert.throws(() => new CidrList(['::ffff:10.0.0.0/80']), /prefix of \/96 or longer/);
  });
});
