// The part of a camera's SDP (RFC 8866, formerly RFC 4566) that an RTSP read needs: each m= section's media type and
// payload types, its a=rtpmap (§6.6), a=fmtp (§6.15) and a=control (RFC 2326 C.1.1), and the session-level a=control.
// A small parser of our own rather than the sdp-transform package: these five line types are all we read, a camera's
// SDP is a few hundred bytes already bounded by the RTSP client (64 KiB), and a plugin that every user installs is
// better without a dependency for forty lines. Unknown lines are skipped, as §5 asks of a receiver.

export interface RtpMap {
  /** Encoding name as the camera wrote it (H264, MPEG4-GENERIC, PCMU...). */
  encoding: string;
  clockRate: number;
  /** Audio channels (the rtpmap's third field), when given. */
  channels?: number;
}

export interface SdpMedia {
  /** video, audio, application... */
  type: string;
  /** The payload types of the m= line, in the order given (the first is the preferred one). */
  formats: number[];
  rtpmap: Map<number, RtpMap>;
  /** Format parameters per payload type, names lower-cased (RFC 6184 and RFC 3640 names are case-insensitive). */
  fmtp: Map<number, Record<string, string>>;
  /** The media-level a=control, as written (relative, absolute or `*`). */
  control?: string;
}

export interface Sdp {
  /** The session-level a=control (the aggregate URL for PLAY), as written. */
  control?: string;
  media: SdpMedia[];
}

/** Reads the m=, a=rtpmap, a=fmtp and a=control lines of an SDP (CRLF or bare LF lines). */
export function parseSdp(text: string): Sdp {
  const sdp: Sdp = { media: [] };
  let media: SdpMedia | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      // m=<media> <port> <proto> <fmt> ... (RFC 8866 §5.14)
      const [type, , , ...formats] = line.slice(2).split(/\s+/);
      media = { type: type.toLowerCase(), formats: formats.map(Number).filter((n) => Number.isInteger(n)), rtpmap: new Map(), fmtp: new Map() };
      sdp.media.push(media);
    } else if (line.startsWith('a=control:')) {
      const control = line.slice('a=control:'.length).trim();
      if (media) {
        media.control = control;
      } else {
        sdp.control = control;
      }
    } else if (media && line.startsWith('a=rtpmap:')) {
      // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
      const m = /^a=rtpmap:(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(line);
      if (m) {
        media.rtpmap.set(Number(m[1]), { encoding: m[2], clockRate: Number(m[3]), channels: m[4] === undefined ? undefined : Number(m[4]) });
      }
    } else if (media && line.startsWith('a=fmtp:')) {
      const m = /^a=fmtp:(\d+)\s+(.*)$/.exec(line);
      if (m) {
        media.fmtp.set(Number(m[1]), parseFmtp(m[2]));
      }
    }
  }
  return sdp;
}

/** `name=value; name=value` parameters (RFC 6184 §8.1, RFC 3640 §4.1): names lower-cased, values as written. A value
 *  may hold '=' itself (base64 padding in sprop-parameter-sets). */
export function parseFmtp(params: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of params.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name) {
      out[name] = eq < 0 ? '' : part.slice(eq + 1).trim();
    }
  }
  return out;
}

/**
 * The URL an a=control names (RFC 2326 C.1.1): absolute as it stands, `*` or none the base itself, otherwise relative to
 * the base (Content-Base, else Content-Location, else the DESCRIBE URL). Relative controls are appended after a '/' even
 * when the base has no trailing slash and a query: cameras write Content-Base `rtsp://cam/live?channel=1` and control
 * `trackID=1` meaning `rtsp://cam/live?channel=1/trackID=1`, which ffmpeg and live555 send and cameras expect; strict
 * RFC 3986 resolution would replace the last path segment and query instead. A control starting with '/' is a path on
 * the base's host.
 */
export function resolveControl(base: string, control: string | undefined): string {
  if (!control || control === '*') {
    return base;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(control)) {
    return control;
  }
  if (control.startsWith('/')) {
    return new URL(control, base).href; // an absolute path on the base's host
  }
  return base.endsWith('/') ? `${base}${control}` : `${base}/${control}`;
}
