// Reads back the frame numbers the simulator draws into every picture (tools/camera-sim/media/profiles.ts: a row of
// black/white blocks at the top left) and maps them to when the simulator sent each frame, so a test knows exactly
// which captured frame a clip starts on and how long each frame took to arrive.
import { spawn } from 'node:child_process';
import { FRAME_BITS, FRAME_BLOCK_OF_WIDTH, FRAME_BLOCKS } from '../../../tools/camera-sim/media/profiles';
import { track } from './cleanup';

/** Each block is sampled as a SUB x SUB grid; only the inner cells count, so blurred block edges do not. */
const SUB = 4;
const READ_TIMEOUT_MS = 60_000;

/** The frame index drawn into one picture, or undefined when the strip does not read (start block or parity wrong). */
export function decodeStrip(gray: Buffer, offset = 0): number | undefined {
  const width = FRAME_BLOCKS * SUB;
  const level = (block: number): number => {
    let sum = 0;
    for (let y = 1; y < SUB - 1; y++) {
      for (let x = 1; x < SUB - 1; x++) {
        sum += gray[offset + y * width + block * SUB + x];
      }
    }
    return sum / ((SUB - 2) * (SUB - 2));
  };
  const bits = Array.from({ length: FRAME_BLOCKS }, (_, i) => level(i) >= 128);
  if (!bits[0] || bits.slice(1).filter(Boolean).length % 2 !== 0) {
    return undefined;
  }
  let n = 0;
  for (let k = 0; k < FRAME_BITS; k++) {
    n += bits[k + 1] ? 2 ** k : 0;
  }
  return n;
}

/**
 * The frame numbers of every picture in `input` (a file, or bytes piped in), in decode order (the simulator sends no
 * B-frames, so also display order). `width`: the pictures' width, which sets the block size. One ffmpeg, bounded.
 */
export function readFrameNumbers(input: string | Buffer, width: number, options: { format?: string; ffmpeg?: string } = {}): Promise<(number | undefined)[]> {
  const block = Math.round(width * FRAME_BLOCK_OF_WIDTH);
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    ...(options.format ? ['-f', options.format] : []), '-i', typeof input === 'string' ? input : 'pipe:0',
    '-map', '0:v:0', '-fps_mode', 'passthrough',
    '-vf', `crop=${FRAME_BLOCKS * block}:${block}:0:0,scale=${FRAME_BLOCKS * SUB}:${SUB}:flags=area,format=gray`,
    '-f', 'rawvideo', 'pipe:1',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(options.ffmpeg ?? 'ffmpeg', args, { stdio: [typeof input === 'string' ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const untrack = track({ label: `ffmpeg frame-numbers pid ${child.pid}`, stop: async () => void child.kill('SIGKILL'), killNow: () => void child.kill('SIGKILL') });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), READ_TIMEOUT_MS);
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      untrack();
      if (code !== 0) {
        reject(new Error(`ffmpeg could not read frame numbers (exit ${code}): ${err.trim()}`));
        return;
      }
      const all = Buffer.concat(out);
      const frame = FRAME_BLOCKS * SUB * SUB;
      const numbers: (number | undefined)[] = [];
      for (let at = 0; at + frame <= all.length; at += frame) {
        numbers.push(decodeStrip(all, at));
      }
      resolve(numbers);
    });
    if (typeof input !== 'string' && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

/** What the simulator logged for one RTSP path: clip frame index and wall-clock send time (ms), in send order. */
export interface FrameLog {
  index: number[];
  sentAt: number[];
}

/**
 * Send times of a run of consecutive decoded frames. The last frame is looked up as the latest send of its index no
 * later than `lastSeenBy` (a wall-clock time it had certainly been sent by, e.g. when it arrived): a clip loops every
 * few seconds, and a frame that arrived was sent less than a loop before. The run is then walked back through the log,
 * which must show the same indexes in the same order (else a frame was lost or doubled, and this throws).
 */
export function sendTimes(numbers: (number | undefined)[], log: FrameLog, lastSeenBy: number): number[] {
  // A transcode to a higher frame rate repeats frames: one send time for each run of the same number.
  const runs: { n: number | undefined; count: number }[] = [];
  for (const n of numbers) {
    const last = runs[runs.length - 1];
    if (last && n !== undefined && last.n === n) {
      last.count++;
    } else {
      runs.push({ n, count: 1 });
    }
  }
  const lastRun = runs.length - 1;
  if (lastRun < 0 || runs[lastRun].n === undefined) {
    throw new Error('the last frame has no readable frame number');
  }
  let end = -1;
  for (let i = log.index.length - 1; i >= 0; i--) {
    if (log.index[i] === runs[lastRun].n && log.sentAt[i] <= lastSeenBy) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    throw new Error(`frame ${runs[lastRun].n} is not in the simulator's send log before ${lastSeenBy}`);
  }
  const start = end - lastRun;
  if (start < 0) {
    throw new Error(`the send log starts after the clip's first frame (${runs.length} frames, log ${log.index.length})`);
  }
  runs.forEach((r, i) => {
    if (r.n !== undefined && log.index[start + i] !== r.n) {
      throw new Error(`frame ${i} reads ${r.n} but the simulator sent ${log.index[start + i]} there: frames lost or repeated`);
    }
  });
  return runs.flatMap((r, i) => Array.from({ length: r.count }, () => log.sentAt[start + i]));
}

/**
 * Send time of each frame on its own: the latest send of its number no later than when it was seen (`seenBy[i]`).
 * For live view, where a lost UDP packet may cost a frame, so runs need not be whole; NaN for an unreadable frame.
 */
export function sendTimeEach(numbers: (number | undefined)[], log: FrameLog, seenBy: number[]): number[] {
  return numbers.map((n, i) => {
    for (let k = log.index.length - 1; k >= 0; k--) {
      if (log.index[k] === n && log.sentAt[k] <= seenBy[i]) {
        return log.sentAt[k];
      }
    }
    return NaN;
  });
}
