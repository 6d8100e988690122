// WS-Discovery target service for the simulated cameras: answers a Probe sent to 127.0.0.1 with one ProbeMatch per camera.
// Unicast on loopback only: the simulator never joins the multicast group, so tests point discover() at this port.
import dgram from 'node:dgram';
import { createHash, randomUUID } from 'node:crypto';
import { XmlElement, child, escapeXml, parseXml } from '../../src/onvif/xml';
import type { SimCamera } from './camera';
import { PERSONALITIES } from './personalities';
import { resolvePrefix } from './soap';

const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
} as const;

const MAX_PROBE_BYTES = 64 * 1024;
/** SOAP-over-UDP duplicate detection: a repeated Probe (same MessageID) is answered once. Bounded memory of recent ids. */
const RECENT_PROBES = 64;
/** What every simulated camera is, as ONVIF cameras announce it: the legacy NVT type and the Device type. */
const TYPES = [{ ns: NS.dn, local: 'NetworkVideoTransmitter' }, { ns: NS.tds, local: 'Device' }];

export interface DiscoveryResponder {
  port: number;
  /** Probes answered so far (duplicates and non-matching probes excluded). */
  readonly probes: number;
  stop(): Promise<void>;
}

/** A stable urn:uuid per camera, derived from its serial (name-based, RFC 4122 version 5 layout). */
export function endpointOf(cam: SimCamera): string {
  const h = createHash('sha1').update(`courtyard-sim/${cam.info.serial}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The link-local IPv6 address a camera with this MAC would have (EUI-64), for a realistic second XAddr nobody serves. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const eui = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
  const groups = [0, 2, 4, 6].map((i) => ((eui[i] << 8) | eui[i + 1]).toString(16));
  return `fe80::${groups.join(':')}`;
}

/** ONVIF Core scopes: Profile S ("Streaming") and T, the type, and the URL-encoded hardware and name users see in tools. */
export function scopesOf(cam: SimCamera): string[] {
  return [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/Profile/Streaming',
    'onvif://www.onvif.org/Profile/T',
    `onvif://www.onvif.org/hardware/${encodeURIComponent(cam.info.model)}`,
    `onvif://www.onvif.org/name/${encodeURIComponent(cam.name)}`,
  ];
}

/**
 * One camera's ProbeMatches. Shape as in real captures: agsh/onvif test/serverMockup/Probe.xml (a PREDATOR camera:
 * wsa 2004/08 + wsdd 2005/04, Types "dn:NetworkVideoTransmitter tds:Device", AppSequence, MetadataVersion) and
 * andreikop/python-ws-discovery tests/data/probe_response.xml (RelatesTo = the probe's MessageID, To = anonymous role).
 * The envelope prefix follows the vendor's personality: clients must not depend on it.
 */
