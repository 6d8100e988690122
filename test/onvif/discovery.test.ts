import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { CameraSim } from '../../tools/camera-sim';
import { DiscoveryResponder, endpointOf, startDiscoveryResponder } from '../../tools/camera-sim/discovery';
import { DiscoveredCamera, cameraFromMatch, discover, parseProbeMatches } from '../../src/onvif/discovery';
import { DISCOVERY_MAX_DATAGRAM_BYTES } from '../../src/settings';
import { XmlElement, child, parseXml, path, textAt } from '../../src/onvif/xml';
import { sleep, until } from '../e2e/rig/wait';

// Every datagram in this file goes to 127.0.0.1: the multicast default is for users, never for tests.
const LOOPBACK = '127.0.0.1';
const WSA = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const WSD = 'http://schemas.xmlsoap.org/ws/2005/04/discovery';
const UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Datagram { msg: Buffer; from: dgram.RemoteInfo }

/** A UDP socket on 127.0.0.1 that records what it receives and lets the test answer; closed by the caller. */
async function udpPeer(): Promise<{ socket: dgram.Socket; port: number; got: Datagram[] }> {
  const socket = dgram.createSocket('udp4');
  const got: Datagram[] = [];
  socket.on('error', () => undefined);
  socket.on('message', (msg, from) => got.push({ msg, from }));
  await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
  return { socket, port: socket.address().port, got };
}

const closeSocket = (s: dgram.Socket): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

function probeIdOf(msg: Buffer): string {
  return textAt(child(parseXml(msg.toString('utf8')), 'Header'), 'MessageID')?.trim() ?? '';
}

/** A ProbeMatches datagram as cameras send it, with the parts a test wants to vary. */
function match(o: { relatesTo?: string; endpoint?: string; xaddrs: string; scopes?: string; prefix?: string }): string {
  const p = o.prefix ?? 'SOAP-ENV';
  const relates = o.relatesTo === undefined ? '' : `<wsa:RelatesTo>${o.relatesTo}</wsa:RelatesTo>`;
  const epr = o.endpoint === undefined ? '' : `<wsa:EndpointReference><wsa:Address>${o.endpoint}</wsa:Address></wsa:EndpointReference>`;
  return `<?xml version="1.0" encoding="UTF-8"?><${p}:Envelope xmlns:${p}="http://www.w3.org/2003/05/soap-envelope" ` +
    `xmlns:wsa="${WSA}" xmlns:wsdd="${WSD}"><${p}:Header><wsa:MessageID>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsa:MessageID>` +
    `${relates}<wsa:Action>${WSD}/ProbeMatches</wsa:Action></${p}:Header><${p}:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>${epr}` +
    `<wsdd:Types>dn:NetworkVideoTransmitter</wsdd:Types><wsdd:Scopes>${o.scopes ?? ''}</wsdd:Scopes>` +
    `<wsdd:XAddrs>${o.xaddrs}</wsdd:XAddrs><wsdd:MetadataVersion>1</wsdd:MetadataVersion></wsdd:ProbeMatch></wsdd:ProbeMatches>` +
    `</${p}:Body></${p}:Envelope>`;
}

