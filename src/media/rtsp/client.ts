// An RTSP 1.0 client (RFC 2326) for reading a camera's stream over one TCP connection: DESCRIBE (with Basic or Digest
// login, RFC 2326 §D / RFC 7616, retried once), redirects followed (§11.3.3, at most RTSP_MAX_REDIRECTS), SETUP of each
// track with RTP interleaved on the RTSP connection (§10.12, §12.39) or over UDP (§12.39 client_port, udp.ts; a camera
// that refuses UDP is read interleaved instead, said in the debug log), PLAY, keep-alives within the session's timeout
// (§12.37: GET_PARAMETER, else OPTIONS for servers that answer 501/405), TEARDOWN on close. Every request is answered
// within a bound, media must keep coming after PLAY, and every way it can end is one sentence a user can act on that
// names no password and no credentialed URL. Everything it starts (socket, timers) ends with close() or the signal.
import net from 'node:net';
import { digestAuthorization, DigestChallenge, parseDigestChallenge } from '../../util/http-digest';
import { hostPort, unbracket } from '../../util/address';
import { redact } from '../../util/redact';
import {
  RTSP_DEFAULT_SESSION_TIMEOUT_S, RTSP_MAX_REDIRECTS, RTSP_MEDIA_TIMEOUT_MS, RTSP_REQUEST_TIMEOUT_MS, RTSP_TEARDOWN_TIMEOUT_MS,
} from '../../settings';
import { parseSdp, Sdp } from './sdp';
import { Slab } from './slab';
import { UdpTrack } from './udp';
import { RtspRequest, RtspResponse, RtspWireReader, WireError } from './wire';

export type RtspErrorKind =
  | 'address' | 'refused' | 'unreachable' | 'dns' | 'connect-timeout' | 'timeout' | 'auth' | 'not-found' | 'busy'
  | 'transport' | 'status' | 'not-rtsp' | 'too-large' | 'redirect' | 'closed' | 'no-media' | 'aborted';

/** How a read ended, as a sentence for the user (never a password or a credentialed URL); `kind` for the caller. */
export class RtspError extends Error {
  constructor(readonly kind: RtspErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'RtspError';
  }
}

export interface RtspClientOptions {
  /** rtsp://[user[:password]@]host[:port]/path; credentials percent-encoded; IPv6 literals in brackets. */
  url: string;
  signal?: AbortSignal;
  /** Each request is answered, and the connection made, within this (ms). */
  requestTimeoutMs?: number;
  /** No RTP after PLAY for this long ends the read (ms). */
  mediaTimeoutMs?: number;
  /** Interleaved frames after SETUP: the channel and the RTP/RTCP packet (a view, valid during the call). */
  onFrame?: (channel: number, data: Buffer) => void;
  /** Once, when the connection ends for good: the error, or undefined when close() ended it. */
  onClose?: (error: RtspError | undefined) => void;
  /** Lines for the debug log (keep-alive fallback, a redirect followed); no passwords in them. */
  debug?: (line: string) => void;
  /** How RTP comes: interleaved on the RTSP connection (default), or over UDP to a port pair of ours; a camera that
   *  refuses UDP (461, or an answer without ports) is read interleaved instead. UDP packets come through onFrame too,
   *  under the channels SETUP was given. */
  transport?: 'tcp' | 'udp';
}

export interface RtspTarget {
  /** Host without brackets. */
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** The URL as sent in requests: no credentials. */
  url: string;
}

export interface DescribeResult {
  sdp: Sdp;
  /** The base for relative a=control URLs (RFC 2326 C.1.1): Content-Base, Content-Location or the request URL. */
  base: string;
  /** Where the stream is read from: the camera's host, or where it redirected us. */
  host: string;
  port: number;
  redirected: boolean;
}

export interface SetupResult {
  /** The interleaved channels the server chose (RTP, RTCP); usually those asked for. Over UDP, those asked for. */
  channels: [number, number];
  /** How this track's RTP comes. */
  transport: 'tcp' | 'udp';
  session: string;
  timeoutS: number;
}

