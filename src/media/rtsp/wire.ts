// What comes over an RTSP connection, split into its messages: responses (RFC 2326 §7), requests a server may send the
// client (§10, e.g. SET_PARAMETER or OPTIONS as its own keep-alive), and interleaved binary frames ('$', a channel byte,
// a 16-bit length, the RTP or RTCP packet: §10.12), in any mix, cut anywhere by TCP. Bounded against a hostile peer:
// a header over 64 KiB, a body over 64 KiB, or bytes that are none of the three end the read with a WireError. While
// media flows a little garbage is skipped (resync on the next plausible frame) up to a budget the caller sets.

export class RtspHeaders {
  private readonly map = new Map<string, string[]>();

  add(name: string, value: string): void {
    const key = name.toLowerCase();
    const list = this.map.get(key);
    if (list) {
      list.push(value);
    } else {
      this.map.set(key, [value]);
    }
  }

  /** The first value of a header (names are case-insensitive: RFC 2326 §4.2). */
  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase())?.[0];
  }

  /** Every value of a header that may repeat (WWW-Authenticate lists one challenge per line). */
  all(name: string): string[] {
    return this.map.get(name.toLowerCase()) ?? [];
  }
}

export interface RtspResponse {
  status: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}

export interface RtspRequest {
  method: string;
  uri: string;
  headers: RtspHeaders;
  body: Buffer;
}

export interface WireHandlers {
  frame(channel: number, data: Buffer): void;
  response(response: RtspResponse): void;
  request(request: RtspRequest): void;
}

/** The peer does not speak RTSP (kind 'not-rtsp') or sends a message over the bounds ('too-large'). */
export class WireError extends Error {
  constructor(readonly kind: 'not-rtsp' | 'too-large', message: string) {
    super(message);
  }
}

/** Longest header section of one message (bytes): cameras send under 1 KiB. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Longest body (bytes): an SDP is a few hundred bytes to a few KiB. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Longest method name of a request from the server (characters): GET_PARAMETER is 13. */
const MAX_METHOD_CHARS = 32;
/** A request line from the camera (its URI included) is believed only within this many bytes. */
const MAX_REQUEST_LINE_BYTES = 4 * 1024;
const REQUEST_LINE = /^[A-Z_-]{3,32} \S+ RTSP\/1\.\d\r?$/;
/** Frames in a row that must parse after garbage before the garbage count starts again from zero. */
const RESYNC_GOOD_FRAMES = 16;
/** Smallest RTP (12-byte header) or RTCP (8-byte header, §6.4) packet: a frame shorter is not one. */
const MIN_PACKET_BYTES = 8;
const DOLLAR = 0x24;
const RESPONSE_PREFIX = Buffer.from('RTSP/1.', 'latin1');
const EMPTY = Buffer.alloc(0);

/** `a` then `b` as one Buffer: a view when `b` starts where `a` ends in the same memory, else a copy. */
function joinViews(a: Buffer, b: Buffer): Buffer {
  if (a.buffer === b.buffer && a.byteOffset + a.length === b.byteOffset) {
    return Buffer.from(a.buffer, a.byteOffset, a.length + b.length);
  }
  return Buffer.concat([a, b]);
}

export class RtspWireReader {
  /** Channels set up (SETUP's interleaved=): only their frames count when looking for the stream again after garbage. */
  readonly channels = new Set<number>();
  /** Bytes of garbage tolerated (skipped) before the read ends; 0 until media flows, so a non-RTSP answer ends it at once. */
  garbageBudget = 0;
  private rest: Buffer = EMPTY;
  private garbage = 0;
  private resyncing = false;
  private goodInARow = 0;

