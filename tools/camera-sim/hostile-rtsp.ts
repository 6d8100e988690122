// A small RTSP server that misbehaves on purpose, for the tests of what the plugin does with a hostile camera stream
// (issue 12 item 3). The simulator's GStreamer server only serves well-formed streams; this one answers OPTIONS,
// DESCRIBE, SETUP and PLAY (RFC 2326 §10) on 127.0.0.1 and then sends RTP over the RTSP connection, interleaved with
// '$' framing (RFC 2326 §10.12), or over UDP to the client's ports when its SETUP asks so (§12.39 client_port; sent from
// a port pair of its own, named in server_port; receiver reports it gets there are kept in its stats), carrying H.264 as single NAL unit packets or FU-A fragments (RFC 6184 §5.6, §5.8) made
// from a file ffmpeg encodes once. Modes:
// - normal: a well-formed stream (the baseline every other mode departs from);
// - garbage: random bytes instead of RTP after PLAY (`garbageAfterMs` of good video first, if set);
// - garbage-rtsp: random bytes as the answer to the first request, then the connection closed;
// - huge-nal: a non-IDR slice NAL unit of `hugeNalBytes` every `hugeEveryMs`;
// - resize: the first size for `resizeAfterMs`, then a keyframe with a new SPS/PPS of the second size;
// - sdp-only: SPS and PPS only in the SDP's sprop-parameter-sets (RFC 6184 §8.1), never in the stream.
// - redirect: DESCRIBE answered with 302 Moved Temporarily to `redirectTo` (RFC 2326 §11.3.3).
// - silent: accepts the connection, reads the requests, never answers (a hung camera).
// Any mode may answer DESCRIBE with another status (`describeStatus`: 404, 453...).
// Options any mode takes: a Basic or Digest login (RFC 2617 / RFC 7616, checked when `credentials` are given), a short
// session timeout (RFC 2326 §12.37) and GET_PARAMETER refused (for keep-alives), RTP packets dropped or swapped (loss
// and reordering, over TCP or UDP), UDP refused (461) or answered without ports, forged RTP from other addresses than
// the server's own, the stream stalling with the connection kept open, listening on ::1.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type HostileMode = 'normal' | 'garbage' | 'garbage-rtsp' | 'huge-nal' | 'resize' | 'sdp-only' | 'redirect' | 'silent';

export interface HostileRtspOptions {
  mode: HostileMode;
  /** Picture size (and, for resize, the size after the change); default 320x240 then 640x480. */
  sizes?: [string, string];
  fps?: number;
  /** Keyframe interval in frames; default fps (1 s). */
  gop?: number;
  garbageAfterMs?: number;
  hugeNalBytes?: number;
  hugeEveryMs?: number;
  resizeAfterMs?: number;
  /** For redirect: where DESCRIBE sends the client. */
  redirectTo?: string;
  /** Any mode: the connection is cut this long after PLAY (a camera that drops every reader after a moment). */
  cutAfterMs?: number;
  /** Any mode: DESCRIBE without an Authorization header is answered 401 with a Basic (true or 'basic') or Digest
   *  challenge (RFC 2326 §11.4.2). Without `credentials` any Authorization header is taken. */
  challenge?: boolean | 'basic' | 'digest';
  /** Digest: offer qop="auth" (default) or the RFC 2069 form without qop. */
  digestQop?: boolean;
  /** With a challenge: the login checked on every request but OPTIONS; a wrong one is answered 401 again. */
  credentials?: { user: string; password: string };
  /** Listen on this loopback address; default 127.0.0.1. */
  host?: '127.0.0.1' | '::1';
  /** The timeout the Session header names (s); default 60. */
  sessionTimeoutS?: number;
  /** GET_PARAMETER answered 501 Not Implemented (keep-alives must fall back to OPTIONS). */
  noGetParameter?: boolean;
  /** RTP packets (counted from 0 after PLAY) never sent, their sequence numbers skipped: loss. */
  dropPackets?: number[];
  /** RTP packets (counted from 0 after PLAY) sent after the one that follows them: reordering. */
  swapPackets?: number[];
  /** No more media after this long after PLAY (ms); the connection stays open and keeps answering. */
  stallAfterMs?: number;
  /** DESCRIBE answered with this status line instead (e.g. '404 Not Found', '453 Not Enough Bandwidth'). */
  describeStatus?: string;
  /** The video's rtpmap encoding name in the SDP (default H264; the stream sent is H.264 whatever it says). */
  videoEncoding?: string;
  /** An audio m= section in the SDP with this rtpmap (e.g. 'PCMU/8000'); no audio is sent. */
  audioRtpmap?: string;
  /** A SETUP asking for UDP is answered 461 Unsupported Transport (as every SETUP but TCP was before UDP was served). */
  noUdp?: boolean;
  /** A SETUP asking for UDP is answered 200 with a Transport that names no port. */
  udpNoPorts?: boolean;
  /** Over UDP: every `forgedEvery`th RTP packet is preceded by a forged one with its sequence number, SSRC and garbage
   *  for payload, sent to the client's RTP port from another port of the server's address and (IPv4) from 127.0.0.2. */
  forgedEvery?: number;
}

