// What HomeKit is told the camera can stream: sizes from the camera's own profiles (never upscaled), H.264 profiles and
// levels, and the live audio codec this ffmpeg can make.
import type { CameraRecordingOptions, CameraStreamingOptions, HAP } from 'homebridge';
import { HKSV_FRAGMENT_MS } from '../settings';

// Sizes the Home app asks for (iPhone, iPad, Mac, Apple TV, Apple Watch at 320x240), largest first, at 30 fps; iOS
// picks one and may ask for a lower frame rate.
const HOMEKIT_SIZES: [number, number][] = [
  [1920, 1080], [1600, 1200], [1280, 960], [1280, 720], [1024, 768], [640, 480], [640, 360], [480, 360], [480, 270], [320, 240], [320, 180],
];

/** Every HomeKit size that fits within the camera's largest stream; the smallest two always (the Watch asks for them). */
export function resolutionsFor(maxWidth: number, maxHeight: number): [number, number, number][] {
  const fits = HOMEKIT_SIZES.filter(([w, h]) => w <= maxWidth && h <= maxHeight);
  const sizes = fits.length >= 2 ? fits : HOMEKIT_SIZES.slice(-2);
  return sizes.map(([w, h]) => [w, h, 30]);
}

export function cameraStreamingOptions(hap: HAP, maxWidth: number, maxHeight: number, audio: 'opus' | 'aac-eld' | undefined): CameraStreamingOptions {
  return {
    supportedCryptoSuites: [hap.SRTPCryptoSuites.AES_CM_128_HMAC_SHA1_80],
    video: {
      codec: {
        profiles: [hap.H264Profile.BASELINE, hap.H264Profile.MAIN, hap.H264Profile.HIGH],
        levels: [hap.H264Level.LEVEL3_1, hap.H264Level.LEVEL3_2, hap.H264Level.LEVEL4_0],
      },
      resolutions: resolutionsFor(maxWidth, maxHeight),
    },
    audio: audio && {
      codecs: [audio === 'opus'
        ? { type: hap.AudioStreamingCodecType.OPUS, samplerate: [hap.AudioStreamingSamplerate.KHZ_16, hap.AudioStreamingSamplerate.KHZ_24] }
        : { type: hap.AudioStreamingCodecType.AAC_ELD, samplerate: hap.AudioStreamingSamplerate.KHZ_16 }],
    },
  };
}

/** What the hub may select for HKSV: fMP4 of 4 s fragments, the camera's sizes (never upscaled), AAC-LC 32 kHz mono (what hubs
 *  accept from the other HomeKit Secure Video plugins too), the prebuffer the user chose. */
export function cameraRecordingOptions(hap: HAP, maxWidth: number, maxHeight: number, prebufferSeconds: number): CameraRecordingOptions {
  const sizes = resolutionsFor(maxWidth, maxHeight).filter(([w]) => w >= 640);
  return {
    prebufferLength: prebufferSeconds * 1000,
    mediaContainerConfiguration: { type: hap.MediaContainerType.FRAGMENTED_MP4, fragmentLength: HKSV_FRAGMENT_MS },
    video: {
      type: hap.VideoCodecType.H264,
      parameters: {
        profiles: [hap.H264Profile.BASELINE, hap.H264Profile.MAIN, hap.H264Profile.HIGH],
        levels: [hap.H264Level.LEVEL3_1, hap.H264Level.LEVEL3_2, hap.H264Level.LEVEL4_0],
      },
      // Hubs record at 1080p or 720p at 15, 24 or 30 fps; the camera's own rate is copied.
      resolutions: (sizes.length ? sizes : resolutionsFor(maxWidth, maxHeight)).flatMap(([w, h]) => [[w, h, 15], [w, h, 24], [w, h, 30]]),
    },
    audio: {
      codecs: [{ type: hap.AudioRecordingCodecType.AAC_LC, samplerate: hap.AudioRecordingSamplerate.KHZ_32, audioChannels: 1,
        bitrateMode: hap.AudioBitrate.VARIABLE }],
    },
  };
}