export function probeMatchMessage(cam: SimCamera, relatesTo: string, messageNumber: number, instanceId: number): string {
  const p = PERSONALITIES[cam.vendor].envelope.prefix;
  const xaddrs = `${cam.deviceUrl} http://[${linkLocal(cam.info.mac)}]${new URL(cam.deviceUrl).pathname}`;
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<${p}:Envelope xmlns:${p}="${NS.soap}" xmlns:wsa="${NS.wsa}" xmlns:wsdd="${NS.wsd}" xmlns:dn="${NS.dn}" xmlns:tds="${NS.tds}">` +
    `<${p}:Header>` +
    `<wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID>` +
    `<wsa:RelatesTo>${escapeXml(relatesTo)}</wsa:RelatesTo>` +
    `<wsa:To ${p}:mustUnderstand="true">${NS.wsa}/role/anonymous</wsa:To>` +
    `<wsa:Action ${p}:mustUnderstand="true">${NS.wsd}/ProbeMatches</wsa:Action>` +
    `<wsdd:AppSequence InstanceId="${instanceId}" MessageNumber="${messageNumber}"/>` +
    `</${p}:Header>` +
    `<${p}:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>` +
    `<wsa:EndpointReference><wsa:Address>${endpointOf(cam)}</wsa:Address></wsa:EndpointReference>` +
    '<wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>' +
    `<wsdd:Scopes>${escapeXml(scopesOf(cam).join(' '))}</wsdd:Scopes>` +
    `<wsdd:XAddrs>${escapeXml(xaddrs)}</wsdd:XAddrs>` +
    '<wsdd:MetadataVersion>1</wsdd:MetadataVersion>' +
    `</wsdd:ProbeMatch></wsdd:ProbeMatches></${p}:Body></${p}:Envelope>`;
}

/** WS-Discovery §5.1 matching: every probed type must be one we are (a prefix nobody declared is matched by local name). */
function typesMatch(chain: XmlElement[], types: XmlElement | undefined): boolean {
  const wanted = (types?.text ?? '').trim().split(/\s+/).filter(Boolean);
  return wanted.every((qname) => {
    const i = qname.indexOf(':');
    const local = i < 0 ? qname : qname.slice(i + 1);
    const ns = resolvePrefix(types ? [...chain, types] : chain, i < 0 ? '' : qname.slice(0, i));
    return TYPES.some((t) => t.local === local && (ns === undefined || ns === t.ns));
  });
}

/** WS-Discovery §5.1 scope matching, default rule (RFC 3986 prefix by path segment) and strcmp0; other rules match nothing. */
function scopesMatch(scopes: XmlElement | undefined, ours: string[]): boolean {
  const wanted = (scopes?.text ?? '').trim().split(/\s+/).filter(Boolean);
  const rule = scopes?.attrs.MatchBy ?? `${NS.wsd}/rfc3986`;
  return wanted.every((s) => ours.some((o) => {
    if (rule === `${NS.wsd}/strcmp0`) {
      return o === s;
    }
    if (rule === `${NS.wsd}/rfc3986`) {
      const base = s.replace(/\/+$/, '');
      return o === base || o.startsWith(`${base}/`);
    }
    return false;
  }));
}

/** The probe's MessageID when the datagram is a Probe; undefined for anything else. Never throws. */
function readProbe(msg: Buffer): { id: string; types?: XmlElement; scopes?: XmlElement; chain: XmlElement[] } | undefined {
  if (msg.length > MAX_PROBE_BYTES) {
    return undefined;
  }
  let env: XmlElement;
  try {
    env = parseXml(msg.toString('utf8'));
  } catch {
    return undefined;
  }
  const body = child(env, 'Body');
  const probe = child(body, 'Probe');
  const id = child(child(env, 'Header'), 'MessageID')?.text.trim();
  if (env.name !== 'Envelope' || !body || !probe || !id) {
    return undefined; // no MessageID: nothing to relate an answer to
  }
  return { id, types: child(probe, 'Types'), scopes: child(probe, 'Scopes'), chain: [env, body, probe] };
}

/** Starts answering Probes on 127.0.0.1 (`port` 0: an ephemeral one). stop() closes the socket; it is idempotent. */
export function startDiscoveryResponder(cameras: SimCamera[], port = 0): Promise<DiscoveryResponder> {
  const socket = dgram.createSocket({ type: 'udp4' });
  const recent: string[] = [];
  const instanceId = Math.floor(Date.now() / 1000); // AppSequence InstanceId: changes whenever the "device" restarts
  let messageNumber = 0;
  let probes = 0;
  let stopping: Promise<void> | undefined;

  socket.on('message', (msg, rinfo) => {
    const probe = readProbe(msg);
    if (!probe || recent.includes(probe.id)) {
      return;
    }
    recent.push(probe.id);
    if (recent.length > RECENT_PROBES) {
      recent.shift();
    }
    const matching = cameras.filter((cam) => typesMatch(probe.chain, probe.types) && scopesMatch(probe.scopes, scopesOf(cam)));
    if (matching.length > 0) {
      probes++;
    }
    // Each camera is its own device on the wire, so each answers in its own datagram.
    for (const cam of matching) {
      const reply = Buffer.from(probeMatchMessage(cam, probe.id, ++messageNumber, instanceId), 'utf8');
      socket.send(reply, rinfo.port, rinfo.address, () => undefined); // the prober may be gone already: UDP, no retry
    }
  });

  return new Promise((resolve, reject) => {
    const onBindError = (err: Error): void => {
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      reject(err);
    };
    socket.once('error', onBindError);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', onBindError);
      socket.on('error', (err) => process.stderr.write(`camera-sim: discovery responder: ${err.message}\n`));
      resolve({
        port: socket.address().port,
        get probes(): number {
          return probes;
        },
        stop(): Promise<void> {
          stopping ??= new Promise((done) => socket.close(() => done()));
          return stopping;
        },
      });
    });
  });
}