/** A receiver report block the server got on its RTCP port (RFC 3550 §6.4.2). */
export interface ReceivedReport {
  reporter: number;
  source: number;
  fractionLost: number;
  cumulativeLost: number;
  highestSeq: number;
  /** An SDES CNAME came in the same compound packet. */
  cname?: string;
}

export interface HostileStats {
  /** TCP connections accepted so far. */
  connections: number;
  /** When each was accepted (ms since epoch): a retry storm shows as many close together. */
  connectedAt: number[];
  /** Every request line and Authorization header seen, in order. */
  requests: string[];
  /** Video bytes sent as RTP payload. */
  sentBytes: number;
  /** RTP packets sent (dropped ones not counted). */
  sentPackets: number;
  /** SETUPs answered with UDP transport. */
  udpSetups: number;
  /** RTCP receiver reports that came to the server's UDP RTCP port; `reportsWithoutBlock` those with no report block. */
  reports: ReceivedReport[];
  reportsWithoutBlock: number;
  /** Forged RTP packets sent (forgedEvery). */
  forged: number;
  /** The SSRC and the first sequence number of the last stream played. */
  ssrc?: number;
  firstSeq?: number;
}

/** A UDP session's two server sockets and where the client listens. */
interface UdpSession {
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  /** Forged packets go from these (forgedEvery). */
  forgers: dgram.Socket[];
  client: string;
  clientPorts: [number, number];
  /** Closed with the session: nothing more is sent. */
  closed: boolean;
}

interface AccessUnit {
  nals: Buffer[];
  key: boolean;
}

const RTP_PAYLOAD_MAX = 1400;
const PAYLOAD_TYPE = 96;

const encoded = new Map<string, Promise<Buffer>>();

/** H.264 Annex B from ffmpeg's lavfi test source: one slice per frame, SPS/PPS before every IDR (x264's repeat-headers).
 *  Made once per process for each shape. */
function encode(size: string, fps: number, gop: number, seconds: number): Promise<Buffer> {
  const key = [size, fps, gop, seconds].join('/');
  const made = encoded.get(key) ?? encodeOnce(size, fps, gop, seconds);
  encoded.set(key, made);
  return made;
}

