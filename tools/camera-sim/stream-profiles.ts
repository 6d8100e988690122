// The stream numbers the ONVIF side advertises, taken from the media side so both always agree.
import { AUDIO, GopOption, PROFILES, SimStreamProfile, withGop } from './media';

export { PROFILES };
export type { GopOption, SimStreamProfile };

/** A camera's profiles with its main stream's GOP (the sub-stream keeps 4 s): what ONVIF advertises as GovLength. */
export function profilesWithGop(gop: GopOption | undefined): Record<'main' | 'sub', SimStreamProfile> {
  return gop === undefined ? PROFILES : { main: withGop(PROFILES.main, gop), sub: PROFILES.sub };
}

// AudioEncoderConfiguration of the media side's AAC track (ONVIF ver10: Bitrate in kbps, SampleRate in kHz).
export const AUDIO_ENCODER = {
  encoding: 'AAC',
  bitrateKbps: AUDIO.bitrateKbps,
  sampleRateKHz: AUDIO.sampleRate / 1000,
} as const;
