// AAC out of RTP as RFC 3640 carries it (mpeg4-generic, mode AAC-hbr or AAC-lbr, §3.3.6 and §3.3.5): each packet holds
// an AU-headers section (an AU-size and AU-Index per access unit, §3.2.1), then the raw AAC frames one after another; a
// frame larger than a packet is fragmented over packets of the same timestamp (§3.2.3). The decoder's setup comes from
// the SDP's config= (the AudioSpecificConfig of ISO/IEC 14496-3 §1.6.2.1, in hex), never from the stream.
import { AAC_FRAME_SAMPLES, AAC_SAMPLE_RATES } from '../ts-demux';
import { isSequenceRestart, RtpPacket, sequenceGap, TimestampUnwrapper } from './rtp';
import { BitReader } from '../h264';

/** The decoder setup, in the shape fmp4.ts's AudioTrack takes, plus the AudioSpecificConfig bytes. */
export interface AacConfig {
  /** MPEG-4 audio object type (2 = AAC-LC). */
  objectType: number;
  /** Sampling frequency index (ISO/IEC 14496-3 Table 1.16); 15 when the rate is written out. */
  rateIndex: number;
  sampleRate: number;
  /** Channel configuration (1 mono, 2 stereo...). */
  channels: number;
  /** The AudioSpecificConfig as the SDP gave it. */
  config: Buffer;
}

export interface AacFrame {
  /** One raw AAC frame (no ADTS header). */
  data: Buffer;
  /** In the RTP clock (the rtpmap's rate, the sample rate for AAC), unwrapped: keeps growing past 2^32. */
  timestamp: number;
}

export interface AacDepayOptions {
  /** The a=fmtp parameters of the audio (names lower-cased, as sdp.ts gives them). */
  fmtp: Record<string, string>;
  onFrame: (frame: AacFrame) => void;
  /** Something was dropped, with a sentence saying what and why. */
  onDrop?: (reason: string) => void;
}

/** Most bits an AU-size field may have here: 16 allows 64 KiB frames; AAC frames are under 6 KiB (8 channels). */
const MAX_SIZE_LENGTH_BITS = 16;
/** The largest sampling_frequency_index that names a rate (ISO/IEC 14496-3 Table 1.16); 15 writes the rate out. */
const EXPLICIT_RATE_INDEX = 15;

/** Object type, rate and channels from an AudioSpecificConfig given in hex (RFC 3640 §4.1 config=), or undefined. */
export function parseAudioSpecificConfig(hex: string | undefined): AacConfig | undefined {
  if (!hex || !/^([0-9a-f]{2})+$/i.test(hex)) {
    return undefined;
  }
  const config = Buffer.from(hex, 'hex');
  const bits = new BitReader(config, 'AudioSpecificConfig');
  try {
    let objectType = bits.u(5);
    if (objectType === 31) {
      objectType = 32 + bits.u(6); // audioObjectTypeExt
    }
    const rateIndex = bits.u(4);
    const sampleRate = rateIndex === EXPLICIT_RATE_INDEX ? bits.u(24) : AAC_SAMPLE_RATES[rateIndex];
    const channels = bits.u(4);
    if (!sampleRate || objectType === 0) {
      return undefined;
    }
    return { objectType, rateIndex, sampleRate, channels, config };
  } catch {
    return undefined;
  }
}

/** An ADTS header (ISO/IEC 13818-7 §6.2) for a raw frame, as MPEG-TS and decoders reading a pipe want AAC; undefined
 *  for a setup ADTS cannot say (an object type over 4, a written-out rate). */
export function adtsHeader(config: AacConfig, frameBytes: number): Buffer | undefined {
  const length = frameBytes + 7;
  if (config.objectType < 1 || config.objectType > 4 || config.rateIndex >= EXPLICIT_RATE_INDEX || config.channels > 7 || length > 0x1fff) {
    return undefined;
  }
  const h = Buffer.alloc(7);
  h[0] = 0xff;
  h[1] = 0xf1; // syncword, MPEG-4, layer 0, no CRC
  h[2] = ((config.objectType - 1) << 6) | (config.rateIndex << 2) | (config.channels >> 2);
  h[3] = ((config.channels & 3) << 6) | (length >> 11);
  h[4] = (length >> 3) & 0xff;
  h[5] = ((length & 7) << 5) | 0x1f; // buffer fullness 0x7ff: variable rate
  h[6] = 0xfc; // ...and one raw data block
  return h;
}

interface AuHeaderLayout {
  sizeLength: number;
  indexLength: number;
  indexDeltaLength: number;
  ctsDeltaLength: number;
  dtsDeltaLength: number;
  randomAccess: boolean;
  streamStateLength: number;
  auxLength: number;
}

export class AacDepayloader {
  private readonly layout: AuHeaderLayout;
  private readonly frameSamples: number;
  private readonly unwrapper = new TimestampUnwrapper();
  private expectedSeq?: number;
  /** A frame fragmented over packets (§3.2.3), being put together. */
  private fragment?: { raw: number; size: number; chunks: Buffer[]; bytes: number };

