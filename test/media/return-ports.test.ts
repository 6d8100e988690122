// Where a viewer's packets go, for every way HAP-NodeJS can listen: IPv4 only (bind to an IPv4 address), dual-stack
// `::` (the default, and interface names), with IPv4-mapped connections, IPv6 viewers and link-local addresses. The
// sockets are real: each route is bound and a datagram sent to the advertised address must arrive.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { NetworkInterfaceInfo } from 'node:os';
import { Interfaces, ReturnPorts, srtpOutput, viewerRoute } from '../../src/media/return-ports';

function info(address: string, family: 'IPv4' | 'IPv6', scopeid?: number): NetworkInterfaceInfo {
  const base = { address, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null };
  return family === 'IPv4' ? { ...base, family } : { ...base, family, scopeid: scopeid ?? 0 };
}

const HOME: Interfaces = {
  lo: [info('127.0.0.1', 'IPv4'), info('::1', 'IPv6')],
  eth0: [info('192.168.1.5', 'IPv4'), info('192.168.1.6', 'IPv4'), info('fe80::5', 'IPv6', 2), info('fd00::5', 'IPv6')],
  wlan0: [info('fe80::9', 'IPv6', 3)],
};

/** Bind the route's sockets, send one datagram to the advertised address and port, and see it arrive. */
async function roundTrip(route: { family: 4 | 6; bind: string; advertise: string }): Promise<void> {
  const ports = await ReturnPorts.open(route);
  const sender = createSocket(route.family === 6 ? 'udp6' : 'udp4');
  try {
    const got = new Promise<string>((resolve) => ports.video.once('message', (m) => resolve(m.toString())));
    sender.send('rtcp', ports.video.address().port, route.advertise);
    assert.equal(await Promise.race([got, new Promise((r) => setTimeout(() => r('nothing within 2 s'), 2000))]), 'rtcp');
  } finally {
    sender.close();
    ports.close();
  }
}

describe('media/return-ports: where a live viewer\'s packets go', () => {
  it('HAP on 0.0.0.0: plain IPv4 is bound and announced as it is', () => {
    const route = viewerRoute({ sourceAddress: '192.168.1.6', targetAddress: '192.168.1.40', addressVersion: 'ipv4' }, HOME);
    assert.deepEqual(route, { family: 4, bind: '192.168.1.6', advertise: '192.168.1.6', target: '192.168.1.40' });
  });

  it('HAP on :: (the default): an IPv4 viewer arrives IPv4-mapped and gets a plain IPv4 socket and announcement', () => {
    const route = viewerRoute({ sourceAddress: '::ffff:192.168.1.6', targetAddress: '192.168.1.40', addressVersion: 'ipv4' }, HOME);
    // The second address of eth0: HAP itself would announce the first (192.168.1.5), which is not where we listen.
    assert.deepEqual(route, { family: 4, bind: '192.168.1.6', advertise: '192.168.1.6', target: '192.168.1.40' });
  });

  it('an IPv6 viewer on a global or ULA address', () => {
    const route = viewerRoute({ sourceAddress: 'fd00::5', targetAddress: 'fd00::40', addressVersion: 'ipv6' }, HOME);
    assert.deepEqual(route, { family: 6, bind: 'fd00::5', advertise: 'fd00::5', target: 'fd00::40' });
  });

  it('link-local IPv6: both ends get the interface as their zone (a link-local address means nothing without one)', () => {
    const route = viewerRoute({ sourceAddress: 'fe80::5', targetAddress: 'fe80::40', addressVersion: 'ipv6' }, HOME);
    assert.deepEqual(route, { family: 6, bind: 'fe80::5%eth0', advertise: 'fe80::5', target: 'fe80::40%eth0' });
    const zoned = viewerRoute({ sourceAddress: 'fe80::9%wlan0', targetAddress: 'fe80::41', addressVersion: 'ipv6' }, HOME);
    assert.deepEqual(zoned, { family: 6, bind: 'fe80::9%wlan0', advertise: 'fe80::9', target: 'fe80::41%wlan0' });
  });

  it('a viewer asking for the other family than it connected with gets the same interface\'s address', () => {
    const v6 = viewerRoute({ sourceAddress: '::ffff:192.168.1.5', targetAddress: 'fd00::40', addressVersion: 'ipv6' }, HOME);
    assert.deepEqual(v6, { family: 6, bind: 'fd00::5', advertise: 'fd00::5', target: 'fd00::40' });
    const v4 = viewerRoute({ sourceAddress: '::1', targetAddress: '127.0.0.1', addressVersion: 'ipv4' }, HOME);
    assert.deepEqual(v4, { family: 4, bind: '127.0.0.1', advertise: '127.0.0.1', target: '127.0.0.1' });
  });

  it('says in words when the interface has no address of the family asked for', () => {
    assert.throws(() => viewerRoute({ sourceAddress: 'fe80::9', targetAddress: '192.168.1.40', addressVersion: 'ipv4' }, HOME),
      /asked for an IPv4 stream but HomeKit reached Homebridge on fe80::9 \(interface wlan0\), which has no IPv4 address/);
  });

  it('binds for real: IPv4-mapped loopback (the bug: udp4 bind EINVAL ::ffff:127.0.0.1), IPv4 and IPv6 loopback', async () => {
    for (const [sourceAddress, addressVersion] of [['::ffff:127.0.0.1', 'ipv4'], ['127.0.0.1', 'ipv4'], ['::1', 'ipv6']] as const) {
      const route = viewerRoute({ sourceAddress, targetAddress: addressVersion === 'ipv6' ? '::1' : '127.0.0.1', addressVersion });
      await roundTrip(route);
    }
  });

  it('a bind failure names the address', async () => {
    await assert.rejects(ReturnPorts.open({ family: 4, bind: '::ffff:127.0.0.1' }),
      /cannot receive the viewer's RTCP on ::ffff:127\.0\.0\.1 \(EINVAL\)/);
  });

  it('ffmpeg gets IPv6 viewers in brackets, zone included', () => {
    const key = Buffer.alloc(30, 1);
    assert.equal(srtpOutput(key, { family: 6, target: 'fe80::40%eth0' }, 5000, 1378).at(-1),
      'srtp://[fe80::40%eth0]:5000?rtcpport=5000&pkt_size=1378');
    assert.equal(srtpOutput(key, { family: 4, target: '192.168.1.40' }, 5000, 188).at(-1),
      'srtp://192.168.1.40:5000?rtcpport=5000&pkt_size=188');
  });
});
