// HAP's camera streaming values (as HAP-NodeJS lib/camera/RTPStreamManagement defines them) and the decoding of what a
// CameraRTPStreamManagement service offers: video and audio codecs, SRTP suites, streaming status.
import { CharacteristicType } from './hap-model';
import { Tlv } from './tlv8';

/** Values of HAP's camera TLVs (as HAP-NodeJS lib/camera/RTPStreamManagement defines them). */
export const H264Profile = { Baseline: 0, Main: 1, High: 2 } as const;
export const H264Level = { Level3_1: 0, Level3_2: 1, Level4_0: 2 } as const;
export const AudioCodec = { PCMU: 0, PCMA: 1, AacEld: 2, Opus: 3, MSBC: 4, AMR: 5, AmrWb: 6 } as const;
export const AudioBitrateMode = { Variable: 0, Constant: 1 } as const;
export const SrtpSuite = { AesCm128HmacSha1_80: 0, AesCm256HmacSha1_80: 1, None: 2 } as const;
export const SessionCommand = { End: 0, Start: 1, Suspend: 2, Resume: 3, Reconfigure: 4 } as const;
export const StreamingStatus = { Available: 0, InUse: 1, Unavailable: 2 } as const;
export const SetupStatus = { Success: 0, Busy: 1, Error: 2 } as const;

/** HAP's sample-rate code (0, 1, 2) ↔ kHz. */
const SAMPLE_RATES_KHZ = [8, 16, 24];

export function sampleRateKhz(code: number): number {
  return SAMPLE_RATES_KHZ[code] ?? -1;
}

export function sampleRateCode(khz: number): number {
  const code = SAMPLE_RATES_KHZ.indexOf(khz);
  if (code < 0) {
    throw new Error(`HAP has no code for ${khz} kHz (known: ${SAMPLE_RATES_KHZ.join(', ')})`);
  }
  return code;
}

/** Short types of the stream-management characteristics (the rig's hap-model table lists only some). */
export const Chr = {
  SupportedVideo: CharacteristicType.SupportedVideoStreamConfiguration,
  SupportedAudio: '115',
  SupportedRtp: '116',
  Selected: CharacteristicType.SelectedRTPStreamConfiguration,
  SetupEndpoints: CharacteristicType.SetupEndpoints,
  StreamingStatus: CharacteristicType.StreamingStatus,
  Active: 'B0',
} as const;

export interface StreamResolution {
  width: number;
  height: number;
  fps: number;
}

export interface VideoCodecSupport {
  /** 0 = H.264. */
  codecType: number;
  profiles: number[];
  levels: number[];
  packetizationModes: number[];
  cvoSupported: boolean;
  resolutions: StreamResolution[];
}

export interface AudioCodecSupport {
  /** AudioCodec value: 3 Opus, 2 AAC-ELD, ... */
  codecType: number;
  channels: number;
  /** AudioBitrateMode. */
  bitrateMode: number;
  sampleRatesKhz: number[];
}

export interface StreamCapabilities {
  video: VideoCodecSupport[];
  audio: AudioCodecSupport[];
  comfortNoise: boolean;
  /** SrtpSuite values. */
  cryptoSuites: number[];
}

export function decodeSupportedVideo(value: unknown): VideoCodecSupport[] {
  const top = Tlv.fromBase64(value, 'SupportedVideoStreamConfiguration');
  return top.nestedAll(1, 'codec configuration').map((config) => {
    const params = config.nested(2, 'codec parameters');
    return {
      codecType: config.uint(1, 'codec type'),
      profiles: params.all(1).map((b) => b[0]),
      levels: params.all(2).map((b) => b[0]),
      packetizationModes: params.all(3).map((b) => b[0]),
      cvoSupported: params.optionalUint(4) === 1,
      resolutions: config.nestedAll(3, 'attributes').map((a) => ({
        width: a.uint(1, 'width'),
        height: a.uint(2, 'height'),
        fps: a.uint(3, 'frame rate'),
      })),
    };
  });
}

export function decodeSupportedAudio(value: unknown): { codecs: AudioCodecSupport[]; comfortNoise: boolean } {
  const top = Tlv.fromBase64(value, 'SupportedAudioStreamConfiguration');
  const codecs = top.nestedAll(1, 'codec configuration').map((config) => {
    const params = config.nested(2, 'codec parameters');
    return {
      codecType: config.uint(1, 'codec type'),
      channels: params.optionalUint(1) ?? 1,
      bitrateMode: params.optionalUint(2) ?? AudioBitrateMode.Variable,
      sampleRatesKhz: params.all(3).map((b) => sampleRateKhz(b[0])),
    };
  });
  return { codecs, comfortNoise: top.optionalUint(2) === 1 };
}

export function decodeSupportedRtp(value: unknown): number[] {
  // Each suite is its own entry; some encoders put several suite bytes in one entry.
  return Tlv.fromBase64(value, 'SupportedRTPConfiguration').all(2).flatMap((b) => [...b]);
}

export function decodeStreamingStatus(value: unknown): number {
  return Tlv.fromBase64(value, 'StreamingStatus').uint(1, 'status');
}