  /** Throws when the fmtp names a layout this cannot read (no sizelength, or fields too long). */
  constructor(private readonly options: AacDepayOptions) {
    const n = (name: string): number => {
      const v = options.fmtp[name];
      return v === undefined || v === '' ? 0 : Number(v);
    };
    this.layout = {
      sizeLength: n('sizelength'), indexLength: n('indexlength'), indexDeltaLength: n('indexdeltalength'),
      ctsDeltaLength: n('ctsdeltalength'), dtsDeltaLength: n('dtsdeltalength'), randomAccess: n('randomaccessindication') === 1,
      streamStateLength: n('streamstateindication'), auxLength: n('auxiliarydatasizelength'),
    };
    const lengths = Object.values(this.layout).filter((v) => typeof v === 'number') as number[];
    if (!(this.layout.sizeLength > 0 && this.layout.sizeLength <= MAX_SIZE_LENGTH_BITS) || lengths.some((v) => !Number.isInteger(v) || v < 0 || v > 32)) {
      throw new Error('the camera\'s AAC is packed in a way the plugin does not read (RFC 3640 needs a sizelength of 1–16 bits)');
    }
    this.frameSamples = n('constantduration') || AAC_FRAME_SAMPLES;
  }

  push(packet: RtpPacket): void {
    const gap = this.expectedSeq === undefined ? 0 : sequenceGap(this.expectedSeq, packet.sequence);
    if (gap < 0 && !isSequenceRestart(gap)) {
      return; // late or repeated: the reorder buffer (reorder.ts) gave up on its place
    }
    if (gap !== 0 && this.fragment) {
      this.fragment = undefined;
      this.options.onDrop?.('RTP packets of the audio lost inside a fragmented AAC frame: the frame is dropped');
    }
    this.expectedSeq = (packet.sequence + 1) & 0xffff;
    const problem = this.depacketize(packet);
    if (problem) {
      this.fragment = undefined;
      this.options.onDrop?.(`${problem}: the packet's audio is dropped`);
    }
  }

  private depacketize(packet: RtpPacket): string | undefined {
    const p = packet.payload;
    if (p.length < 2) {
      return 'a malformed AAC packet';
    }
    const headerBits = p.readUInt16BE(0);
    const headersEnd = 2 + Math.ceil(headerBits / 8);
    if (headersEnd > p.length) {
      return 'a malformed AAC packet (AU headers past its end)';
    }
    const sizes: number[] = [];
    const positions: number[] = [];
    const bits = new BitReader(p.subarray(2, headersEnd), 'AU header');
    const l = this.layout;
    try {
      for (let position = 0; bits.position < headerBits;) {
        const size = bits.u(l.sizeLength);
        const index = bits.u(sizes.length === 0 ? l.indexLength : l.indexDeltaLength);
        // Non-interleaved streams send 0s; in interleaving the deltas say how many frames each one skips (§3.2.1).
        position = sizes.length === 0 ? 0 : position + 1 + index;
        // The optional fields of §3.2.1.1, present when the fmtp gives them a length: read past.
        if (l.ctsDeltaLength && bits.u(1)) {
          bits.u(l.ctsDeltaLength);
        }
        if (l.dtsDeltaLength && bits.u(1)) {
          bits.u(l.dtsDeltaLength);
        }
        bits.u((l.randomAccess ? 1 : 0) + l.streamStateLength);
        if (bits.position > headerBits) {
          return 'a malformed AAC packet (an AU header cut short)';
        }
        sizes.push(size);
        positions.push(position);
      }
    } catch {
      return 'a malformed AAC packet (AU headers past their length)';
    }
    let at = headersEnd;
    if (l.auxLength) {
      // §3.2.2: the auxiliary section, skipped.
      const auxBits = new BitReader(p.subarray(at), 'auxiliary section').u(l.auxLength);
      at += Math.ceil((l.auxLength + auxBits) / 8);
    }
    const data = p.subarray(Math.min(at, p.length));
    if (this.fragment) {
      // §3.2.3: a fragment's packets each carry one AU header with the whole frame's size, under the frame's timestamp.
      const f = this.fragment;
      if (packet.timestamp !== f.raw || sizes.length !== 1 || sizes[0] !== f.size) {
        this.fragment = undefined;
        this.options.onDrop?.('a fragmented AAC frame ended early: the frame is dropped');
      } else {
        f.chunks.push(data);
        f.bytes += data.length;
        if (f.bytes > f.size) {
          return 'a fragmented AAC frame longer than its AU-size';
        }
        if (f.bytes === f.size) {
          this.fragment = undefined;
          this.options.onFrame({ data: Buffer.concat(f.chunks, f.bytes), timestamp: this.unwrapper.unwrap(f.raw) });
        }
        return undefined;
      }
    }
    if (sizes.length === 1 && sizes[0] > data.length) {
      this.fragment = { raw: packet.timestamp, size: sizes[0], chunks: [data], bytes: data.length };
      return undefined;
    }
    if (sizes.reduce((a, b) => a + b, 0) > data.length) {
      return 'a malformed AAC packet (frames past its end)';
    }
    const base = this.unwrapper.unwrap(packet.timestamp);
    let offset = 0;
    sizes.forEach((size, k) => {
      if (size > 0) {
        this.options.onFrame({ data: data.subarray(offset, offset + size), timestamp: base + positions[k] * this.frameSamples });
      }
      offset += size;
    });
    return undefined;
  }
}
