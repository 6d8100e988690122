// WS-Discovery for ONVIF cameras (ONVIF Core "Device discovery"): one Probe for NetworkVideoTransmitters, the unicast
// ProbeMatches collected for a while, and, with credentials, every camera's login checked.
import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  DISCOVERY_CHECK_CONCURRENCY, DISCOVERY_CHECK_TIMEOUT_MS, DISCOVERY_MAX_CAMERAS, DISCOVERY_MAX_DATAGRAM_BYTES,
  DISCOVERY_MAX_LIST_ITEMS, DISCOVERY_MAX_MATCHES_PER_DATAGRAM, DISCOVERY_MAX_TEXT_CHARS, DISCOVERY_MAX_TIMEOUT_MS,
  DISCOVERY_MULTICAST_TTL, DISCOVERY_PROBE_REPEATS, DISCOVERY_REPEAT_MAX_DELAY_MS, DISCOVERY_REPEAT_MIN_DELAY_MS,
  DISCOVERY_REPEAT_UPPER_DELAY_MS, DISCOVERY_TIMEOUT_MS,
} from '../settings';
import { raceAbort } from '../util/abort';
import { DeviceInfo, OnvifDevice } from './device';
import { SoapError } from './soap';
import { XmlElement, child, children, parseXml, path, textAt } from './xml';

/** The WS-Discovery IPv4 multicast group and port (WS-Discovery 2005/04 §2.4, the version ONVIF mandates). */
export const WS_DISCOVERY_GROUP = { address: '239.255.255.250', port: 3702 } as const;
const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
} as const;

export type DiscoveryAuth = 'ok' | 'failed' | 'unreachable' | 'untested';

export interface DiscoveredCamera {
  /** The device service URL we picked (first IPv4 http XAddr, preferring the one the answer came from). */
  xaddr: string;
  host: string;
  port: number;
  /** EndpointReference Address, the camera's stable identity across IP changes (usually urn:uuid:…). */
  endpoint: string;
  name?: string;
  hardware?: string;
  /** The scopes as advertised (still URL-encoded). */
  scopes: string[];
  auth?: DiscoveryAuth;
  /** Why auth is 'failed' or 'unreachable', in words for the user (never contains the password). */
  authError?: string;
  info?: Pick<DeviceInfo, 'manufacturer' | 'model' | 'serial' | 'firmware'>;
}

export interface DiscoverOptions {
  /** How long to listen for answers, default 3 s (the credential check comes after it). */
  timeoutMs?: number;
  /** Where to send the Probe; default the WS-Discovery multicast group. Tests point this at a responder on 127.0.0.1. */
  target?: { address: string; port: number };
  /** IPv4 address of the interface to send the multicast Probe from (hosts with several networks); default: the OS's choice. */
  multicastInterface?: string;
  credentials?: { username: string; password: string };
  signal?: AbortSignal;
}

/** The scan itself could not run (no socket, no route for the probe). Bad answers never cause it: they are skipped. */
export class DiscoveryError extends Error {}

/**
 * The Probe: SOAP 1.2 with WS-Addressing 2004/08 headers, namespaces declared on the Envelope (some cameras ignore a
 * probe whose Types prefix is declared elsewhere, openhab/openhab-addons#9022), Types dn:NetworkVideoTransmitter as
 * ONVIF Device Manager sends it (ZoneMinder/zoneminder#1644). No Scopes: every camera matches.
 */
export function probeMessage(messageId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>' +
    `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}" xmlns:d="${NS.wsd}" xmlns:dn="${NS.dn}">` +
    '<s:Header>' +
    `<a:Action s:mustUnderstand="true">${NS.wsd}/Probe</a:Action>` +
    `<a:MessageID>${messageId}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${NS.wsa}/role/anonymous</a:Address></a:ReplyTo>` +
    '<a:To s:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>' +
    '</s:Header>' +
    '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>' +
    '</s:Envelope>';
}

/** One ProbeMatch as read off the wire, before we decide whether it is usable. */
export interface ProbeMatch {
  endpoint?: string;
  xaddrs: string[];
  scopes: string[];
}

export interface ProbeMatches {
  relatesTo?: string;
  matches: ProbeMatch[];
}

const words = (text: string | undefined): string[] => (text ?? '').trim().split(/\s+/).filter(Boolean).slice(0, DISCOVERY_MAX_LIST_ITEMS);

/** Reads a ProbeMatches datagram; undefined for anything else (garbage, faults, Hello/Bye, oversized). Never throws. */
export function parseProbeMatches(datagram: Buffer): ProbeMatches | undefined {
  if (datagram.length > DISCOVERY_MAX_DATAGRAM_BYTES) {
    return undefined;
  }
  let env: XmlElement;
  try {
    env = parseXml(datagram.toString('utf8'));
  } catch {
    return undefined;
  }
  const list = path(env, 'Body', 'ProbeMatches');
  if (env.name !== 'Envelope' || !list) {
    return undefined;
  }
  const matches = children(list, 'ProbeMatch').slice(0, DISCOVERY_MAX_MATCHES_PER_DATAGRAM).map((m): ProbeMatch => ({
    endpoint: textAt(m, 'EndpointReference', 'Address')?.trim() || undefined,
    xaddrs: words(textAt(m, 'XAddrs')),
    scopes: words(textAt(m, 'Scopes')),
  }));
  return { relatesTo: textAt(child(env, 'Header'), 'RelatesTo')?.trim() || undefined, matches };
}

