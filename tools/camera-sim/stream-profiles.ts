// The stream numbers the ONVIF side advertises, taken from the media side so both always agree.
import { AUDIO, PROFILES, SimStreamProfile } from './media';

export { PROFILES };
export type { SimStreamProfile };

// AudioEncoderConfiguration of the media side's AAC track (ONVIF ver10: Bitrate in kbps, SampleRate in kHz).
export const AUDIO_ENCODER = {
  encoding: 'AAC',
  bitrateKbps: AUDIO.bitrateKbps,
  sampleRateKHz: AUDIO.sampleRate / 1000,
} as const;