  constructor(private readonly handlers: WireHandlers) {}

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.rest.length;
  }

  /** Reads what `chunk` completes; throws a WireError on garbage over the budget or a message over the bounds. */
  push(chunk: Buffer): void {
    const buf = this.rest.length ? joinViews(this.rest, chunk) : chunk;
    let at = 0;
    while (at < buf.length) {
      const used = buf[at] === DOLLAR ? this.frame(buf, at) : this.message(buf, at);
      if (used === 0) {
        break; // incomplete: wait for more
      }
      if (used < 0) {
        this.skip(1);
        at++;
        continue;
      }
      at += used;
      if (this.resyncing && ++this.goodInARow >= RESYNC_GOOD_FRAMES) {
        this.resyncing = false;
        this.garbage = 0;
      }
    }
    // What is left (at most one frame or header) stays a view: the client reads into slabs (slab.ts), where the next
    // read lands right behind it, and the two are one view again without a copy.
    this.rest = at >= buf.length ? EMPTY : buf.subarray(at);
  }

  private skip(bytes: number): void {
    this.garbage += bytes;
    this.resyncing = true;
    this.goodInARow = 0;
    if (this.garbage > this.garbageBudget) {
      throw new WireError('not-rtsp', 'the camera sends something that is not RTSP');
    }
  }

  /** An interleaved frame at `at`: bytes used, 0 when incomplete, -1 when it is not a plausible frame (while resyncing). */
  private frame(buf: Buffer, at: number): number {
    if (buf.length - at < 5) {
      return 0;
    }
    const channel = buf[at + 1];
    const length = buf.readUInt16BE(at + 2);
    // After garbage a '$' is believed only if it opens a packet on a channel we set up, of RTP/RTCP version 2.
    if (this.resyncing && (!this.channels.has(channel) || length < MIN_PACKET_BYTES || buf[at + 4] >> 6 !== 2)) {
      return -1;
    }
    if (buf.length - at < 4 + length) {
      return 0;
    }
    this.handlers.frame(channel, buf.subarray(at + 4, at + 4 + length));
    return 4 + length;
  }

  /** A response or request at `at`: bytes used, 0 when incomplete, -1 when these bytes open neither. */
  private message(buf: Buffer, at: number): number {
    const avail = buf.length - at;
    const prefix = Math.min(avail, RESPONSE_PREFIX.length);
    const isResponse = buf.compare(RESPONSE_PREFIX, 0, prefix, at, at + prefix) === 0;
    if (!isResponse) {
      const method = this.methodShape(buf, at);
      if (method <= 0) {
        return method;
      }
    } else if (avail < RESPONSE_PREFIX.length) {
      return 0;
    }
    // The header section ends at an empty line; cameras that end lines with a bare LF are read too.
    const end = this.headerEnd(buf, at);
    if (end === undefined) {
      if (avail > MAX_HEADER_BYTES) {
        throw new WireError('too-large', `the camera sent an RTSP header over ${MAX_HEADER_BYTES >> 10} KiB (not a camera talking RTSP)`);
      }
      return 0;
    }
    if (end.head - at > MAX_HEADER_BYTES) {
      throw new WireError('too-large', `the camera sent an RTSP header over ${MAX_HEADER_BYTES >> 10} KiB (not a camera talking RTSP)`);
    }
    const lines = buf.toString('latin1', at, end.head).split(/\r?\n/);
    const headers = new RtspHeaders();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) {
        headers.add(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
    }
    const lengthText = headers.get('Content-Length') ?? '0';
    if (!/^\d{1,9}$/.test(lengthText)) {
      throw new WireError('not-rtsp', 'the camera sends something that is not RTSP (a malformed Content-Length)');
    }
    const length = Number(lengthText);
    if (length > MAX_BODY_BYTES) {
      throw new WireError('too-large', `the camera sent an RTSP body over ${MAX_BODY_BYTES >> 10} KiB (not a camera talking RTSP)`);
    }
    if (buf.length < end.body + length) {
      return 0;
    }
    const body = Buffer.from(buf.subarray(end.body, end.body + length));
    if (isResponse) {
      const status = /^RTSP\/1\.\d (\d{3})(?: (.*))?$/.exec(lines[0]);
      if (!status) {
        return -1;
      }
      this.handlers.response({ status: Number(status[1]), reason: (status[2] ?? '').trim(), headers, body });
    } else {
      const request = /^([A-Z_-]+) (\S+) RTSP\/1\.\d$/.exec(lines[0]);
      if (!request) {
        return -1;
      }
      this.handlers.request({ method: request[1], uri: request[2], headers, body });
    }
    return end.body + length - at;
  }

  /** Whether the bytes at `at` may open a request line (an upper-case method, then a space): 1 yes, 0 cannot tell yet,
   *  -1 no. */
  private methodShape(buf: Buffer, at: number): number {
    for (let i = at; i < buf.length && i - at <= MAX_METHOD_CHARS; i++) {
      const c = buf[i];
      if (c === 0x20) {
        return i - at >= 3 ? this.requestLine(buf, at) : -1;
      }
      if (!((c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x2d)) {
        return -1;
      }
    }
    return buf.length - at > MAX_METHOD_CHARS ? -1 : 0;
  }

  /**
   * A method token was seen at `at`: the line must be a whole request line, "METHOD URI RTSP/1.x" (RFC 2326 §6.1),
   * within MAX_REQUEST_LINE_BYTES, or these bytes are garbage. Three capitals and a space turn up in every few hundred
   * KiB of random bytes; believed on that alone, a garbage stream was read as a request whose header never ended, and
   * was said as a header over 64 KiB instead of not RTSP.
   */
  private requestLine(buf: Buffer, at: number): number {
    const limit = Math.min(buf.length, at + MAX_REQUEST_LINE_BYTES);
    const end = buf.subarray(0, limit).indexOf(0x0a, at);
    if (end < 0) {
      return limit - at >= MAX_REQUEST_LINE_BYTES ? -1 : 0;
    }
    return REQUEST_LINE.test(buf.toString('latin1', at, end)) ? 1 : -1;
  }

  private headerEnd(buf: Buffer, at: number): { head: number; body: number } | undefined {
    const limit = Math.min(buf.length, at + MAX_HEADER_BYTES + 4);
    const crlf = buf.subarray(0, limit).indexOf('\r\n\r\n', at, 'latin1');
    const lf = buf.subarray(0, limit).indexOf('\n\n', at, 'latin1');
    if (crlf >= 0 && (lf < 0 || crlf < lf)) {
      return { head: crlf, body: crlf + 4 };
    }
    return lf >= 0 ? { head: lf, body: lf + 2 } : undefined;
  }
}
