// Fragmented MP4 (ISO/IEC 14496-12) written by the plugin: the init segment (ftyp + moov with an avc1/avcC video track
// and an optional mp4a/esds AAC track, ISO/IEC 14496-15 and -14) and one moof + mdat per fragment, the shape HomeKit
// Secure Video takes (the same boxes ffmpeg writes with frag_keyframe+empty_moov+default_base_moof). Copying a camera's
// H.264 needs nothing more, so a clip costs no process.
import { NAL, nalType, parseSps, splitAnnexB } from './h264';

export const VIDEO_TIMESCALE = 90_000;
const VIDEO_TRACK = 1;
const AUDIO_TRACK = 2;
/** sample_flags: a sync sample, and a sample that depends on others and is not sync (14496-12 §8.8.3.1). */
const SYNC_SAMPLE = 0x02000000;
const NON_SYNC_SAMPLE = 0x01010000;
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

function box(type: string, ...payload: Buffer[]): Buffer {
  const size = 8 + payload.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...payload]);
}

function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  const vf = Buffer.alloc(4);
  vf.writeUInt32BE(((version & 0xff) << 24) | (flags & 0xffffff), 0);
  return box(type, vf, ...payload);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

function u16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, i * 2));
  return b;
}

function u8(...values: number[]): Buffer {
  return Buffer.from(values.map((v) => v & 0xff));
}

export interface VideoTrack {
  sps: Buffer;
  pps: Buffer;
}

export interface AudioTrack {
  /** MPEG-4 audio object type (2 = AAC-LC), ADTS sampling frequency index, channel configuration. */
  objectType: number;
  rateIndex: number;
  channels: number;
  sampleRate: number;
}

export interface Sample {
  /** Length-prefixed (AVCC) video or raw AAC. */
  data: Buffer;
  /** In the track's timescale. */
  duration: number;
  /** Presentation minus decode time (video, 90 kHz). */
  compositionOffset?: number;
  sync: boolean;
}

export interface TrackRun {
  /** Decode time of the first sample in the track's timescale. */
  baseTime: number;
  samples: Sample[];
}

/** ftyp + moov for these tracks: what a hub reads before any fragment. */
export function initSegment(video: VideoTrack, audio?: AudioTrack): Buffer {
  const sps = parseSps(video.sps);
  const ftyp = box('ftyp', Buffer.from('iso5', 'latin1'), u32(512), Buffer.from('iso5iso6mp41', 'latin1'));
  const mvhd = fullBox('mvhd', 0, 0, u32(0, 0, 1000, 0, 0x00010000), u16(0x0100, 0), u32(0, 0), u32(...UNITY_MATRIX),
    u32(0, 0, 0, 0, 0, 0), u32(audio ? AUDIO_TRACK + 1 : VIDEO_TRACK + 1));
  const avcC = box('avcC', u8(1, sps.profileIdc, sps.constraints, sps.levelIdc, 0xff, 0xe1), u16(video.sps.length), video.sps,
    u8(1), u16(video.pps.length), video.pps,
    // High profiles carry the chroma format and bit depths (14496-15 §5.3.3.1.2).
    ...([100, 110, 122, 144].includes(sps.profileIdc)
      ? [u8(0xfc | sps.chromaFormatIdc, 0xf8 | (sps.bitDepthLuma - 8), 0xf8 | (sps.bitDepthChroma - 8), 0)] : []));
  const compressor = Buffer.alloc(32);
  const avc1 = box('avc1', Buffer.alloc(6), u16(1), Buffer.alloc(16), u16(sps.width, sps.height), u32(0x00480000, 0x00480000, 0),
    u16(1), compressor, u16(0x0018, 0xffff), avcC);
  const tracks = [track(VIDEO_TRACK, 'vide', VIDEO_TIMESCALE, avc1, sps.width, sps.height)];
  if (audio) {
    tracks.push(track(AUDIO_TRACK, 'soun', audio.sampleRate, mp4a(audio), 0, 0));
  }
  const trex = (id: number): Buffer => fullBox('trex', 0, 0, u32(id, 1, 0, 0, 0));
  const mvex = box('mvex', trex(VIDEO_TRACK), ...(audio ? [trex(AUDIO_TRACK)] : []));
  return Buffer.concat([ftyp, box('moov', mvhd, ...tracks, mvex)]);
}

