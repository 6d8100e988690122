// A recorded HKSV clip measured by frame numbers: which captured frame it starts on relative to the motion, where its
// fragments cut, and how long each fragment took from the capture of its frames to its arrival at the hub. Exact from
// the numbers the simulator draws into every frame and its log of when it sent each one (capture time = send time).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordingPacket } from './hds-client';
import { mp4Fragment, mp4InitTracks } from './media-probe';
import { makeTempDir } from './paths';
import { FrameLog, readFrameNumbers, sendTimes } from './frame-numbers';

export interface ClipFragment {
  /** Frames in the fragment (video samples). */
  frames: number;
  /** Video duration from the fragment's decode times (ms). */
  videoMs: number;
  audioMs: number;
  /** The fragment's first sample is a sync sample (keyframe). */
  keyframeFirst: boolean;
  /** Drawn frame index of its first and last frame. */
  firstFrame: number | undefined;
  lastFrame: number | undefined;
  /** Wall clock the simulator sent its first and last frame (ms). */
  firstSentAt: number;
  lastSentAt: number;
  /** When the whole fragment had reached the hub (ms). */
  receivedAt: number;
  /** receivedAt minus its last frame's capture (ms). */
  delayAfterLastFrameMs: number;
  /** receivedAt minus the capture of the keyframe that closes it (the next fragment's first frame), when known (ms). */
  delayAfterClosingKeyframeMs?: number;
}

export interface ClipFrames {
  fragments: ClipFragment[];
  /** Drawn index of the clip's first frame and when it was captured. */
  firstFrame: number | undefined;
  firstSentAt: number;
  /** Motion instant minus the first frame's capture (ms): the prebuffer as recorded. */
  prebufferMs: number;
  /** The first fragment's arrival minus the hub's request (ms). */
  firstFragmentAfterRequestMs: number;
  /** Frames whose number did not read (should be 0). */
  unreadable: number;
}

/**
 * Measures a clip: `packets` as the hub received them (init first), `log` what the simulator sent on the camera's main
 * path, `motionAt` the motion instant and `requestedAt` when the hub opened the recording (wall clock ms).
 */
export async function clipFrames(packets: RecordingPacket[], log: FrameLog, motionAt: number, requestedAt: number, width: number): Promise<ClipFrames> {
  const [init, ...fragmentPackets] = packets;
  if (init?.kind !== 'init' || fragmentPackets.length === 0) {
    throw new Error(`a clip is an init segment then fragments (got ${packets.map((p) => p.kind).join(', ')})`);
  }
  const tracks = mp4InitTracks(init.data);
  const video = tracks.find((t) => t.handler === 'vide');
  const audio = tracks.find((t) => t.handler === 'soun');
  if (!video) {
    throw new Error('no video track in the init segment');
  }
  const dir = makeTempDir('clip-frames');
  let numbers: (number | undefined)[];
  try {
    const file = join(dir, 'clip.mp4');
    writeFileSync(file, Buffer.concat(packets.map((p) => p.data)));
    numbers = await readFrameNumbers(file, width);
    if (process.env.CLIP_FRAMES_KEEP) {
      writeFileSync(process.env.CLIP_FRAMES_KEEP, Buffer.concat(packets.map((p) => p.data)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const sent = sendTimes(numbers, log, fragmentPackets[fragmentPackets.length - 1].receivedAt);
  let at = 0;
  const fragments: ClipFragment[] = fragmentPackets.map((p) => {
    const f = mp4Fragment(p.data, tracks);
    const v = f.tracks.find((t) => t.trackId === video.id);
    const a = audio && f.tracks.find((t) => t.trackId === audio.id);
    const frames = v?.samples ?? 0;
    const first = at;
    const last = at + frames - 1;
    at += frames;
    if (last >= sent.length) {
      throw new Error(`the fragments hold ${at} video samples but ffmpeg decoded ${sent.length} frames`);
    }
    return {
      frames,
      videoMs: v ? v.duration / video.timescale * 1000 : 0,
      audioMs: a && audio ? a.duration / audio.timescale * 1000 : 0,
      keyframeFirst: Boolean(v && v.samples > 0 && v.firstSampleSync),
      firstFrame: numbers[first],
      lastFrame: numbers[last],
      firstSentAt: sent[first],
      lastSentAt: sent[last],
      receivedAt: p.receivedAt,
      delayAfterLastFrameMs: p.receivedAt - sent[last],
    };
  });
  fragments.forEach((f, i) => {
    const next = fragments[i + 1];
    if (next) {
      f.delayAfterClosingKeyframeMs = f.receivedAt - next.firstSentAt;
    }
  });
  return {
    fragments,
    firstFrame: numbers[0],
    firstSentAt: sent[0],
    prebufferMs: motionAt - sent[0],
    firstFragmentAfterRequestMs: fragmentPackets[0].receivedAt - requestedAt,
    unreadable: numbers.filter((n) => n === undefined).length,
  };
}
