// RTP over UDP for one track of an RTSP session (RFC 2326 §12.39 client_port/server_port): a pair of sockets, RTP on an
// even port and RTCP on the next odd one (RFC 3550 §11), bound on the local address the RTSP connection uses (the one
// that reaches the camera, loopback in tests). Only datagrams from the camera's address (and its server_port pair, when
// the camera named one) are handed on: anything else on those ports is ignored and counted, so a stray or forged packet
// can never enter a picture. Receiver reports (RFC 3550 §6.4.2) go to the camera's RTCP port every few seconds: some
// cameras end a UDP session that hears nothing back, whatever the RTSP keep-alives say. close() ends everything.
import dgram from 'node:dgram';
import { isSameHost, unmapIPv4 } from '../../util/address';

/** Receiver reports every this long (ms): RFC 3550 §6.2's 5 s minimum, well within any camera's session timeout. */
export const RTCP_REPORT_EVERY_MS = 5_000;
/** Tries at an even/odd port pair before giving up (each try: an ephemeral port and its neighbour). */
const BIND_ATTEMPTS = 20;
/** The kernel's receive buffer asked for (bytes; Linux caps it at net.core.rmem_max): a 1080p keyframe is a burst of
 *  100-200 datagrams, and the default (about 200 KiB counted with overhead) can overflow while the process is busy. */
const RECV_BUFFER_BYTES = 2 * 1024 * 1024;
/** RFC 3550 Appendix A.1: a forward jump larger than this is not counted as the new highest sequence number. */
const MAX_DROPOUT = 3000;
const RTCP_SR = 200;
const RTCP_RR = 201;
const RTCP_SDES = 202;
const SDES_CNAME = 1;
const CNAME = 'homebridge-courtyard';

export interface UdpTrackOptions {
  /** The local address to bind: the RTSP connection's local address (IPv4-mapped IPv6 is taken as IPv4). */
  local: string;
  family: 4 | 6;
  /** An RTP datagram from the camera (its own buffer: may be kept). */
  onRtp: (data: Buffer) => void;
  /** An RTCP datagram from the camera. */
  onRtcp?: (data: Buffer) => void;
  reportEveryMs?: number;
}

/** What RFC 3550 §6.4.1 asks a receiver to count for one source (Appendix A.1, A.3), jitter left at 0. */
interface Reception {
  ssrc: number;
  baseSeq: number;
  maxSeq: number;
  cycles: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
}

export class UdpTrack {
  /** Datagrams from another address or port than the camera's: ignored. */
  foreign = 0;
  /** Receiver reports sent. */
  reports = 0;
  private peer?: { host: string; rtpPort?: number; rtcpPort?: number };
  private reception?: Reception;
  /** The middle 32 bits of the NTP time of the camera's last sender report, and when it came (ms). */
  private lastSr?: { ntpMiddle: number; at: number };
  private readonly ownSsrc = (Math.random() * 0x1_0000_0000) >>> 0;
  private reportTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(private readonly rtp: dgram.Socket, private readonly rtcp: dgram.Socket, private readonly options: UdpTrackOptions) {
    rtp.on('message', (data, from) => {
      if (!this.accepts(from, this.peer?.rtpPort)) {
        return;
      }
      this.count(data);
      options.onRtp(data);
    });
    rtcp.on('message', (data, from) => {
      if (!this.accepts(from, this.peer?.rtcpPort)) {
        return;
      }
      if (this.peer && this.peer.rtcpPort === undefined) {
        this.peer.rtcpPort = from.port; // no server_port named: reports go where its RTCP comes from
      }
      this.senderReport(data);
      options.onRtcp?.(data);
    });
  }