function mp4a(a: AudioTrack): Buffer {
  const asc = u16((a.objectType << 11) | (a.rateIndex << 7) | (a.channels << 3));
  const descriptor = (tag: number, ...body: Buffer[]): Buffer => {
    const size = body.reduce((n, b) => n + b.length, 0);
    return Buffer.concat([u8(tag, size), ...body]);
  };
  const decoderSpecific = descriptor(0x05, asc);
  // objectTypeIndication 0x40 (MPEG-4 audio), streamType 5 (audio) << 2 | 1, buffer size, max and average bitrate unknown.
  const decoderConfig = descriptor(0x04, u8(0x40, 0x15, 0, 0, 0), u32(0, 0), decoderSpecific);
  const es = descriptor(0x03, u16(AUDIO_TRACK), u8(0), decoderConfig, descriptor(0x06, u8(0x02)));
  return box('mp4a', Buffer.alloc(6), u16(1), u32(0, 0), u16(a.channels, 16, 0, 0), u32(Math.min(a.sampleRate, 65535) * 65536),
    fullBox('esds', 0, 0, es));
}

function track(id: number, handler: 'vide' | 'soun', timescale: number, entry: Buffer, width: number, height: number): Buffer {
  const tkhd = fullBox('tkhd', 0, 3, u32(0, 0, id, 0, 0, 0, 0), u16(0, 0, handler === 'soun' ? 0x0100 : 0, 0), u32(...UNITY_MATRIX),
    u32(width * 65536, height * 65536));
  const mdhd = fullBox('mdhd', 0, 0, u32(0, 0, timescale, 0), u16(0x55c4 /* "und" */, 0));
  const name = handler === 'vide' ? 'VideoHandler' : 'SoundHandler';
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from(handler, 'latin1'), u32(0, 0, 0), Buffer.from(`${name}\0`, 'latin1'));
  const header = handler === 'vide' ? fullBox('vmhd', 0, 1, u16(0, 0, 0, 0)) : fullBox('smhd', 0, 0, u16(0, 0));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = box('stbl', fullBox('stsd', 0, 0, u32(1), entry), fullBox('stts', 0, 0, u32(0)), fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0, 0)), fullBox('stco', 0, 0, u32(0)));
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', header, dinf, stbl)));
}

/** One moof + mdat holding a run of video samples and, when given, the audio samples of the same span. */
export function fragment(sequence: number, video: TrackRun, audio?: TrackRun): Buffer {
  const runs = [{ id: VIDEO_TRACK, run: video, video: true }, ...(audio?.samples.length ? [{ id: AUDIO_TRACK, run: audio, video: false }] : [])];
  // trun data offsets count from the moof's first byte: the moof's size is known before them (fixed-size fields).
  const trafs = (offsets: number[]): Buffer[] => runs.map(({ id, run, video: isVideo }, k) => {
    const flags = 0x000001 | 0x000100 | 0x000200 | (isVideo ? 0x000400 | 0x000800 : 0);
    const entries = run.samples.map((s) => (isVideo
      ? u32(s.duration, s.data.length, s.sync ? SYNC_SAMPLE : NON_SYNC_SAMPLE, s.compositionOffset ?? 0)
      : u32(s.duration, s.data.length)));
    const tfdt = Buffer.alloc(8);
    tfdt.writeBigUInt64BE(BigInt(Math.max(0, Math.round(run.baseTime))));
    return box('traf', fullBox('tfhd', 0, 0x020000, u32(id)), fullBox('tfdt', 1, 0, tfdt),
      fullBox('trun', 0, flags, u32(run.samples.length, offsets[k]), ...entries));
  });
  const mfhd = fullBox('mfhd', 0, 0, u32(sequence));
  const moofSize = box('moof', mfhd, ...trafs(runs.map(() => 0))).length;
  const offsets: number[] = [];
  let at = moofSize + 8;
  for (const { run } of runs) {
    offsets.push(at);
    at += run.samples.reduce((n, s) => n + s.data.length, 0);
  }
  const moof = box('moof', mfhd, ...trafs(offsets));
  return Buffer.concat([moof, box('mdat', ...runs.flatMap(({ run }) => run.samples.map((s) => s.data)))]);
}

/** An Annex B access unit as MP4 stores it: each NAL unit behind its 4-byte length; access unit delimiters dropped. */
export function toLengthPrefixed(annexB: Buffer): Buffer {
  const nals = splitAnnexB(annexB).filter((n) => nalType(n) !== NAL.AUD);
  const out = Buffer.alloc(nals.reduce((n, nal) => n + 4 + nal.length, 0));
  let at = 0;
  for (const nal of nals) {
    out.writeUInt32BE(nal.length, at);
    nal.copy(out, at + 4);
    at += 4 + nal.length;
  }
  return out;
}

/** The SPS and PPS of a keyframe's access unit, if it carries them (cameras repeat them before every IDR). */
export function parameterSets(annexB: Buffer): VideoTrack | undefined {
  const nals = splitAnnexB(annexB);
  const sps = nals.find((n) => nalType(n) === NAL.SPS);
  const pps = nals.find((n) => nalType(n) === NAL.PPS);
  return sps && pps ? { sps: Buffer.from(sps), pps: Buffer.from(pps) } : undefined;
}