async function encodeOnce(size: string, fps: number, gop: number, seconds: number): Promise<Buffer> {
  const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`, '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-threads', '1', '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-g', String(gop),
    '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0', '-f', 'h264', 'pipe:1'];
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

function splitNals(data: Buffer): Buffer[] {
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      ends.push(i > 0 && data[i - 1] === 0 ? i - 1 : i);
      starts.push(i + 3);
      i += 2;
    }
  }
  ends.push(data.length);
  return starts.map((s, k) => data.subarray(s, ends[k + 1])).filter((n) => n.length > 0);
}

/** Non-VCL NAL units belong to the next slice; a slice (type 1 or 5) ends the access unit. */
function accessUnits(annexB: Buffer): AccessUnit[] {
  const out: AccessUnit[] = [];
  let nals: Buffer[] = [];
  for (const nal of splitNals(annexB)) {
    nals.push(nal);
    const type = nal[0] & 0x1f;
    if (type === 1 || type === 5) {
      out.push({ nals, key: type === 5 });
      nals = [];
    }
  }
  return out;
}

/** Waits until the socket takes more, or closes (removing both listeners either way). */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export class HostileRtspServer {
  readonly stats: HostileStats = {
    connections: 0, connectedAt: [], requests: [], sentBytes: 0, sentPackets: 0, udpSetups: 0, reports: [], reportsWithoutBlock: 0, forged: 0,
  };
  private readonly sockets = new Set<net.Socket>();
  private port = 0;

  private constructor(private readonly server: net.Server, private readonly options: HostileRtspOptions,
    private readonly first: AccessUnit[], private readonly second: AccessUnit[]) {}

  static async start(options: HostileRtspOptions): Promise<HostileRtspServer> {
    const fps = options.fps ?? 15;
    const gop = options.gop ?? fps;
    const [a, b] = options.sizes ?? ['320x240', '640x480'];
    const first = accessUnits(await encode(a, fps, gop, 4));
    const second = options.mode === 'resize' ? accessUnits(await encode(b, fps, gop, 4)) : [];
    const server = net.createServer();
    const hostile = new HostileRtspServer(server, { ...options, fps }, first, second);
    server.on('connection', (socket) => hostile.serve(socket));
    await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
    hostile.port = (server.address() as AddressInfo).port;
    return hostile;
  }

  url(path = '/stream'): string {
    const host = this.options.host === '::1' ? '[::1]' : '127.0.0.1';
    return `rtsp://${host}:${this.port}${path}`;
  }

  /** The access units of the first size as encoded (what the stream carries), for comparing what a reader got. */
  units(): readonly { nals: readonly Buffer[]; key: boolean }[] {
    return this.first;
  }

  async stop(): Promise<void> {
    this.sockets.forEach((s) => s.destroy());
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** SPS and PPS of the first size, base64 as sprop-parameter-sets wants them. */
  private sprop(): string {
    const key = this.first.find((u) => u.key);
    const sps = key?.nals.find((n) => (n[0] & 0x1f) === 7);
    const pps = key?.nals.find((n) => (n[0] & 0x1f) === 8);
    return sps && pps ? `${sps.toString('base64')},${pps.toString('base64')}` : '';
  }

  private serve(socket: net.Socket): void {
    this.stats.connections++;
    this.stats.connectedAt.push(Date.now());
    this.sockets.add(socket);
    let buffered = Buffer.alloc(0);
    let playing = false;
    let udp: UdpSession | undefined;
    const closeUdp = (): void => {
      for (const u of udp ? [udp.rtp, udp.rtcp, ...udp.forgers] : []) {
        u.close();
      }
      if (udp) {
        udp.closed = true;
      }
      udp = undefined;
    };
    const session = String(10_000_000 + Math.floor(Math.random() * 89_999_999));
    const nonce = randomBytes(12).toString('hex');
    socket.on('error', () => undefined);
    socket.on('close', () => {
      playing = false;
      closeUdp();
      this.sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => void handle(chunk));
    // Requests are handled one after another (a UDP SETUP binds sockets before it answers).
    let queue = Promise.resolve();
    const handle = (chunk: Buffer): Promise<void> => (queue = queue.then(() => onData(chunk)));
    const onData = async (chunk: Buffer): Promise<void> => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        // While playing, the client's RTCP receiver reports come interleaved ('$', channel, 16-bit length: RFC 2326
        // §10.12) between its requests (keep-alives): skipped.
        if (buffered.length >= 4 && buffered[0] === 0x24) {
          const length = 4 + buffered.readUInt16BE(2);
          if (buffered.length < length) {
            return;
          }
          buffered = buffered.subarray(length);
          continue;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          return;
        }
        const head = buffered.subarray(0, end).toString('latin1');
        buffered = buffered.subarray(end + 4);
        const lines = head.split('\r\n');
        const [method, uri] = lines[0].split(' ');
        const header = (name: string): string | undefined =>
          lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(name.length + 1).trim();
        // A request body (none of ours has one) is skipped.
        buffered = buffered.subarray(Math.min(buffered.length, Number(header('Content-Length') ?? 0) || 0));
        this.stats.requests.push(lines[0]);
        const auth = header('Authorization');
        if (auth) {
          this.stats.requests.push(`Authorization: ${auth}`);
        }
        if (this.options.mode === 'silent') {
          continue; // reads everything, answers nothing
        }
        if (this.options.mode === 'garbage-rtsp') {
          socket.end(randomBytes(512)); // and hang up, as a crashing RTSP server does
          return;
        }
        const reply = (status: string, headers: string[] = [], body = ''): void => {
          socket.write([`RTSP/1.0 ${status}`, `CSeq: ${header('CSeq') ?? '0'}`, ...headers,
            ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []), '', ''].join('\r\n') + body);
        };
        const { challenge, credentials } = this.options;
        const mustLogIn = challenge && (credentials ? method !== 'OPTIONS' : method === 'DESCRIBE' && !auth);
        if (mustLogIn && !(auth && (!credentials || this.loginOk(auth, method, uri, nonce)))) {
          reply('401 Unauthorized', [challenge === 'digest'
            ? `WWW-Authenticate: Digest realm="hostile", nonce="${nonce}"${this.options.digestQop === false ? '' : ', qop="auth"'}`
            : 'WWW-Authenticate: Basic realm="hostile"']);
          continue;
        }
        const timeout = this.options.sessionTimeoutS ?? 60;
        if (method === 'OPTIONS') {
          reply('200 OK', ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER']);
        } else if (method === 'DESCRIBE') {
          if (this.options.mode === 'redirect') {
            reply('302 Moved Temporarily', [`Location: ${this.options.redirectTo ?? ''}`]);
            continue;
          }
          if (this.options.describeStatus) {
            reply(this.options.describeStatus);
            continue;
          }
          const sdp = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=hostile', 'c=IN IP4 0.0.0.0', 't=0 0', `m=video 0 RTP/AVP ${PAYLOAD_TYPE}`,
            `a=rtpmap:${PAYLOAD_TYPE} ${this.options.videoEncoding ?? 'H264'}/90000`,
            `a=fmtp:${PAYLOAD_TYPE} packetization-mode=1;profile-level-id=4d401e${this.options.mode === 'sdp-only' ? `;sprop-parameter-sets=${this.sprop()}` : ''}`,
            'a=control:track1',
            ...(this.options.audioRtpmap ? ['m=audio 0 RTP/AVP 97', `a=rtpmap:97 ${this.options.audioRtpmap}`, 'a=control:track2'] : []),
            ''].join('\r\n');
          reply('200 OK', ['Content-Type: application/sdp', `Content-Base: ${uri}/`], sdp);
        } else if (method === 'SETUP') {
          const transport = header('Transport') ?? '';
          const clientPorts = /client_port=(\d+)-(\d+)/i.exec(transport);
          if (!/TCP/i.test(transport) && clientPorts && !this.options.noUdp) {
            if (this.options.udpNoPorts) {
              reply('200 OK', ['Transport: RTP/AVP;unicast', `Session: ${session};timeout=${timeout}`]);
              continue;
            }
            closeUdp();
            udp = await this.udpSession(socket.remoteAddress ?? '127.0.0.1', [Number(clientPorts[1]), Number(clientPorts[2])]);
            if (socket.destroyed) {
              closeUdp();
              return;
            }
            this.stats.udpSetups++;
            reply('200 OK', [`Transport: RTP/AVP;unicast;client_port=${clientPorts[1]}-${clientPorts[2]};` +
              `server_port=${udp.rtp.address().port}-${udp.rtcp.address().port}`, `Session: ${session};timeout=${timeout}`]);
            continue;
          }
          if (!/TCP/i.test(transport)) {
            reply('461 Unsupported Transport');
            continue;
          }
          closeUdp();
          reply('200 OK', ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1', `Session: ${session};timeout=${timeout}`]);
        } else if (method === 'PLAY') {
          reply('200 OK', [`Session: ${session}`, 'Range: npt=0.000-']);
          if (!playing) {
            playing = true;
            void this.play(socket, () => playing, udp);
          }
        } else if (method === 'TEARDOWN') {
          playing = false;
          reply('200 OK', [`Session: ${session}`]);
          socket.end();
        } else if (method === 'GET_PARAMETER' && this.options.noGetParameter) {
          reply('501 Not Implemented');
        } else {
          reply('200 OK', [`Session: ${session}`]);
        }
      }
    };
  }

  /** The server's RTP and RTCP sockets for a UDP session (an even/odd pair where one is free, as RFC 3550 §11 asks),
   *  on the address the client reached; receiver reports coming to the RTCP one are kept in the stats. */
  private async udpSession(client: string, clientPorts: [number, number]): Promise<UdpSession> {
    const host = this.options.host ?? '127.0.0.1';
    const type = host === '::1' ? 'udp6' : 'udp4';
    const bind = (port: number, address: string = host): Promise<dgram.Socket | undefined> => new Promise((resolve) => {
      const u = dgram.createSocket(type);
      u.once('error', () => {
        u.close();
        resolve(undefined);
      });
      u.bind(port, address, () => {
        u.removeAllListeners('error');
        u.on('error', () => undefined);
        resolve(u);
      });
    });
    let pair: [dgram.Socket, dgram.Socket] | undefined;
    for (let attempt = 0; attempt < 20 && !pair; attempt++) {
      const first = await bind(0);
      const port = first?.address().port ?? 1;
      const second = first && port % 2 === 0 ? await bind(port + 1) : undefined;
      if (first && second) {
        pair = [first, second];
      } else {
        first?.close();
      }
    }
    if (!pair) {
      throw new Error('hostile-rtsp: no UDP port pair');
    }
    const [rtp, rtcp] = pair;
    rtcp.on('message', (data) => this.receiverReport(data));
    const forgers: dgram.Socket[] = [];
    if (this.options.forgedEvery) {
      for (const address of type === 'udp4' ? [host, '127.0.0.2'] : [host]) {
        const f = await bind(0, address);
        if (f) {
          forgers.push(f);
        }
      }
    }
    return { rtp, rtcp, forgers, client, clientPorts, closed: false };
  }

  /** A compound RTCP packet (RFC 3550 §6.1): its RR's report blocks (§6.4.2) and whether an SDES CNAME (§6.5.1) came. */
  private receiverReport(data: Buffer): void {
    const blocks: ReceivedReport[] = [];
    let cname: string | undefined;
    let rr = false;
    for (let at = 0; at + 4 <= data.length;) {
      const count = data[at] & 0x1f;
      const type = data[at + 1];
      const end = at + 4 + 4 * data.readUInt16BE(at + 2);
      if (end > data.length) {
        break;
      }
      if (type === 201) {
        rr = true;
        const reporter = data.readUInt32BE(at + 4);
        for (let k = 0; k < count && at + 8 + 24 * (k + 1) <= end; k++) {
          const b = at + 8 + 24 * k;
          const lostField = data.readUInt32BE(b + 4) & 0xffffff;
          blocks.push({
            reporter, source: data.readUInt32BE(b), fractionLost: data[b + 4], cumulativeLost: lostField & 0x800000 ? lostField - 0x1000000 : lostField,
            highestSeq: data.readUInt32BE(b + 8),
          });
        }
      } else if (type === 202 && at + 10 <= end && data[at + 8] === 1) {
        cname = data.subarray(at + 10, Math.min(end, at + 10 + data[at + 9])).toString('ascii');
      }
      at = end;
    }
    if (rr && blocks.length === 0) {
      this.stats.reportsWithoutBlock++;
    }
    this.stats.reports.push(...blocks.map((b) => ({ ...b, cname })));
  }

  /** Whether an Authorization header carries `credentials`: Basic (RFC 7617) or Digest MD5 with or without qop=auth
   *  (RFC 7616 §3.4.1), for this request's method and URI and this connection's nonce. Written out here rather than with
   *  the plugin's digest helper, so a test checks the plugin against the RFC and not against itself. */
  private loginOk(auth: string, method: string, uri: string, nonce: string): boolean {
    const { user, password } = this.options.credentials ?? { user: '', password: '' };
    const basic = /^Basic\s+(\S+)$/i.exec(auth);
    if (basic) {
      return this.options.challenge !== 'digest' && Buffer.from(basic[1], 'base64').toString('utf8') === `${user}:${password}`;
    }
    const digest = /^Digest\s+(.*)$/i.exec(auth);
    if (!digest || this.options.challenge !== 'digest') {
      return false;
    }
    const p: Record<string, string> = {};
    for (const m of digest[1].matchAll(/(\w+)=(?:"([^"]*)"|([^\s,]+))/g)) {
      p[m[1].toLowerCase()] = m[2] ?? m[3];
    }
    const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
    const ha1 = md5(`${user}:hostile:${password}`);
    const ha2 = md5(`${method}:${uri}`);
    const expected = p.qop === 'auth' ? md5(`${ha1}:${nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
    const qopAsked = this.options.digestQop !== false;
    return p.username === user && p.nonce === nonce && p.uri === uri && p.response === expected && (p.qop === 'auth') === qopAsked;
  }

  /** Sends access units at the frame rate until the connection closes, misbehaving as the mode says. */
  private async play(socket: net.Socket, playing: () => boolean, udp?: UdpSession): Promise<void> {
    const { mode, fps = 15 } = this.options;
    const frameMs = 1000 / fps;
    const ssrc = randomBytes(4).readUInt32BE(0);
    let seq = Math.floor(Math.random() * 65536);
    this.stats.ssrc = ssrc;
    this.stats.firstSeq = seq;
    const forgedEvery = udp && udp.forgers.length > 0 ? this.options.forgedEvery ?? 0 : 0;
    /** Over UDP a packet (without the '$' framing) goes to the client's RTP port; over TCP it is written framed. */
    const write = (framed: Buffer): boolean => {
      if (!udp) {
        return socket.write(framed);
      }
      if (!udp.closed) {
        udp.rtp.send(framed.subarray(4), udp.clientPorts[0], udp.client);
      }
      return true;
    };
    const started = Date.now();
    let lastHuge = started;
    let packetIndex = 0;
    let held: Buffer | undefined; // a packet swapped with the next one
    const drop = new Set(this.options.dropPackets ?? []);
    const swap = new Set(this.options.swapPackets ?? []);
    const send = async (payload: Buffer, ts: number, marker: boolean): Promise<void> => {
      const rtp = Buffer.alloc(16 + payload.length);
      rtp.writeUInt8(0x24, 0); // '$'
      rtp.writeUInt8(0, 1); // channel 0: RTP of the first track
      rtp.writeUInt16BE(12 + payload.length, 2);
      rtp.writeUInt8(0x80, 4); // version 2
      rtp.writeUInt8((marker ? 0x80 : 0) | PAYLOAD_TYPE, 5);
      rtp.writeUInt16BE(seq, 6);
      seq = (seq + 1) & 0xffff;
      rtp.writeUInt32BE(ts >>> 0, 8);
      rtp.writeUInt32BE(ssrc, 12);
      payload.copy(rtp, 16);
      const index = packetIndex++;
      if (drop.has(index)) {
        return; // lost: its sequence number is skipped
      }
      if (swap.has(index)) {
        held = rtp; // goes out after the next one
        return;
      }
      if (forgedEvery > 0 && index % forgedEvery === 0 && udp && !udp.closed) {
        // The same sequence number and SSRC, garbage for payload: taken, it would stand in for the real packet.
        const forged = Buffer.concat([rtp.subarray(4, 16), randomBytes(200)]);
        for (const f of udp.forgers) {
          this.stats.forged++;
          f.send(forged, udp.clientPorts[0], udp.client);
        }
      }
      this.stats.sentBytes += payload.length;
      this.stats.sentPackets++;
      let more = write(rtp);
      if (held) {
        this.stats.sentPackets++;
        this.stats.sentBytes += held.length - 16;
        more = write(held);
        held = undefined;
      }
      if (!more && playing()) {
        await drained(socket);
      }
    };
    const sendNal = async (nal: Buffer, ts: number, last: boolean): Promise<void> => {
      if (nal.length <= RTP_PAYLOAD_MAX) {
        await send(nal, ts, last);
        return;
      }
      // FU-A: indicator (F, NRI, type 28), then a header with start/end bits and the NAL's own type; the NAL header byte
      // itself is not sent (RFC 6184 §5.8).
      const indicator = (nal[0] & 0xe0) | 28;
      for (let at = 1; at < nal.length; at += RTP_PAYLOAD_MAX) {
        const end = at + RTP_PAYLOAD_MAX >= nal.length;
        const header = (at === 1 ? 0x80 : 0) | (end ? 0x40 : 0) | (nal[0] & 0x1f);
        await send(Buffer.concat([Buffer.from([indicator, header]), nal.subarray(at, Math.min(nal.length, at + RTP_PAYLOAD_MAX))]), ts, last && end);
      }
    };
    for (let frame = 0; playing(); frame++) {
      const due = started + frame * frameMs;
      const wait = due - Date.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
      }
      if (!playing()) {
        return;
      }
      const elapsed = Date.now() - started;
      if (this.options.cutAfterMs !== undefined && elapsed >= this.options.cutAfterMs) {
        socket.destroy();
        return;
      }
      if (this.options.stallAfterMs !== undefined && elapsed >= this.options.stallAfterMs) {
        return; // silent from here on; requests are still answered until the client hangs up
      }
      if (mode === 'garbage' && elapsed >= (this.options.garbageAfterMs ?? 0)) {
        if (!socket.write(randomBytes(4096))) {
          await drained(socket);
        }
        continue;
      }
      // The second size starts on its own first keyframe: frame numbers restart there.
      const switchFrame = Math.ceil((this.options.resizeAfterMs ?? 2_000) / frameMs);
      const resized = mode === 'resize' && frame >= switchFrame;
      const unit = resized ? this.second[(frame - switchFrame) % this.second.length] : this.first[frame % this.first.length];
      const ts = Math.round(frame * 90_000 / fps);
      let nals = mode === 'sdp-only' ? unit.nals.filter((n) => ![7, 8].includes(n[0] & 0x1f)) : unit.nals;
      if (mode === 'huge-nal' && !unit.key && Date.now() - lastHuge >= (this.options.hugeEveryMs ?? 1_000)) {
        lastHuge = Date.now();
        // A non-IDR slice header byte, then a filler without start codes.
        const huge = Buffer.alloc(this.options.hugeNalBytes ?? 20 << 20, 0x55);
        huge[0] = 0x41;
        nals = [...nals.slice(0, -1), huge];
      }
      for (let i = 0; i < nals.length; i++) {
        await sendNal(nals[i], ts, i === nals.length - 1);
      }
    }
  }
}