  /** Binds an even RTP port and the odd RTCP port after it on `local`. Rejects with the socket error's code. */
  static async open(options: UdpTrackOptions): Promise<UdpTrack> {
    const local = unmapIPv4(options.local);
    const type = options.family === 6 && !local.includes('.') ? 'udp6' : 'udp4';
    let lastError = '';
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const first = await bind(type, local, 0);
      const port = first.address().port;
      const neighbour = port % 2 === 0 ? port + 1 : port - 1;
      try {
        const second = await bind(type, local, neighbour);
        return port % 2 === 0 ? new UdpTrack(first, second, options) : new UdpTrack(second, first, options);
      } catch (err) {
        lastError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        first.close();
      }
    }
    throw new Error(`no free UDP port pair on ${local} for the camera's RTP (${lastError})`);
  }

  get rtpPort(): number {
    return this.rtp.address().port;
  }

  get rtcpPort(): number {
    return this.rtcp.address().port;
  }

  /** The camera: its address (the RTSP connection's remote address) and the server_port pair from SETUP's answer. */
  connect(host: string, rtpPort?: number, rtcpPort?: number): void {
    this.peer = { host: unmapIPv4(host), rtpPort, rtcpPort };
  }

  /** A receiver report now (it also opens a stateful firewall's path back to us), then every reportEveryMs. */
  startReports(): void {
    if (this.closed || this.reportTimer) {
      return;
    }
    this.report();
    this.reportTimer = setInterval(() => this.report(), this.options.reportEveryMs ?? RTCP_REPORT_EVERY_MS);
  }

  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    clearInterval(this.reportTimer);
    for (const s of [this.rtp, this.rtcp]) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }

  private accepts(from: dgram.RemoteInfo, port: number | undefined): boolean {
    const peer = this.peer;
    if (!peer || (port !== undefined && from.port !== port) || (from.address !== peer.host && !isSameHost(from.address, peer.host))) {
      this.foreign++;
      return false;
    }
    return true;
  }

  /** RFC 3550 Appendix A.1 without the probation: the highest sequence number with its wraps, and the count received. */
  private count(data: Buffer): void {
    if (data.length < 12) {
      return;
    }
    const seq = data.readUInt16BE(2);
    const ssrc = data.readUInt32BE(8);
    const r = this.reception;
    if (!r || r.ssrc !== ssrc) {
      this.reception = { ssrc, baseSeq: seq, maxSeq: seq, cycles: 0, received: 1, expectedPrior: 0, receivedPrior: 0 };
      return;
    }
    const delta = (seq - r.maxSeq) & 0xffff;
    if (delta < MAX_DROPOUT) {
      if (seq < r.maxSeq) {
        r.cycles += 0x10000;
      }
      r.maxSeq = seq;
    }
    r.received++;
  }

  /** Keeps the NTP time of a sender report (RFC 3550 §6.4.1: the first packet of a compound one), for LSR and DLSR. */
  private senderReport(data: Buffer): void {
    if (data.length >= 20 && data[0] >> 6 === 2 && data[1] === RTCP_SR) {
      this.lastSr = { ntpMiddle: data.readUInt32BE(10), at: Date.now() };
    }
  }

  /** A compound RTCP packet (RFC 3550 §6.1): a receiver report with one report block when RTP has come (§6.4.2), then
   *  the SDES CNAME every compound packet must carry (§6.5.1). */
  private report(): void {
    const peer = this.peer;
    if (this.closed || !peer || peer.rtcpPort === undefined) {
      return;
    }
    const r = this.reception;
    const rrBytes = 8 + (r ? 24 : 0);
    const cname = Buffer.from(CNAME, 'ascii');
    const sdesBytes = Math.ceil((8 + 2 + cname.length + 1) / 4) * 4; // header, SSRC, item, the null that ends the list
    const out = Buffer.alloc(rrBytes + sdesBytes);
    out[0] = 0x80 | (r ? 1 : 0);
    out[1] = RTCP_RR;
    out.writeUInt16BE(rrBytes / 4 - 1, 2);
    out.writeUInt32BE(this.ownSsrc, 4);
    if (r) {
      const extendedMax = r.cycles + r.maxSeq;
      const expected = extendedMax - r.baseSeq + 1;
      const lost = Math.max(-0x800000, Math.min(0x7fffff, expected - r.received));
      const expectedInterval = expected - r.expectedPrior;
      const lostInterval = expectedInterval - (r.received - r.receivedPrior);
      r.expectedPrior = expected;
      r.receivedPrior = r.received;
      const fraction = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval << 8) / expectedInterval);
      out.writeUInt32BE(r.ssrc, 8);
      out.writeUInt32BE((((fraction & 0xff) << 24) | (lost & 0xffffff)) >>> 0, 12);
      out.writeUInt32BE(extendedMax >>> 0, 16);
      out.writeUInt32BE(0, 20); // interarrival jitter: not measured
      const sr = this.lastSr;
      out.writeUInt32BE(sr ? sr.ntpMiddle : 0, 24);
      out.writeUInt32BE(sr ? Math.min(0xffffffff, Math.round(((Date.now() - sr.at) * 65536) / 1000)) : 0, 28);
    }
    const s = rrBytes;
    out[s] = 0x81;
    out[s + 1] = RTCP_SDES;
    out.writeUInt16BE(sdesBytes / 4 - 1, s + 2);
    out.writeUInt32BE(this.ownSsrc, s + 4);
    out[s + 8] = SDES_CNAME;
    out[s + 9] = cname.length;
    cname.copy(out, s + 10);
    this.reports++;
    this.rtcp.send(out, peer.rtcpPort, peer.host, () => undefined);
  }
}

function bind(type: 'udp4' | 'udp6', address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type, recvBufferSize: RECV_BUFFER_BYTES });
    socket.once('error', (err) => {
      try {
        socket.close();
      } catch {
        // never bound
      }
      reject(err);
    });
    socket.bind(port, address, () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // an ICMP error for a report to a camera that left ends nothing
      resolve(socket);
    });
  });
}