/** The decoded value of onvif://www.onvif.org/<category>/<value>; the category's case varies (Name vs name) among cameras. */
export function scopeValue(scopes: string[], category: string): string | undefined {
  const prefix = `onvif://www.onvif.org/${category}/`.toLowerCase();
  const raw = scopes.find((s) => s.toLowerCase().startsWith(prefix) && s.length > prefix.length)?.slice(prefix.length);
  if (raw === undefined) {
    return undefined;
  }
  let value = raw;
  try {
    value = decodeURIComponent(raw);
  } catch {
    // a lone '%' in a camera's name: show it as written
  }
  return value.trim().slice(0, DISCOVERY_MAX_TEXT_CHARS) || undefined;
}

/** The http XAddr with an IPv4 host, preferring the address the answer came from (cameras may list stale or NATed ones). */
function pickXAddr(xaddrs: string[], from: string): URL | undefined {
  const usable: URL[] = [];
  for (const x of xaddrs) {
    try {
      const u = new URL(x);
      if (u.protocol === 'http:' && isIPv4(u.hostname)) {
        usable.push(u);
      }
    } catch {
      // not a URL: skip it
    }
  }
  return usable.find((u) => u.hostname === from) ?? usable[0];
}

/** A match we can use, or undefined when it names no reachable IPv4 http device service. */
export function cameraFromMatch(match: ProbeMatch, from: string): DiscoveredCamera | undefined {
  const url = pickXAddr(match.xaddrs, from);
  if (!url) {
    return undefined;
  }
  const cam: DiscoveredCamera = {
    xaddr: url.href,
    host: url.hostname,
    port: url.port ? Number(url.port) : 80,
    // Every camera sends one; without it the XAddr is the best identity we have.
    endpoint: match.endpoint ?? url.href,
    scopes: match.scopes,
  };
  const name = scopeValue(match.scopes, 'name');
  // Some firmwares say Model where ONVIF Core says hardware (andreikop/python-ws-discovery tests/data/probe_response.xml).
  const hardware = scopeValue(match.scopes, 'hardware') ?? scopeValue(match.scopes, 'model');
  if (name) {
    cam.name = name;
  }
  if (hardware) {
    cam.hardware = hardware;
  }
  return cam;
}

/** "urn:uuid:X", "uuid:X" and "X" are the same message id (cameras echo RelatesTo in any of these spellings). */
const sameId = (a: string, b: string): boolean => {
  const bare = (s: string): string => s.trim().toLowerCase().replace(/^urn:/, '').replace(/^uuid:/, '');
  return bare(a) === bare(b);
};

/** 224.0.0.0/4: only then do TTL and the outgoing interface matter. */
const isMulticast = (address: string): boolean => isIPv4(address) && (Number(address.split('.')[0]) & 0xf0) === 224;

/** What an aborted scan rejects with: the signal's reason (Node makes it a DOMException AbortError when none is given). */
const abortReason = (signal: AbortSignal | undefined): unknown => signal?.reason ?? new DiscoveryError('discovery aborted');