const DEFAULT_PORT = 554;
/** Socket reads go into slabs of this size (bytes): about 2 s of a 2 Mb/s camera. */
const READ_SLAB_BYTES = 128 * 1024;
/** Room left for one socket read at least (bytes): Node's own read size. */
const READ_MIN_BYTES = 32 * 1024;
const USER_AGENT = 'homebridge-courtyard';
/** Garbage skipped while media flows before the read ends (bytes): a stray byte or a broken frame, not a stream of it. */
const MAX_GARBAGE_BYTES = 64 * 1024;
/** Shortest keep-alive interval (ms), whatever timeout a server names. */
const MIN_KEEPALIVE_MS = 500;
/** Longest reason phrase of a server's status line quoted to the user (characters). */
const MAX_REASON_CHARS = 80;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Host, port, credentials (percent-decoded) and the credential-free request URL of an rtsp:// URL. */
export function parseRtspUrl(text: string): RtspTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new RtspError('address', 'the stream address is not a valid rtsp:// URL');
  }
  if (u.protocol !== 'rtsp:' || !u.hostname) {
    throw new RtspError('address', `the stream address is not an rtsp:// URL (${u.protocol.replace(/:$/, '')})`);
  }
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const username = u.username ? decode(u.username) : undefined;
  const password = u.password ? decode(u.password) : undefined;
  u.username = '';
  u.password = '';
  return { host: unbracket(u.hostname), port: u.port ? Number(u.port) : DEFAULT_PORT, username, password, url: u.href };
}

interface Pending {
  method: string;
  resolve: (r: RtspResponse) => void;
  reject: (e: RtspError) => void;
  timer: NodeJS.Timeout;
}

type Auth = { kind: 'basic' } | { kind: 'digest'; challenge: DigestChallenge; nc: number };

export class RtspClient {
  private readonly requestTimeoutMs: number;
  private readonly mediaTimeoutMs: number;
  private target: RtspTarget;
  private socket?: net.Socket;
  private wire?: RtspWireReader;
  private cseq = 0;
  private readonly pending = new Map<number, Pending>();
  private auth?: Auth;
  private session?: string;
  private sessionTimeoutS = RTSP_DEFAULT_SESSION_TIMEOUT_S;
  private playUrl?: string;
  private readonly rtpChannels = new Set<number>();
  private keepAliveTimer?: NodeJS.Timeout;
  private keepAliveMethod: 'GET_PARAMETER' | 'OPTIONS' = 'GET_PARAMETER';
  private keepAliveBusy = false;
  private mediaTimer?: NodeJS.Timeout;
  private lastMediaAt = 0;
  private playing = false;
  /** An RTSP answer came on this connection. */
  private answered = false;
  /** Set once the connection is ending: nothing new starts, and every waiter has been (or is being) rejected. */
  private ending?: Promise<void>;
  private endError?: RtspError;
  /** Rejects a connect() in progress when the client ends. */
  private abortConnect?: (e: RtspError) => void;
  private readonly onAbort = (): void => void this.end(new RtspError('aborted', 'the read was stopped'));
  /** paceReads(): the least time between two reads of the connection (ms), 0 for none; the timer while paused. */
  private paceMs = 0;
  private paceTimer?: NodeJS.Timeout;
  /** 'udp' until a camera refuses it; never back. */
  private transport: 'tcp' | 'udp';
  private readonly udpTracks: UdpTrack[] = [];