describe('WS-Discovery', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  let responder: DiscoveryResponder;
  const credentials = { username: 'admin', password: 'Sim-Pass-4821' };

  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        { name: 'Front Door', vendor: 'hikvision' },
        { name: 'Garage & Yard', vendor: 'dahua' },
        { name: 'Back Garden', vendor: 'axis', password: 'a-different-password' },
      ],
    });
    responder = await startDiscoveryResponder(sim.cameras);
  });
  after(async () => {
    await responder?.stop();
    await sim?.stop();
  });

  const byPort = (found: DiscoveredCamera[], port: number): DiscoveredCamera => {
    const cam = found.find((c) => c.port === port);
    assert.ok(cam, `no camera found on port ${port}: ${JSON.stringify(found.map((c) => c.port))}`);
    return cam;
  };

  it('finds every simulated camera with its name, address and identity, and checks the credentials', async () => {
    const found = await discover({ target: { address: LOOPBACK, port: responder.port }, timeoutMs: 500, credentials });
    assert.equal(found.length, 3);
    for (const sc of sim.cameras) {
      const cam = byPort(found, sc.port);
      assert.equal(cam.host, '127.0.0.1');
      assert.equal(cam.xaddr, sc.deviceUrl); // the IPv4 XAddr, not the link-local IPv6 one listed after it
      assert.equal(cam.name, sc.name);       // URL-decoded ('Garage%20%26%20Yard')
      assert.equal(cam.hardware, sc.info.model);
      assert.match(cam.endpoint, UUID);
      assert.equal(cam.endpoint, endpointOf(sc));
      assert.ok(cam.scopes.includes('onvif://www.onvif.org/Profile/Streaming'), cam.scopes.join(' '));
    }
    for (const sc of sim.cameras.slice(0, 2)) {
      const cam = byPort(found, sc.port);
      assert.equal(cam.auth, 'ok', cam.authError);
      assert.deepEqual(cam.info, { manufacturer: sc.info.manufacturer, model: sc.info.model, serial: sc.info.serial, firmware: sc.info.firmware });
    }
    const wrong = byPort(found, sim.cameras[2].port);
    assert.equal(wrong.auth, 'failed');
    assert.equal(wrong.info, undefined);
    assert.match(wrong.authError ?? '', /authentication failed/);
    assert.ok(!(wrong.authError ?? '').includes(credentials.password));
  });

  it('leaves auth untested without credentials', async () => {
    const found = await discover({ target: { address: LOOPBACK, port: responder.port }, timeoutMs: 300 });
    assert.equal(found.length, 3);
    assert.deepEqual(found.map((c) => c.auth), ['untested', 'untested', 'untested']);
    assert.ok(found.every((c) => c.info === undefined));
  });

  it('reports a camera that answers discovery but not on its ONVIF port as unreachable', async () => {
    const cam = sim.cameras[0];
    cam.setOffline(true);
    try {
      const found = await discover({ target: { address: LOOPBACK, port: responder.port }, timeoutMs: 300, credentials });
      const off = byPort(found, cam.port);
      assert.equal(off.auth, 'unreachable');
      assert.match(off.authError ?? '', /refused/);
      assert.equal(byPort(found, sim.cameras[1].port).auth, 'ok');
    } finally {
      cam.setOffline(false);
      await cam.whenOnline();
    }
  });

  it('sends a WS-Discovery Probe for NetworkVideoTransmitters, repeated with one MessageID, fresh per scan', async () => {
    const peer = await udpPeer();
    try {
      await discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 1000 });
      const first = peer.got.length;
      await discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 1000 });
      // SOAP-over-UDP retransmission: the first send and two repeats, all well within the second of listening.
      assert.equal(first, 3);
      assert.equal(peer.got.length, 6);
      const ids = peer.got.map((d) => probeIdOf(d.msg));
      assert.match(ids[0], UUID);
      assert.deepEqual(ids.slice(0, 3), [ids[0], ids[0], ids[0]]);
      assert.deepEqual(ids.slice(3), [ids[3], ids[3], ids[3]]);
      assert.notEqual(ids[0], ids[3]);

      const env = parseXml(peer.got[0].msg.toString('utf8'));
      assert.equal(env.attrs[`xmlns:${env.prefix}`], 'http://www.w3.org/2003/05/soap-envelope');
      const header = child(env, 'Header');
      assert.equal(textAt(header, 'Action'), `${WSD}/Probe`);
      assert.equal(textAt(header, 'To'), 'urn:schemas-xmlsoap-org:ws:2005:04:discovery');
      const types = path(env, 'Body', 'Probe', 'Types') as XmlElement;
      const [prefix, local] = types.text.trim().split(':');
      assert.equal(local, 'NetworkVideoTransmitter');
      assert.equal(env.attrs[`xmlns:${prefix}`], 'http://www.onvif.org/ver10/network/wsdl');
    } finally {
      await closeSocket(peer.socket);
    }
  });

  it('skips malformed, oversized, foreign and unusable answers and still reports the good ones', async () => {
    const peer = await udpPeer();
    const send = (text: string | Buffer, to: dgram.RemoteInfo): Promise<void> => new Promise((resolve) =>
      peer.socket.send(typeof text === 'string' ? Buffer.from(text) : text, to.port, to.address, () => resolve()));
    try {
      const scan = discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 800 });
      await until(() => peer.got.length > 0, 'the probe');
      const { msg, from } = peer.got[0];
      const id = probeIdOf(msg);
      const good = match({ relatesTo: id, endpoint: 'urn:uuid:11111111-2222-4333-8444-555555555555',
        xaddrs: 'http://[fe80::1]/onvif/device_service https://127.0.0.1/onvif/device_service http://127.0.0.1:8081/onvif/device_service',
        scopes: 'onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/name/Porch%20Cam onvif://www.onvif.org/hardware/DS-2CD2347G2-LU' });
      const hostile: (string | Buffer)[] = [
        'not xml at all',
        Buffer.from([0xff, 0xfe, 0x00, 0x3c, 0x00]),
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><Envelope><Body>&lol;</Body></Envelope>',
        good.slice(0, good.length / 2), // truncated
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value>' +
          '</s:Code><s:Reason><s:Text xml:lang="en">MatchingRuleNotSupported</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>',
        // Over the size bound, however well-formed.
        good.replace('onvif://www.onvif.org/Profile/Streaming', `onvif://www.onvif.org/x/${'a'.repeat(DISCOVERY_MAX_DATAGRAM_BYTES)}`)
          .replace('11111111-2222', '99999999-2222'),
        // An answer to another probe.
        match({ relatesTo: 'urn:uuid:00000000-0000-4000-8000-000000000000', endpoint: 'urn:uuid:22222222-0000-4000-8000-000000000000',
          xaddrs: 'http://127.0.0.1:8082/onvif/device_service' }),
        // Nothing we can connect to: IPv6 and https only, and no XAddrs at all.
        match({ relatesTo: id, endpoint: 'urn:uuid:33333333-0000-4000-8000-000000000000',
          xaddrs: 'http://[fe80::2]/onvif/device_service https://127.0.0.1/onvif/device_service' }),
        match({ relatesTo: id, endpoint: 'urn:uuid:44444444-0000-4000-8000-000000000000', xaddrs: '' }),
        good,
        good, // a repeat answered twice
        // The same endpoint again through another interface: still one camera.
        match({ relatesTo: id.replace(/^urn:/, ''), endpoint: 'urn:uuid:11111111-2222-4333-8444-555555555555',
          xaddrs: 'http://127.0.0.2:8081/onvif/device_service' }),
        // No RelatesTo, "Name" capitalised, a broken %-escape and a non-default prefix: still a camera.
        match({ endpoint: 'uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593', prefix: 'env',
          xaddrs: 'http://127.0.0.2:8080/onvif/device_service http://127.0.0.1/onvif/device_service',
          scopes: 'onvif://www.onvif.org/Name/IPCAM%zz onvif://www.onvif.org/location/country/china' }),
      ];
      for (const datagram of hostile) {
        await send(datagram, from);
      }
      const found = await scan;
      assert.deepEqual(found.map((c) => [c.endpoint, c.host, c.port, c.name, c.hardware, c.xaddr]), [
        ['urn:uuid:11111111-2222-4333-8444-555555555555', '127.0.0.1', 8081, 'Porch Cam', 'DS-2CD2347G2-LU',
          'http://127.0.0.1:8081/onvif/device_service'],
        // The XAddr the answer came from wins over the first listed; no port means 80.
        ['uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593', '127.0.0.1', 80, 'IPCAM%zz', undefined, 'http://127.0.0.1/onvif/device_service'],
      ]);
    } finally {
      await closeSocket(peer.socket);
    }
  });

  it('reads a real camera capture', () => {
    // Trimmed from andreikop/python-ws-discovery tests/data/probe_response.xml (an ONVIF camera's answer).
    const capture = '<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" ' +
      `xmlns:wsa="${WSA}" xmlns:wsdd="${WSD}"><SOAP-ENV:Header><wsa:MessageID>uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593</wsa:MessageID>` +
      '<wsa:RelatesTo>urn:uuid:2de9f5ad-abd2-4c0e-9ba8-178098d67f01</wsa:RelatesTo></SOAP-ENV:Header><SOAP-ENV:Body><wsdd:ProbeMatches>' +
      '<wsdd:ProbeMatch><wsa:EndpointReference><wsa:Address>urn:uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593</wsa:Address>' +
      '<wsa:ReferenceProperties/><wsa:ReferenceParameters/><wsa:PortType>ttl</wsa:PortType></wsa:EndpointReference>' +
      '<wsdd:Scopes>onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/Model/631GA onvif://www.onvif.org/Name/IPCAM ' +
      'onvif://www.onvif.org/location/country/china</wsdd:Scopes><wsdd:XAddrs>http://192.168.1.104:80/onvif/device_service</wsdd:XAddrs>' +
      '<wsdd:MetadataVersion>1</wsdd:MetadataVersion></wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>';
    const parsed = parseProbeMatches(Buffer.from(capture));
    assert.deepEqual(parsed, {
      relatesTo: 'urn:uuid:2de9f5ad-abd2-4c0e-9ba8-178098d67f01',
      matches: [{
        endpoint: 'urn:uuid:2419d68a-2dd2-21b2-a205-78A5DD0F9593',
        xaddrs: ['http://192.168.1.104:80/onvif/device_service'],
        scopes: ['onvif://www.onvif.org/Profile/Streaming', 'onvif://www.onvif.org/Model/631GA', 'onvif://www.onvif.org/Name/IPCAM',
          'onvif://www.onvif.org/location/country/china'],
      }],
    });
    const cam = cameraFromMatch(parsed!.matches[0], '192.168.1.104');
    assert.deepEqual([cam?.host, cam?.port, cam?.name, cam?.hardware], ['192.168.1.104', 80, 'IPCAM', '631GA']);
  });

  it('ends at the timeout when nobody answers', async () => {
    const peer = await udpPeer();
    try {
      const started = Date.now();
      const found = await discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 300 });
      const took = Date.now() - started;
      assert.deepEqual(found, []);
      assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
      assert.ok(peer.got.length >= 1);
    } finally {
      await closeSocket(peer.socket);
    }
  });

  it('rejects at once when aborted while listening, and releases its port', async () => {
    const peer = await udpPeer();
    try {
      const ac = new AbortController();
      const started = Date.now();
      const scan = discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 20_000, signal: ac.signal });
      await until(() => peer.got.length > 0, 'the probe');
      ac.abort();
      await assert.rejects(scan, (err: Error) => err.name === 'AbortError');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      // The client's port is free again: binding it succeeds only once its socket is closed.
      const again = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        again.once('error', reject);
        again.bind(peer.got[0].from.port, LOOPBACK, () => resolve());
      });
      await closeSocket(again);
    } finally {
      await closeSocket(peer.socket);
    }
  });

  it('rejects an already-aborted scan without sending anything', async () => {
    const peer = await udpPeer();
    try {
      const signal = AbortSignal.abort();
      await assert.rejects(discover({ target: { address: LOOPBACK, port: peer.port }, signal }), (err: Error) => err.name === 'AbortError');
      await sleep(100);
      assert.equal(peer.got.length, 0);
    } finally {
      await closeSocket(peer.socket);
    }
  });

  it('rejects promptly when aborted during the credential check of a camera that never answers', async () => {
    const peer = await udpPeer();
    const sockets = new Set<net.Socket>();
    const mute = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    }); // accepts and never answers
    await new Promise<void>((resolve) => mute.listen(0, LOOPBACK, resolve));
    const mutePort = (mute.address() as net.AddressInfo).port;
    try {
      const ac = new AbortController();
      const scan = discover({ target: { address: LOOPBACK, port: peer.port }, timeoutMs: 300, credentials, signal: ac.signal });
      await until(() => peer.got.length > 0, 'the probe');
      const { msg, from } = peer.got[0];
      await new Promise<void>((resolve) => peer.socket.send(Buffer.from(match({ relatesTo: probeIdOf(msg),
        endpoint: 'urn:uuid:55555555-0000-4000-8000-000000000000', xaddrs: `http://127.0.0.1:${mutePort}/onvif/device_service` })),
      from.port, from.address, () => resolve()));
      await until(() => sockets.size > 0, 'the credential check to connect');
      const aborted = Date.now();
      ac.abort();
      await assert.rejects(scan, (err: Error) => err.name === 'AbortError');
      assert.ok(Date.now() - aborted < 1000, `took ${Date.now() - aborted} ms after the abort`);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => mute.close(() => resolve()));
      await closeSocket(peer.socket);
    }
  });

  describe('the simulator responder', () => {
    /** Sends a raw Probe and returns what came back within `ms`. */
    async function probe(types: string, id: string, ms = 300): Promise<Buffer[]> {
      const peer = await udpPeer();
      try {
        const body = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
          `xmlns:a="${WSA}" xmlns:d="${WSD}" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">` +
          `<s:Header><a:MessageID>${id}</a:MessageID></s:Header><s:Body><d:Probe><d:Types>${types}</d:Types></d:Probe></s:Body></s:Envelope>`;
        await new Promise<void>((resolve) => peer.socket.send(Buffer.from(body), responder.port, LOOPBACK, () => resolve()));
        await sleep(ms);
        return peer.got.map((d) => d.msg);
      } finally {
        await closeSocket(peer.socket);
      }
    }

    it('answers tds:Device probes with one ProbeMatch per camera relating to the probe', async () => {
      const id = 'urn:uuid:6f1d9a52-2a0b-4f6e-9a53-5b3c2f1e0d01';
      const replies = await probe('tds:Device', id);
      assert.equal(replies.length, 3);
      for (const r of replies) {
        const parsed = parseProbeMatches(r);
        assert.equal(parsed?.relatesTo, id);
        assert.equal(parsed?.matches.length, 1);
      }
    });

    it('stays silent for other device types and for a repeated MessageID', async () => {
      assert.equal((await probe('dn:NetworkVideoDisplay', 'urn:uuid:6f1d9a52-2a0b-4f6e-9a53-5b3c2f1e0d02')).length, 0);
      const id = 'urn:uuid:6f1d9a52-2a0b-4f6e-9a53-5b3c2f1e0d03';
      assert.equal((await probe('dn:NetworkVideoTransmitter', id)).length, 3);
      assert.equal((await probe('dn:NetworkVideoTransmitter', id)).length, 0);
    });
  });
});