/** Sends the Probe and collects the cameras that answer it until the timeout. Rejects only on abort or a socket failure. */
function collect(opts: DiscoverOptions, timeoutMs: number): Promise<DiscoveredCamera[]> {
  const target = opts.target ?? WS_DISCOVERY_GROUP;
  const signal = opts.signal;
  return new Promise((resolve, reject) => {
    const messageId = `urn:uuid:${randomUUID()}`;
    const probe = Buffer.from(probeMessage(messageId), 'utf8');
    const found = new Map<string, DiscoveredCamera>();
    const timers = new Set<NodeJS.Timeout>();
    const socket = dgram.createSocket({ type: 'udp4' });
    let done = false;

    const finish = (err?: unknown): void => {
      if (done) {
        return;
      }
      done = true;
      timers.forEach(clearTimeout);
      timers.clear();
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      const settle = (): void => (err === undefined ? resolve([...found.values()]) : reject(err));
      try {
        socket.close(settle); // settle once the port is really released
      } catch {
        settle(); // never bound: nothing to close
      }
    };
    const onAbort = (): void => finish(abortReason(signal));
    const later = (ms: number, fn: () => void): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };
    const send = (first: boolean): void => {
      socket.send(probe, target.port, target.address, (err) => {
        if (err && first) {
          finish(new DiscoveryError(`cannot send the discovery probe to ${target.address}:${target.port}: ${err.message}`));
        }
        // A failed repeat changes nothing: the first probe is already out.
      });
    };

    socket.on('error', (err) => finish(new DiscoveryError(`discovery socket failed: ${err.message}`)));
    socket.on('message', (msg, rinfo) => {
      if (found.size >= DISCOVERY_MAX_CAMERAS) {
        return;
      }
      const reply = parseProbeMatches(msg);
      // An answer to someone else's probe (or a stale one) is not ours to report.
      if (!reply || (reply.relatesTo !== undefined && !sameId(reply.relatesTo, messageId))) {
        return;
      }
      for (const match of reply.matches) {
        const cam = cameraFromMatch(match, rinfo.address);
        const key = cam?.endpoint.toLowerCase();
        // A camera on two NICs, or answering each repeat, is still one camera: the first answer wins.
        if (cam && key && !found.has(key) && found.size < DISCOVERY_MAX_CAMERAS) {
          found.set(key, cam);
        }
      }
    });

    if (signal) {
      signal.addEventListener('abort', onAbort, { once: true });
    }
    // A loopback target (tests, a local proxy) needs no listening on every interface.
    socket.bind(0, target.address.startsWith('127.') ? '127.0.0.1' : '0.0.0.0', () => {
      if (done) {
        return;
      }
      if (isMulticast(target.address)) {
        try {
          socket.setMulticastTTL(DISCOVERY_MULTICAST_TTL);
          if (opts.multicastInterface) {
            socket.setMulticastInterface(opts.multicastInterface);
          }
        } catch (err) {
          finish(new DiscoveryError(`cannot set up multicast: ${(err as Error).message}`));
          return;
        }
      }
      send(true);
      let delay = DISCOVERY_REPEAT_MIN_DELAY_MS + Math.random() * (DISCOVERY_REPEAT_MAX_DELAY_MS - DISCOVERY_REPEAT_MIN_DELAY_MS);
      let at = 0;
      for (let i = 0; i < DISCOVERY_PROBE_REPEATS; i++) {
        at += delay;
        if (at < timeoutMs) {
          later(at, () => send(false));
        }
        delay = Math.min(delay * 2, DISCOVERY_REPEAT_UPPER_DELAY_MS);
      }
      later(timeoutMs, () => finish());
    });
  });
}

/** Logs into one camera and reads its identity; fills auth/info/authError. Bounded by DISCOVERY_CHECK_TIMEOUT_MS. */
async function check(cam: DiscoveredCamera, credentials: { username: string; password: string }, outer?: AbortSignal): Promise<void> {
  const bound = AbortSignal.timeout(DISCOVERY_CHECK_TIMEOUT_MS);
  const signal = outer ? AbortSignal.any([outer, bound]) : bound;
  const device = new OnvifDevice({ host: cam.host, port: cam.port, ...credentials });
  try {
    // Raced against the signal too: a SOAP call started after the abort would otherwise run to its own timeout.
    const info = await raceAbort((async () => {
      await device.connect(signal);
      return device.getDeviceInformation(signal);
    })(), signal);
    cam.auth = 'ok';
    cam.info = { manufacturer: info.manufacturer, model: info.model, serial: info.serial, firmware: info.firmware };
  } catch (err) {
    if (outer?.aborted) {
      return; // the whole scan is being cancelled; discover() rejects
    }
    cam.auth = err instanceof SoapError && err.kind === 'auth' ? 'failed' : 'unreachable';
    cam.authError = bound.aborted ? `no answer within ${DISCOVERY_CHECK_TIMEOUT_MS / 1000} s` : (err as Error).message;
  }
}

async function checkAll(cams: DiscoveredCamera[], credentials: { username: string; password: string }, signal?: AbortSignal): Promise<void> {
  const queue = [...cams];
  const worker = async (): Promise<void> => {
    for (let cam = queue.shift(); cam && !signal?.aborted; cam = queue.shift()) {
      await check(cam, credentials, signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DISCOVERY_CHECK_CONCURRENCY, cams.length) }, worker));
}

/**
 * Finds the ONVIF cameras on the local network. Listens `timeoutMs` for answers, then (with credentials) checks each
 * camera's login, a few at a time, each bounded. Malformed or foreign answers are skipped, never thrown. Rejects with
 * the signal's reason when aborted, and with a DiscoveryError when no probe could be sent.
 */
export async function discover(opts: DiscoverOptions = {}): Promise<DiscoveredCamera[]> {
  opts.signal?.throwIfAborted();
  const wanted = opts.timeoutMs ?? DISCOVERY_TIMEOUT_MS;
  const timeoutMs = Number.isFinite(wanted) ? Math.min(Math.max(wanted, 1), DISCOVERY_MAX_TIMEOUT_MS) : DISCOVERY_TIMEOUT_MS;
  const cams = await collect(opts, timeoutMs);
  if (!opts.credentials) {
    cams.forEach((c) => (c.auth = 'untested'));
    return cams;
  }
  await checkAll(cams, opts.credentials, opts.signal);
  opts.signal?.throwIfAborted();
  return cams;
}