  constructor(private readonly options: RtspClientOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? RTSP_REQUEST_TIMEOUT_MS;
    this.mediaTimeoutMs = options.mediaTimeoutMs ?? RTSP_MEDIA_TIMEOUT_MS;
    this.target = parseRtspUrl(options.url);
    this.transport = options.transport ?? 'tcp';
    if (options.signal?.aborted) {
      this.endError = new RtspError('aborted', 'the read was stopped');
      this.ending = Promise.resolve();
    } else {
      options.signal?.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /**
   * Reads the connection at most every `ms` (0, the default: as the bytes come). Each read wakes the process, and a
   * camera sends 30 to 60 bursts a second: reading what the kernel holds a few times a second costs a fraction of that
   * (HKSV's prebuffer needs no latency, a viewer does). While a request waits for its answer, reads are not paced.
   * Over UDP only the RTSP connection is paced: datagrams are handed on as they come.
   */
  paceReads(ms: number): void {
    this.paceMs = Math.max(0, ms);
    if (this.paceMs === 0) {
      this.resumeReading();
    }
  }

  /** Reads again at once if paced reading had paused the socket. */
  private resumeReading(): void {
    if (this.paceTimer === undefined) {
      return;
    }
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    if (this.socket && !this.socket.destroyed) {
      this.socket.resume();
    }
  }

  /** Where requests go now (after redirects): host without brackets and port. */
  get host(): { host: string; port: number } {
    return { host: this.target.host, port: this.target.port };
  }

  /** Connects, asks for the SDP (logging in and following redirects as the camera asks), and returns it. */
  async describe(): Promise<DescribeResult> {
    let redirected = false;
    for (let hop = 0; ; hop++) {
      await this.connect();
      const res = await this.send('DESCRIBE', this.target.url, ['Accept: application/sdp']);
      if (REDIRECTS.has(res.status)) {
        if (hop >= RTSP_MAX_REDIRECTS) {
          throw await this.fail(new RtspError('redirect', `the camera redirected its stream more than ${RTSP_MAX_REDIRECTS} times (a loop?)`));
        }
        this.follow(res.headers.get('Location'));
        redirected = true;
        continue;
      }
      this.check('DESCRIBE', res);
      if (res.body.length === 0) {
        throw await this.fail(new RtspError('not-rtsp', 'the camera answered DESCRIBE without an SDP'));
      }
      const base = this.strip(res.headers.get('Content-Base') ?? res.headers.get('Content-Location') ?? this.target.url);
      return { sdp: parseSdp(res.body.toString('utf8')), base, host: this.target.host, port: this.target.port, redirected };
    }
  }

  /** SETUP of one track (RFC 2326 §12.39): its RTP and RTCP interleaved on `channels`, or with transport 'udp' sent to a
   *  port pair of ours and handed on under `channels` all the same. */
  async setup(url: string, channels: [number, number]): Promise<SetupResult> {
    if (this.transport === 'udp') {
      const udp = await this.setupUdp(url, channels);
      if (udp) {
        return udp;
      }
    }
    const res = await this.send('SETUP', this.strip(url), [`Transport: RTP/AVP/TCP;unicast;interleaved=${channels[0]}-${channels[1]}`]);
    this.check('SETUP', res);
    await this.takeSession(res);
    const transport = res.headers.get('Transport') ?? '';
    const interleaved = /interleaved=(\d+)(?:-(\d+))?/i.exec(transport);
    if (transport && !interleaved) {
      throw await this.fail(new RtspError('transport', 'the camera does not send its stream over the RTSP connection (it offered ' +
        'another transport to SETUP)'));
    }
    return this.interleave(interleaved, channels);
  }

  /** RTP over UDP to a port pair of ours; undefined (after a debug line) when the camera will not, to be set up
   *  interleaved: a 461 Unsupported Transport, or an answer that names no port (where would it send?). A camera that
   *  chose interleaved itself in its answer is read so. */
  private async setupUdp(url: string, channels: [number, number]): Promise<SetupResult | undefined> {
    const socket = this.socket;
    if (!socket?.localAddress || this.ending) {
      throw this.endError ?? new RtspError('closed', 'the RTSP connection is closed');
    }
    let track: UdpTrack;
    try {
      track = await UdpTrack.open({
        local: socket.localAddress, family: socket.localFamily === 'IPv6' ? 6 : 4,
        onRtp: (data) => this.onFrame(channels[0], data),
        onRtcp: (data) => this.onFrame(channels[1], data),
      });
    } catch (err) {
      throw await this.fail(new RtspError('transport', `the camera's RTP cannot be received over UDP: ${(err as Error).message}`));
    }
    this.udpTracks.push(track);
    if (this.ending) {
      track.close(); // ended while the ports were being bound
      throw this.endError ?? new RtspError('closed', 'the RTSP connection is closed');
    }
    const res = await this.send('SETUP', this.strip(url), [`Transport: RTP/AVP;unicast;client_port=${track.rtpPort}-${track.rtcpPort}`]);
    const fallBack = (why: string): undefined => {
      track.close();
      this.udpTracks.splice(this.udpTracks.indexOf(track), 1);
      this.transport = 'tcp';
      this.options.debug?.(`RTSP over UDP: ${why}; reading the stream over the RTSP connection (TCP) instead`);
      return undefined;
    };
    if (res.status === 461) {
      return fallBack('the camera does not send RTP over UDP (461 Unsupported Transport)');
    }
    this.check('SETUP', res);
    await this.takeSession(res);
    const transport = res.headers.get('Transport') ?? '';
    const interleaved = /interleaved=(\d+)(?:-(\d+))?/i.exec(transport);
    if (interleaved) {
      fallBack('the camera answered with interleaved RTP');
      return this.interleave(interleaved, channels);
    }
    const ports = (name: string): [number, number] | undefined => {
      const m = new RegExp(`(?:^|;)\\s*${name}=(\\d+)(?:-(\\d+))?`, 'i').exec(transport);
      return m ? [Number(m[1]), Number(m[2] ?? Number(m[1]) + 1)] : undefined;
    };
    const server = ports('server_port');
    if (!server && !ports('client_port')) {
      return fallBack(`the camera's answer to SETUP names no UDP port (${transport ? 'Transport without client_port or server_port' : 'no Transport'})`);
    }
    // Only the camera's own address is listened to: the address the RTSP connection reached (after any redirect).
    const camera = socket.remoteAddress ?? this.target.host;
    track.connect(camera, server?.[0], server?.[1]);
    this.options.debug?.(`RTSP over UDP: RTP to port ${track.rtpPort} from ${server ? hostPort(camera, server[0]) : camera}`);
    this.rtpChannels.add(channels[0]);
    return { channels, transport: 'udp', session: this.session as string, timeoutS: this.sessionTimeoutS };
  }

  /** The session of a SETUP answer (§12.37: Session: <id>[;timeout=<seconds>]). */
  private async takeSession(res: RtspResponse): Promise<void> {
    const session = res.headers.get('Session');
    if (!session) {
      throw await this.fail(new RtspError('not-rtsp', 'the camera answered SETUP without a session'));
    }
    const [id, ...params] = session.split(';').map((s) => s.trim());
    const timeout = params.map((p) => /^timeout=(\d+)$/i.exec(p)?.[1]).find(Boolean);
    this.session = id;
    if (timeout && Number(timeout) > 0) {
      this.sessionTimeoutS = Number(timeout);
    }
  }

  /** The interleaved channels the camera chose (or those asked for), read from the RTSP connection from now on. */
  private interleave(interleaved: RegExpExecArray | null, channels: [number, number]): SetupResult {
    const chosen: [number, number] = interleaved ? [Number(interleaved[1]), Number(interleaved[2] ?? Number(interleaved[1]) + 1)] : channels;
    this.wire?.channels.add(chosen[0]);
    this.wire?.channels.add(chosen[1]);
    this.rtpChannels.add(chosen[0]);
    return { channels: chosen, transport: 'tcp', session: this.session as string, timeoutS: this.sessionTimeoutS };
  }

  /** Datagrams from other addresses than the camera's, ignored on the UDP ports (0 over TCP). */
  get foreignPackets(): number {
    return this.udpTracks.reduce((n, t) => n + t.foreign, 0);
  }

  /** RTCP receiver reports sent over UDP. */
  get receiverReports(): number {
    return this.udpTracks.reduce((n, t) => n + t.reports, 0);
  }

  /** PLAY from the start of the live stream (§12.29 Range npt=0.000-), then keep-alives and the media watch. */
  async play(url: string): Promise<void> {
    this.playUrl = this.strip(url);
    // Media may arrive before the answer is read: from here on, a little garbage among it is skipped, not fatal.
    if (this.wire) {
      this.wire.garbageBudget = MAX_GARBAGE_BYTES;
    }
    this.playing = true;
    this.lastMediaAt = Date.now();
    this.armMediaWatch();
    const res = await this.send('PLAY', this.playUrl, ['Range: npt=0.000-']);
    this.check('PLAY', res);
    this.udpTracks.forEach((t) => t.startReports());
    const everyMs = Math.max(MIN_KEEPALIVE_MS, (this.sessionTimeoutS * 1000) / 2);
    this.keepAliveTimer = setInterval(() => void this.keepAlive(), everyMs);
  }

  /** TEARDOWN (bounded, best effort) and the socket closed; resolves when all is released. Idempotent. */
  close(): Promise<void> {
    return this.end(undefined);
  }

  // ---- connection ----

  private connect(): Promise<void> {
    if (this.ending) {
      return Promise.reject(this.endError ?? new RtspError('aborted', 'the read was stopped'));
    }
    if (this.socket && !this.socket.destroyed) {
      return Promise.resolve();
    }
    const { host, port } = this.target;
    const where = hostPort(host, port);
    return new Promise<void>((resolve, reject) => {
      // Reads land one after another in large slabs (slab.ts), each read a view: Node's default read allocates 64 KiB
      // each time, and a copy per read is an allocation of its own; both cost more CPU than the parsing of a camera's
      // 30 reads a second (measured on loopback). A frame cut between two reads stays one piece of memory.
      const slab = new Slab(READ_SLAB_BYTES);
      let room = 0;
      const socket = net.connect({
        host, port,
        onread: {
          buffer: () => {
            const space = slab.space(READ_MIN_BYTES);
            room = space.length;
            return space;
          },
          callback: (bytes: number): boolean => {
            onData(slab.commit(bytes));
            // Paced (paceReads): a read that did not fill its room took all the kernel had; wait before the next.
            if (this.paceMs > 0 && bytes < room && this.pending.size === 0 && this.socket === socket && !this.ending) {
              this.paceTimer = setTimeout(() => this.resumeReading(), this.paceMs);
              return false; // pauses the socket until resumeReading()
            }
            return true; // keep reading
          },
        },
      });
      this.socket = socket;
      this.answered = false;
      const wire = new RtspWireReader({
        frame: (channel, data) => this.onFrame(channel, data),
        response: (r) => this.onResponse(r),
        request: (r) => this.onRequest(socket, r),
      });
      this.wire = wire;
      const timer = setTimeout(() => fail(new RtspError('connect-timeout',
        `the camera did not accept the RTSP connection at ${where} within ${seconds(this.requestTimeoutMs)} (is it on the network?)`)),
      this.requestTimeoutMs);
      const fail = (e: RtspError): void => {
        clearTimeout(timer);
        this.abortConnect = undefined;
        socket.destroy();
        void this.end(e);
        reject(e);
      };
      this.abortConnect = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      socket.once('connect', () => {
        clearTimeout(timer);
        this.abortConnect = undefined;
        socket.setNoDelay(true);
        resolve();
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (socket.connecting || socket.pending) {
          fail(connectError(err, host, port));
        } else if (this.socket === socket) {
          void this.end(new RtspError('closed', err.code === 'ECONNRESET' ? 'the camera reset the RTSP connection' :
            `the RTSP connection failed (${err.code ?? 'socket error'})`));
        }
      });
      socket.on('close', () => {
        if (this.socket === socket) {
          // Bytes came but never an answer: what the camera sent was not RTSP, whether or not the close came before the
          // bytes were judged (the same camera must get the same sentence each time, or the log says it twice).
          if (!this.answered && socket.bytesRead > 0) {
            void this.end(new RtspError('not-rtsp', 'the camera sends something that is not RTSP'));
            return;
          }
          const during = this.playing ? ' while sending video' : [...this.pending.values()].map((p) => ` before answering ${p.method}`)[0] ?? '';
          void this.end(new RtspError('closed', `the camera closed the RTSP connection${during}`));
        }
      });
      // Frames handed on are views into `chunk`, a piece of a slab that is never reused: the depacketizers may keep them.
      const onData = (chunk: Buffer): void => {
        if (this.socket !== socket || this.ending) {
          return;
        }
        try {
          wire.push(chunk);
        } catch (err) {
          const e = err instanceof WireError ? new RtspError(err.kind, err.message) : new RtspError('not-rtsp', 'the camera sends something that is not RTSP');
          void this.end(e);
        }
      };
    });
  }

  /** Another host or path the camera sent us to: a fresh connection there, the same login (a redirect to an NVR or a
   *  proxy serves the camera's stream under the camera's login, as ffmpeg sends it), nothing but rtsp://. */
  private follow(location: string | undefined): void {
    let next: URL;
    try {
      next = new URL(location ?? '', this.target.url);
    } catch {
      throw this.failNow(new RtspError('redirect', 'the camera redirected its stream to an address that is not a URL'));
    }
    if (next.protocol !== 'rtsp:') {
      throw this.failNow(new RtspError('redirect', `the camera redirected its stream to something that is not an RTSP address (${next.protocol.replace(/:$/, '')})`));
    }
    const parsed = parseRtspUrl(next.href);
    const previous = this.target;
    this.target = { ...parsed, username: parsed.username ?? previous.username, password: parsed.password ?? previous.password };
    this.options.debug?.(`RTSP redirect from ${hostPort(previous.host, previous.port)} to ${hostPort(this.target.host, this.target.port)}`);
    this.auth = undefined;
    const old = this.socket;
    this.socket = undefined;
    this.wire = undefined;
    old?.destroy();
  }

  // ---- requests ----

  /** A request, answered; a 401 is answered once with the login the camera asks for (Digest preferred, else Basic). */
  private async send(method: string, url: string, extra: string[]): Promise<RtspResponse> {
    let res = await this.request(method, url, extra);
    if (res.status !== 401) {
      return res;
    }
    if (this.target.username === undefined) {
      throw await this.fail(new RtspError('auth', 'the camera asks for a user name and password for its RTSP stream, and none was given', 401));
    }
    const challenges = res.headers.all('WWW-Authenticate');
    const digest = parseDigestChallenge(challenges);
    if (digest) {
      this.auth = { kind: 'digest', challenge: digest, nc: 0 };
    } else if (challenges.some((c) => /^Basic\b/i.test(c))) {
      this.auth = { kind: 'basic' };
    } else {
      throw await this.fail(new RtspError('auth', 'the camera asks for a login the plugin does not speak (neither Digest nor Basic)', 401));
    }
    res = await this.request(method, url, extra);
    if (res.status === 401) {
      throw await this.fail(new RtspError('auth', 'the camera refused the user name or password for its RTSP stream', 401));
    }
    return res;
  }

  /** Writes one request and waits for its answer (matched by CSeq), bounded; a timeout ends the connection. */
  private request(method: string, url: string, extra: string[], fatal = true): Promise<RtspResponse> {
    const socket = this.socket;
    if (this.ending || !socket || socket.destroyed) {
      return Promise.reject(this.endError ?? new RtspError('closed', 'the RTSP connection is closed'));
    }
    const cseq = ++this.cseq;
    const lines = [`${method} ${url} RTSP/1.0`, `CSeq: ${cseq}`, `User-Agent: ${USER_AGENT}`];
    const authorization = this.authorization(method, url);
    if (authorization) {
      lines.push(`Authorization: ${authorization}`);
    }
    if (this.session) {
      lines.push(`Session: ${this.session}`);
    }
    lines.push(...extra, '', '');
    return new Promise<RtspResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        const e = new RtspError('timeout', `the camera did not answer ${method} within ${seconds(this.requestTimeoutMs)}`);
        if (fatal) {
          void this.end(e);
        }
        reject(e);
      }, this.requestTimeoutMs);
      this.pending.set(cseq, { method, resolve, reject, timer });
      this.resumeReading(); // the answer is read as it comes
      socket.write(lines.join('\r\n'));
    });
  }

  private authorization(method: string, url: string): string | undefined {
    const { username = '', password = '' } = this.target;
    if (!this.auth) {
      return undefined;
    }
    if (this.auth.kind === 'basic') {
      return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    this.auth.nc++;
    return digestAuthorization(this.auth.challenge, method, url, username, password, this.auth.nc);
  }

  private onResponse(res: RtspResponse): void {
    this.answered = true;
    const cseq = Number(res.headers.get('CSeq'));
    // A server that leaves CSeq out answers in order: the oldest request waiting.
    const key = this.pending.has(cseq) ? cseq : res.headers.get('CSeq') === undefined ? this.pending.keys().next().value : undefined;
    const waiter = key === undefined ? undefined : this.pending.get(key);
    if (key === undefined || !waiter) {
      this.options.debug?.(`RTSP answer ${res.status} to no request we are waiting for (CSeq ${this.scrub(res.headers.get('CSeq') ?? '?')})`);
      return;
    }
    this.pending.delete(key);
    clearTimeout(waiter.timer);
    waiter.resolve(res);
  }

  /** A request from the server (RFC 2326 §10: OPTIONS as its keep-alive, SET_PARAMETER, ANNOUNCE): OPTIONS is answered,
   *  the rest refused politely so the server is not left waiting. */
  private onRequest(socket: net.Socket, req: RtspRequest): void {
    const cseq = req.headers.get('CSeq') ?? '0';
    const status = req.method === 'OPTIONS' ? '200 OK' : '501 Not Implemented';
    if (!socket.destroyed) {
      socket.write(`RTSP/1.0 ${status}\r\nCSeq: ${cseq.replace(/[^\d]/g, '')}\r\n\r\n`);
    }
  }

  /** Throws the user's sentence for an answer that is not 2xx. */
  private check(method: string, res: RtspResponse): void {
    if (res.status >= 200 && res.status < 300) {
      return;
    }
    const reason = this.scrub(res.reason).replace(/[^\x20-\x7e]/g, '').slice(0, MAX_REASON_CHARS);
    const status = `${res.status}${reason ? ` ${reason}` : ''}`;
    let e: RtspError;
    if (res.status === 404) {
      e = new RtspError('not-found', `the camera has no stream at that address (${status} to ${method})`, 404);
    } else if (res.status === 453 || res.status === 503 || /bandwidth|busy|maximum|too many/i.test(reason)) {
      e = new RtspError('busy', `the camera allows no more RTSP sessions (${status}: close other apps or NVRs reading it)`, res.status);
    } else if (res.status === 461) {
      e = new RtspError('transport', `the camera does not send its stream over the RTSP connection (${status} to ${method})`, 461);
    } else {
      e = new RtspError('status', `the camera answered ${method} with ${status}`, res.status);
    }
    throw this.failNow(e);
  }

  // ---- playing ----

  private onFrame(channel: number, data: Buffer): void {
    if (this.rtpChannels.has(channel)) {
      this.lastMediaAt = Date.now();
    }
    this.options.onFrame?.(channel, data);
  }

  /** One timer, re-armed for when the media would be late, not per packet. */
  private armMediaWatch(): void {
    const due = this.lastMediaAt + this.mediaTimeoutMs - Date.now();
    this.mediaTimer = setTimeout(() => {
      if (Date.now() - this.lastMediaAt >= this.mediaTimeoutMs) {
        void this.end(new RtspError('no-media', `the camera stopped sending video (nothing for ${seconds(this.mediaTimeoutMs)} after PLAY)`));
      } else {
        this.armMediaWatch();
      }
    }, Math.max(0, due));
  }

  /** Keeps the session alive (§12.37): GET_PARAMETER, or OPTIONS where the server does not implement it (ffmpeg's order).
   *  Not fatal when unanswered: the media watch notices a dead camera. */
  private async keepAlive(): Promise<void> {
    if (this.keepAliveBusy || this.ending || !this.playUrl) {
      return;
    }
    this.keepAliveBusy = true;
    try {
      const method = this.keepAliveMethod;
      // With the session's URL and Session header, as ffmpeg sends them: cameras renew the session on either.
      const res = await this.request(method, this.playUrl, [], false);
      if (method === 'GET_PARAMETER' && (res.status === 501 || res.status === 405)) {
        this.keepAliveMethod = 'OPTIONS';
        this.options.debug?.(`RTSP keep-alive: the camera does not implement GET_PARAMETER (${res.status}), using OPTIONS`);
        await this.request('OPTIONS', this.playUrl, [], false);
      } else if (res.status === 401) {
        const digest = parseDigestChallenge(res.headers.all('WWW-Authenticate'));
        if (digest) {
          this.auth = { kind: 'digest', challenge: digest, nc: 0 }; // a new nonce (stale): the next one answers it
        }
      }
    } catch (err) {
      this.options.debug?.(`RTSP keep-alive: ${(err as Error).message}`);
    } finally {
      this.keepAliveBusy = false;
    }
  }

  // ---- ending ----

  /** Ends the client with `error` and returns it, for `throw await this.fail(...)`. */
  private async fail(error: RtspError): Promise<RtspError> {
    void this.end(error);
    return this.endError ?? error;
  }

  /** As fail(), for synchronous throws. */
  private failNow(error: RtspError): RtspError {
    void this.end(error);
    return this.endError ?? error;
  }

  /** Stops everything once: timers, waiters (rejected with the error), TEARDOWN when a session is up and the socket is
   *  sound, the socket. */
  private end(error: RtspError | undefined): Promise<void> {
    if (this.ending) {
      return this.ending;
    }
    this.endError = error;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    clearInterval(this.keepAliveTimer);
    clearTimeout(this.mediaTimer);
    this.udpTracks.forEach((t) => t.close()); // nothing more is handed on
    this.resumeReading(); // TEARDOWN's answer is read as it comes
    const rejection = error ?? new RtspError('aborted', 'the read was closed');
    this.abortConnect?.(rejection);
    this.abortConnect = undefined;
    this.ending = (async () => {
      const socket = this.socket;
      const sound = !error || error.kind === 'no-media' || error.kind === 'aborted';
      if (socket && !socket.destroyed && this.session && sound) {
        // Pending requests are left to finish or time out against the shorter teardown bound.
        await this.teardown(socket);
      }
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(rejection);
      }
      this.pending.clear();
      this.socket = undefined;
      socket?.destroy();
      this.options.onClose?.(error);
    })();
    return this.ending;
  }

  private teardown(socket: net.Socket): Promise<void> {
    return new Promise<void>((resolve) => {
      const cseq = ++this.cseq;
      const url = this.playUrl ?? this.target.url;
      const authorization = this.authorization('TEARDOWN', url);
      const timer = setTimeout(() => {
        this.pending.delete(cseq);
        resolve();
      }, RTSP_TEARDOWN_TIMEOUT_MS);
      this.pending.set(cseq, { method: 'TEARDOWN', resolve: () => { clearTimeout(timer); resolve(); }, reject: () => resolve(), timer });
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.write([`TEARDOWN ${url} RTSP/1.0`, `CSeq: ${cseq}`, `User-Agent: ${USER_AGENT}`,
        ...(authorization ? [`Authorization: ${authorization}`] : []), `Session: ${this.session}`, '', ''].join('\r\n'));
    });
  }

  /** The URL without credentials (a camera's Content-Base or an absolute a=control may carry them). */
  private strip(url: string): string {
    try {
      const u = new URL(url);
      u.username = '';
      u.password = '';
      return u.href;
    } catch {
      return url;
    }
  }

  /** Server text with the password taken out, whatever the camera echoes. */
  private scrub(text: string): string {
    let out = redact(text);
    const { password } = this.target;
    for (const form of password ? [password, encodeURIComponent(password)] : []) {
      out = out.split(form).join('***');
    }
    return out;
  }
}

function seconds(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function connectError(err: NodeJS.ErrnoException, host: string, port: number): RtspError {
  const where = hostPort(host, port);
  switch (err.code) {
    case 'ECONNREFUSED':
      return new RtspError('refused', `the camera refused the RTSP connection at ${where} (is RTSP turned on in the camera?)`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return new RtspError('unreachable', `no route to the stream's address at ${where} (the camera gave an address this machine cannot reach)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new RtspError('dns', `the stream's host name ${host} does not resolve (the camera gave a stream address this machine cannot look up)`);
    case 'ETIMEDOUT':
      return new RtspError('connect-timeout', `the camera did not accept the RTSP connection at ${where} (is it on the network?)`);
    default:
      return new RtspError('unreachable', `the RTSP connection to ${where} failed (${err.code ?? 'socket error'})`);
  }
}
