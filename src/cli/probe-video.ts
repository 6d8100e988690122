// The video part of `probe`: reads the streams the plugin would read (as it would, through a MediaSource) and says
// whether live view and HomeKit Secure Video copy the camera's video or transcode it, and which camera setting decides.
import type { CameraRecordingConfiguration } from 'homebridge';
import { liveCopyBlocker, recordingCopyBlocker } from '../media/copy-decision';
import { findFfmpeg } from '../media/ffmpeg-path';
import { MediaSource, StreamFacts } from '../media/source';
import { pickProfiles, withCredentials } from '../media/camera-media';
import type { ProfileReport } from './probe';
import { PROBE_MEASURE_BOUND_MS } from '../settings';

export interface VideoReport {
  stream: string;
  facts?: StreamFacts;
  live?: { copy: boolean; reason?: string };
  recording?: { copy: boolean; reason?: string };
  error?: string;
}

/** What hubs select for a 1080p camera (HAP-NodeJS #976): Main 4.0, 2 Mbps, keyframes every 4 s, AAC-LC 32 kHz. */
function typicalHubChoice(width: number, height: number, fps: number): CameraRecordingConfiguration {
  return {
    prebufferLength: 4000, eventTriggerTypes: [1], mediaContainerConfiguration: { type: 0, fragmentLength: 4000 },
    videoCodec: { type: 0, parameters: { profile: 1, level: 2, bitRate: 2000, iFrameInterval: 4000 }, resolution: [width, height, fps] },
    audioCodec: { type: 0, audioChannels: 1, samplerate: 3, bitrate: 64 },
  } as CameraRecordingConfiguration;
}

export async function probeVideo(profiles: ProfileReport[], username: string, password: string, print: ((t: string) => void) | null,
  signal?: AbortSignal): Promise<VideoReport[]> {
  const ffmpeg = findFfmpeg(undefined);
  if (!ffmpeg.path) {
    print?.('Video       not checked: no ffmpeg found');
    return [];
  }
  // The streams are measured side by side (a keyframe interval takes up to two of the camera's GOPs each), and said in
  // order once all are in: the probe waits for the slowest stream, not for their sum.
  const picked = pickProfiles(profiles).filter(({ profile }) => profiles.some((p) => p.token === profile.token && p.streamUri));
  const done = await Promise.all(picked.map(async ({ name, profile }) => {
    const lines: string[] = [];
    const say = (t: string): void => void lines.push(t);
    const uri = profiles.find((p) => p.token === profile.token)?.streamUri as string;
    const report: VideoReport = { stream: name };
    const log = { debug: () => undefined, info: () => undefined, warn: (m: string) => { report.error ??= m; }, error: () => undefined };
    const source = new MediaSource({ label: name, url: withCredentials(uri, username, password), ffmpegPath: ffmpeg.path as string, log, audio: 'copy' });
    const release = source.hold(PROBE_MEASURE_BOUND_MS * 2);
    try {
      const facts = await measured(source, signal);
      report.facts = facts;
      const live = liveCopyBlocker(facts);
      report.live = { copy: !live, reason: live };
      const recording = recordingCopyBlocker(typicalHubChoice(facts.width ?? profile.width, facts.height ?? profile.height, facts.fps ?? 15),
        profile, facts);
      report.recording = { copy: !recording, reason: recording };
      say(`Video       ${name}: ${facts.codec ?? '?'} ${facts.width}x${facts.height} ${facts.fps ?? '?'} fps, keyframe every ` +
        `${facts.keyframeIntervalMs === undefined ? '?' : `${(facts.keyframeIntervalMs / 1000).toFixed(1)} s`}, ${facts.bitrateKbps ?? '?'} kbps` +
        `${facts.audio ? `, audio ${facts.audio} ${facts.audioSampleRateHz ?? '?'} Hz` : ', no audio'}`);
      say(`            live view: ${live ? `transcoded: ${live}` : 'copied as the camera sends it'}`);
      say(`            recording: ${recording ? `transcoded: ${recording}` : 'copied as the camera sends it (no transcoding)'}`);
    } catch (err) {
      report.error = report.error ?? (err as Error).message;
      say(`Video       ${name}: could not read the stream: ${report.error}`);
    } finally {
      release();
      await source.stop();
    }
    return { report, lines };
  }));
  done.forEach(({ lines }) => lines.forEach((l) => print?.(l)));
  const reports = done.map(({ report }) => report);
  return reports;
}

async function measured(source: MediaSource, signal?: AbortSignal): Promise<StreamFacts> {
  const end = Date.now() + PROBE_MEASURE_BOUND_MS;
  let facts = await source.facts(signal);
  while (facts.keyframeIntervalMs === undefined && Date.now() < end && !signal?.aborted) {
    await new Promise((r) => setTimeout(r, 200));
    facts = await source.facts(signal);
  }
  return facts;
}
