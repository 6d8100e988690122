import { child, children, textAt, XmlElement } from './xml';

/** One media profile as the rest of the plugin needs it: what the stream is, so live view and HKSV can decide copy or transcode. */
export interface MediaProfile {
  token: string;
  name: string;
  /** As the camera names it: H264, H265 (Media2) or HEVC, JPEG, MPEG4. */
  encoding: string;
  width: number;
  height: number;
  fps?: number;
  bitrateKbps?: number;
  /** Keyframe interval in frames. */
  govLength?: number;
  /** Baseline / Main / High / Extended, when the camera says. */
  h264Profile?: string;
  audio?: { encoding: string; sampleRateHz?: number; bitrateKbps?: number };
  /** From Media2: the profile's codec is one HomeKit cannot show without transcoding (H.265). */
  isH265: boolean;
}

const num = (s: string | undefined): number | undefined => {
  const n = s === undefined ? NaN : Number(s);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

// ONVIF AudioEncoderConfiguration.SampleRate is in kHz (ver10 schema), Bitrate in kbps.
function audioOf(cfg: XmlElement | undefined): MediaProfile['audio'] {
  const encoding = textAt(cfg, 'Encoding');
  if (!encoding) {
    return undefined;
  }
  const khz = num(textAt(cfg, 'SampleRate'));
  return { encoding, sampleRateHz: khz && (khz < 1000 ? khz * 1000 : khz), bitrateKbps: num(textAt(cfg, 'Bitrate')) };
}

function isH265(encoding: string): boolean {
  return /^(H265|HEVC)$/i.test(encoding);
}

/**
 * One profile from its video encoder configuration `v` (Media or Media2: the same elements), or undefined when it
 * names no encoding or size. `codec` gives what the two versions keep in different places.
 */
function profileOf(p: XmlElement, v: XmlElement | undefined,
  codec: Pick<MediaProfile, 'govLength' | 'h264Profile' | 'audio'>): MediaProfile | undefined {
  const encoding = textAt(v, 'Encoding');
  const width = num(textAt(v, 'Resolution', 'Width'));
  const height = num(textAt(v, 'Resolution', 'Height'));
  if (!v || !encoding || !width || !height) {
    return undefined;
  }
  return {
    token: p.attrs.token ?? '',
    name: textAt(p, 'Name') ?? p.attrs.token ?? '',
    encoding,
    width,
    height,
    fps: num(textAt(v, 'RateControl', 'FrameRateLimit')),
    bitrateKbps: num(textAt(v, 'RateControl', 'BitrateLimit')),
    ...codec,
    isH265: isH265(encoding),
  };
}

/** Profiles from a Media (ver10) GetProfilesResponse; profiles without a video encoder are dropped. */
export function parseMedia1Profiles(reply: XmlElement): MediaProfile[] {
  return children(reply, 'Profiles').flatMap((p) => {
    const v = child(p, 'VideoEncoderConfiguration');
    const encoding = textAt(v, 'Encoding');
    const codec = child(v, encoding === 'H264' ? 'H264' : encoding === 'MPEG4' ? 'MPEG4' : '');
    return profileOf(p, v, {
      govLength: num(textAt(codec, 'GovLength')),
      h264Profile: textAt(codec, 'H264Profile') ?? textAt(codec, 'Mpeg4Profile'),
      audio: audioOf(child(p, 'AudioEncoderConfiguration')),
    }) ?? [];
  });
}

/**
 * Profiles from a Media2 (ver20) GetProfilesResponse. Media2 is where cameras show H.265 streams, which Media (ver10)
 * cannot describe; GovLength and Profile are attributes of the VideoEncoder there.
 */
export function parseMedia2Profiles(reply: XmlElement): MediaProfile[] {
  return children(reply, 'Profiles').flatMap((p) => {
    const configs = child(p, 'Configurations');
    const v = child(configs, 'VideoEncoder');
    return profileOf(p, v, {
      govLength: num(v?.attrs.GovLength),
      h264Profile: v?.attrs.Profile,
      audio: audioOf(child(configs, 'AudioEncoder')),
    }) ?? [];
  });
}
