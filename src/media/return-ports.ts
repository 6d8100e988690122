// Where a live viewer's packets go, worked out from what HAP-NodeJS hands the streaming delegate, and the UDP sockets
// that receive the viewer's RTCP.
//
// HAP-NodeJS passes `sourceAddress` as the HAP connection's raw `localAddress`. With Homebridge's default network
// setting (no `bind`) or an interface name in `bind`, HAP listens on `::` (dual-stack), so an iPhone that reached the
// bridge over IPv4 arrives as `::ffff:192.168.1.5` while `addressVersion` says ipv4: that string cannot be bound by a
// udp4 socket (EINVAL). Only `bind: ["192.168.1.5"]` makes HAP listen on 0.0.0.0 and hand over plain IPv4. And unless
// told otherwise, HAP tells the controller to send RTCP to the FIRST address of the connection's interface in the
// requested family, which need not be the one the connection came in on. So the plugin picks the address itself, binds
// exactly that, and tells HAP to announce it (`addressOverride`): what is bound is what the viewer sends to.
import { createSocket, Socket, SocketType } from 'node:dgram';
import { lookup as dnsLookup, LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces, NetworkInterfaceInfo } from 'node:os';
import type { PrepareStreamRequest } from 'homebridge';
import { unmapIPv4 } from '../util/address';

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Both ends of a viewer's stream, as the sockets and ffmpeg need them. */
export interface ViewerRoute {
  family: 4 | 6;
  /** The local address the return sockets bind (a link-local IPv6 address carries its zone: `fe80::1%eth0`). */
  bind: string;
  /** The address HomeKit is told to send RTCP to (HAP's `addressOverride`): `bind` without a zone. */
  advertise: string;
  /** The viewer's address to send SRTP to: plain IPv4, or IPv6 with a zone when it is link-local. */
  target: string;
}

export type RouteRequest = Pick<PrepareStreamRequest, 'sourceAddress' | 'targetAddress' | 'addressVersion'>;

function splitZone(address: string): { address: string; zone?: string } {
  const at = address.indexOf('%');
  return at < 0 ? { address } : { address: address.slice(0, at), zone: address.slice(at + 1) };
}

function isLinkLocalV6(address: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(address);
}

/** The interface that holds this address (the name is the zone of a link-local address on it). */
function interfaceOf(address: string, interfaces: Interfaces): { name: string; infos: NetworkInterfaceInfo[] } | undefined {
  for (const [name, infos = []] of Object.entries(interfaces)) {
    if (infos.some((info) => info.address.toLowerCase() === address.toLowerCase())) {
      return { name, infos };
    }
  }
  return undefined;
}

/** The address of that interface in the other family: IPv4, or IPv6 preferring a global/ULA over link-local (as HAP). */
function sameInterfaceAddress(infos: NetworkInterfaceInfo[], family: 4 | 6): string | undefined {
  const wanted = infos.filter((info) => (family === 4 ? info.family === 'IPv4' : info.family === 'IPv6'));
  return (wanted.find((info) => !isLinkLocalV6(info.address)) ?? wanted[0])?.address;
}

/**
 * The route for a viewer. Throws a sentence naming what HAP reported when no local address of the requested family
 * can be found (the viewer asked for IPv6 on a machine whose interface has none, say).
 */
export function viewerRoute(request: RouteRequest, interfaces: Interfaces = networkInterfaces()): ViewerRoute {
  const family: 4 | 6 = request.addressVersion === 'ipv6' ? 6 : 4;
  const source = splitZone(unmapIPv4(request.sourceAddress.trim()));
  const iface = interfaceOf(source.address, interfaces);
  let local = source.address;
  if (isIP(local) !== family) {
    // The controller reached HAP over one family and asked for the stream over the other: use the same interface's
    // address in the family it asked for.
    const other = iface && sameInterfaceAddress(iface.infos, family);
    if (!other) {
      throw new Error(`the viewer asked for an IPv${family} stream but HomeKit reached Homebridge on ${request.sourceAddress}` +
        `${iface ? ` (interface ${iface.name})` : ''}, which has no IPv${family} address`);
    }
    local = other;
  }
  const zone = source.zone ?? iface?.name;
  const withZone = (address: string): string => (family === 6 && isLinkLocalV6(address) && !address.includes('%') && zone
    ? `${address}%${zone}` : address);
  const target = unmapIPv4(request.targetAddress.trim());
  return { family, bind: withZone(local), advertise: local, target: withZone(target) };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The sockets' address lookup: the viewer's address is always a literal, and answering it at once lets a datagram
 * leave in the call that sends it. dgram's default (dns.lookup) answers a literal on the next tick, so every video
 * packet waited for the event loop, and a cached keyframe for the whole burst around it to be handled.
 */
function literalLookup(host: string, options: LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(host);
  if (family) {
    callback(null, host, family);
  } else {
    dnsLookup(host, typeof options === 'number' ? { family: options } : options, callback);
  }
}

/** The UDP sockets the viewer sends RTCP to (their ports go back in prepareStream's answer); the plugin's own video
 *  sender sends from the video one, the port HomeKit was told. */
export class ReturnPorts {
  private constructor(readonly video: Socket, readonly audio: Socket) {}

  static async open(route: Pick<ViewerRoute, 'family' | 'bind'>): Promise<ReturnPorts> {
    const type: SocketType = route.family === 6 ? 'udp6' : 'udp4';
    const bind = (): Promise<Socket> => new Promise((resolve, reject) => {
      const socket = createSocket({ type, lookup: literalLookup });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(new Error(`cannot receive the viewer's RTCP on ${route.bind} (${err.code ?? err.message})`));
      });
      socket.bind(0, route.bind, () => {
        socket.removeAllListeners('error');
        socket.on('error', () => undefined); // an ICMP error for a viewer that left is not ours to crash on
        resolve(socket);
      });
    });
    const video = await bind();
    try {
      return new ReturnPorts(video, await bind());
    } catch (err) {
      video.close();
      throw err;
    }
  }

  close(): void {
    for (const s of [this.video, this.audio]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

/** ffmpeg's SRTP output for one media kind: suite, base64 key (16) + salt (14), and the viewer's address as a URL. */
export function srtpOutput(key: Buffer, to: Pick<ViewerRoute, 'family' | 'target'>, port: number, packetSize: number): string[] {
  const host = to.family === 6 ? `[${to.target}]` : to.target;
  return ['-f', 'rtp', '-srtp_out_suite', 'AES_CM_128_HMAC_SHA1_80', '-srtp_out_params', key.toString('base64'),
    `srtp://${host}:${port}?rtcpport=${port}&pkt_size=${packetSize}`];
}
