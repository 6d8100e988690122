import assert from 'node:assert/strict';
import {
  hostKey, hostPort, isLoopback, isSameHost, isUnspecified, parseHost, unbracket, unmapIPv4, urlHost,
} from '../../src/util/address';

describe('address spellings', () => {
  it('brackets IPv6 literals for URLs and host:port, and nothing else', () => {
    assert.equal(urlHost('fd00::20'), '[fd00::20]');
    assert.equal(urlHost('[fd00::20]'), '[fd00::20]');
    assert.equal(urlHost('192.168.1.20'), '192.168.1.20');
    assert.equal(urlHost('cam1.local'), 'cam1.local');
    assert.equal(hostPort('::1', 80), '[::1]:80');
    assert.equal(hostPort('10.0.0.5', 8000), '10.0.0.5:8000');
    assert.equal(unbracket('[::1]'), '::1');
    assert.equal(unbracket('::1'), '::1');
  });

  it('writes an IPv4-mapped address as the IPv4 address, in the dotted and in the URL (hex) form', () => {
    assert.equal(unmapIPv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::FFFF:10.0.0.5'), '10.0.0.5');
    assert.equal(unmapIPv4('[::ffff:7f00:1]'), '127.0.0.1');
    assert.equal(unmapIPv4('::ffff:c0a8:105'), '192.168.1.5');
    assert.equal(unmapIPv4('fd00::5'), 'fd00::5');
    assert.equal(unmapIPv4('cam1.local'), 'cam1.local');
  });

  it('compares hosts by address, not by spelling', () => {
    assert.ok(isSameHost('fd00::20', '[FD00:0:0::20]'));
    assert.ok(isSameHost('10.0.0.5', '::ffff:10.0.0.5'));
    assert.ok(isSameHost('Cam1.Local', 'cam1.local'));
    assert.ok(!isSameHost('fd00::20', 'fd00::21'));
    assert.equal(hostKey('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(hostKey('fe80::1%eth0'), 'fe80::1%eth0');
  });

  it('knows "any address" and loopback in every spelling', () => {
    for (const any of ['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']) {
      assert.ok(isUnspecified(any), any);
    }
    for (const self of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1']) {
      assert.ok(isLoopback(self), self);
    }
    assert.ok(!isLoopback('10.0.0.1') && !isLoopback('localhost') && !isUnspecified('10.0.0.1'));
  });

  it('reads a configured host into one spelling', () => {
    assert.deepEqual(parseHost(' 192.168.1.20 '), { host: '192.168.1.20' });
    assert.deepEqual(parseHost('[fd00::20]'), { host: 'fd00::20' });
    assert.deepEqual(parseHost('FD00:0::20'), { host: 'fd00::20' });
    assert.deepEqual(parseHost('::1'), { host: '::1' });
    assert.deepEqual(parseHost('::ffff:192.168.1.20'), { host: '192.168.1.20' });
    assert.deepEqual(parseHost('cam1.local'), { host: 'cam1.local' });
    assert.deepEqual(parseHost('front_door'), { host: 'front_door' });
    assert.deepEqual(parseHost('1e100.net'), { host: '1e100.net' });
  });

  it('refuses, with the reason, hosts that would fail later or reach another address', () => {
    const problem = (raw: string): string => {
      const r = parseHost(raw);
      assert.ok('problem' in r, `${raw} was accepted as ${JSON.stringify(r)}`);
      return r.problem;
    };
    assert.match(problem('fe80::1%eth0'), /zone/);
    assert.match(problem('[fe80::1%25eth0]'), /zone/);
    // URL would read these as 1.2.0.3, 8.0.0.1 and 127.0.0.1: another camera than the one the user meant.
    assert.match(problem('1.2.3'), /not a valid IPv4 address/);
    assert.match(problem('010.0.0.1'), /not a valid IPv4 address/);
    assert.match(problem('cam.0x7f000001'), /not a valid IPv4 address/);
    assert.match(problem('999.1.1.1'), /not a valid IPv4 address/);
    assert.match(problem('[fd00::1'), /not a valid/);
    assert.match(problem('[192.168.1.20]'), /brackets/);
    assert.match(problem('fd00::1::2'), /not a valid IPv6 address/);
    assert.match(problem('cam one'), /not a valid host name/);
    assert.match(problem(''), /not a valid/);
  });
});
