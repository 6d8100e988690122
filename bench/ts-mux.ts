// TsMuxer cost: how much CPU the plugin's MPEG-TS muxer (src/media/ts-mux.ts) takes for a camera's stream, against the
// ffmpeg copy remux it is to replace.
//
// Run (from the repo root; about 30 s, most of it ffmpeg making the input):
//   npx tsc -p tsconfig.json && node .build/bench/ts-mux.js [--seconds 60] [--passes 5] [--kbps 2000] [--size 1920x1080]
//
// Input: ffmpeg encodes 10 s of testsrc2 at 15 fps with libx264 (no B-frames, a keyframe every 2 s, the given bitrate
// as a camera would send it) and 10 s of 16 kHz mono AAC; the H.264 is split into access units (h264.ts splitAnnexB) and
// the ADTS into raw frames (TsDemuxer.adtsFrames). Both are repeated with growing timestamps to `--seconds` of stream.
// Measured: `--passes` muxes of that whole stream by one TsMuxer each (after one uncounted warm-up pass), wall time and
// this process's CPU (process.cpuUsage); printed per video access unit, per audio frame, per second of stream (% of one
// core at real time) and as MB/s of output. Then ffmpeg does the same work today's source does after reading the camera
// (`-c copy -f mpegts` with the source's flags) on as much of the same stream from files, three times; its CPU is read from /proc
// (a shell's cutime+cstime once ffmpeg was reaped), less a run that stops after one frame (start-up and probing), and
// put next to ours as a ratio. ffmpeg also parses the raw H.264 there, roughly what its RTSP depacketizer does instead.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAL, nalType, splitAnnexB } from '../src/media/h264';
import { TsDemuxer } from '../src/media/ts-demux';
import { H264AccessUnit, TsMuxer } from '../src/media/ts-mux';
import { CLOCK_TICKS_PER_S } from '../test/e2e/rig/procfs';
import { arg } from './cli-arg';

const FPS = 15;
const FRAME_90K = 90000 / FPS;
const GOP_FRAMES = 30;
const SOURCE_SECONDS = 10;
const AUDIO_RATE = 16000;
const AAC_FRAME_90K = 1024 * 90000 / AUDIO_RATE;
const FFMPEG_RUNS = 3;
const FFMPEG_TIMEOUT_MS = 120_000;

/** Access units of an Annex B stream (ITU-T H.264 §7.4.1.2.3): a new one at an AUD/SEI/SPS/PPS after a slice, or at a
 *  slice with first_mb_in_slice 0 after a slice. */
function accessUnits(annexB: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  let current: Buffer[] = [];
  let hasSlice = false;
  for (const nal of splitAnnexB(annexB)) {
    const type = nalType(nal);
    const slice = type === 1 || type === NAL.IDR;
    if (hasSlice && ((type >= 6 && type <= 9) || (slice && (nal[1] & 0x80) !== 0))) {
      out.push(current);
      current = [];
      hasSlice = false;
    }
    current.push(nal);
    hasSlice ||= slice;
  }
  if (current.length) {
    out.push(current);
  }
  return out;
}

/** CPU seconds ffmpeg used for `args`: run by a shell that then prints its own /proc stat, whose cutime and cstime
 *  (fields 16 and 17, proc(5)) are the reaped ffmpeg's. Arguments go through "$@", never into the script text. */
function ffmpegCpuS(args: string[]): number {
  const stat = execFileSync('sh', ['-c', 'ffmpeg "$@" >/dev/null && cat /proc/$$/stat', 'sh', ...args], { encoding: 'utf8', timeout: FFMPEG_TIMEOUT_MS });
  const fields = stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_S;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function main(): void {
  const seconds = Number(arg('seconds', '60'));
  const passes = Number(arg('passes', '5'));
  const kbps = Number(arg('kbps', '2000'));
  const size = arg('size', '1920x1080');
  const dir = mkdtempSync(join(tmpdir(), 'courtyard-bench-tsmux-'));
  try {
    const h264 = join(dir, 'v.h264');
    const adts = join(dir, 'a.aac');
    execFileSync('nice', ['-n', '10', 'ffmpeg', '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-t', String(SOURCE_SECONDS), '-i', `testsrc2=size=${size}:rate=${FPS}`,
      '-f', 'lavfi', '-t', String(SOURCE_SECONDS), '-i', `sine=frequency=440:sample_rate=${AUDIO_RATE}`,
      '-map', '0:v', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', String(GOP_FRAMES), '-bf', '0',
      '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`, '-f', 'h264', h264,
      '-map', '1:a', '-c:a', 'aac', '-b:a', '32k', '-f', 'adts', adts,
    ], { timeout: FFMPEG_TIMEOUT_MS });
    const units = accessUnits(readFileSync(h264));
    const frames = TsDemuxer.adtsFrames(readFileSync(adts)).map((f) => f.data);
    const videoCount = seconds * FPS;
    const video: H264AccessUnit[] = Array.from({ length: videoCount }, (_, i) => ({
      nalus: units[i % units.length], pts: i * FRAME_90K, keyframe: units[i % units.length].some((n) => nalType(n) === NAL.IDR),
    }));
    const audioCount = Math.floor(seconds * 90000 / AAC_FRAME_90K);
    const audio = Array.from({ length: audioCount }, (_, i) => ({ data: frames[i % frames.length], pts: Math.round(i * AAC_FRAME_90K) }));
    const inBytes = video.reduce((n, u) => n + u.nalus.reduce((m, x) => m + x.length, 0), 0) + audio.reduce((n, f) => n + f.data.length, 0);

    let outBytes = 0;
    const pass = (): { videoNs: bigint; audioNs: bigint } => {
      const muxer = new TsMuxer({ audio: { sampleRate: AUDIO_RATE, channels: 1, objectType: 2 } });
      let videoNs = 0n;
      let audioNs = 0n;
      let a = 0;
      outBytes = 0;
      for (const au of video) {
        while (a < audio.length && audio[a].pts < au.pts) {
          const t = process.hrtime.bigint();
          outBytes += muxer.audio(audio[a++]).length;
          audioNs += process.hrtime.bigint() - t;
        }
        const t = process.hrtime.bigint();
        outBytes += muxer.video(au).length;
        videoNs += process.hrtime.bigint() - t;
      }
      return { videoNs, audioNs };
    };
    pass(); // warm-up: JIT
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    let videoNs = 0n;
    let audioNs = 0n;
    for (let p = 0; p < passes; p++) {
      const r = pass();
      videoNs += r.videoNs;
      audioNs += r.audioNs;
    }
    const wallS = Number(process.hrtime.bigint() - wall0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const muxS = Number(videoNs + audioNs) / 1e9;
    const streamS = seconds * passes;
    const packetsPerS = outBytes / 188 / seconds;

    // ffmpeg muxes as much stream as all our passes did: its CPU is read in 10 ms ticks, so it needs the length.
    const copies = Math.ceil(streamS / SOURCE_SECONDS);
    writeFileSync(join(dir, 'long.h264'), Buffer.concat(Array.from({ length: copies }, () => readFileSync(h264))));
    writeFileSync(join(dir, 'long.aac'), Buffer.concat(Array.from({ length: copies }, () => readFileSync(adts))));
    const ffArgs = (limit: string[]): string[] => ['-hide_banner', '-loglevel', 'error', '-f', 'h264', '-framerate', String(FPS),
      '-i', join(dir, 'long.h264'), '-i', join(dir, 'long.aac'), ...limit, '-t', String(streamS), '-c', 'copy',
      '-f', 'mpegts', '-muxdelay', '0', '-muxpreload', '0', '-omit_video_pes_length', '0', '-flush_packets', '1', 'pipe:1'];
    const ffFull = median(Array.from({ length: FFMPEG_RUNS }, () => ffmpegCpuS(ffArgs([]))));
    const ffStart = median(Array.from({ length: FFMPEG_RUNS }, () => ffmpegCpuS(ffArgs(['-frames:v', '1']))));
    const ffWork = Math.max(ffFull - ffStart, 1 / CLOCK_TICKS_PER_S);
    const oursPerStreamS = cpuS / streamS;

    const f = (n: number, digits = 2): string => n.toFixed(digits);
    console.log(`TsMuxer, ${size} ${FPS} fps H.264 at ${kbps} kb/s (${f(inBytes * 8 / seconds / 1e6)} Mb/s with ${AUDIO_RATE / 1000} kHz AAC), ` +
      `${seconds} s x ${passes} passes, ${videoCount} AUs + ${audioCount} AAC frames a pass, ${Math.round(packetsPerS)} TS packets/s of stream`);
    console.log(`  video:  ${f(Number(videoNs) / 1e3 / (videoCount * passes))} µs per access unit`);
    console.log(`  audio:  ${f(Number(audioNs) / 1e3 / (audioCount * passes))} µs per AAC frame`);
    console.log(`  output: ${f(outBytes * passes / 1e6 / muxS, 0)} MB/s of TS while muxing (${f(outBytes * passes / 1e6 / wallS, 0)} MB/s wall, loop included)`);
    console.log(`  CPU:    ${f(cpuS * 1e3 / streamS)} ms per second of stream = ${f(oursPerStreamS * 100, 3)} % of one core at real time ` +
      `(process CPU ${f(cpuS)} s over ${f(wallS)} s wall)`);
    console.log(`  ffmpeg -c copy -f mpegts on the same stream, ${streamS} s of it: ${f(ffFull)} s CPU, ${f(ffStart)} s of it start-up ` +
      `(1-frame run), ${f(ffWork * 1e3 / streamS)} ms per second of stream (median of ${FFMPEG_RUNS}; /proc ticks of ${f(1e3 / CLOCK_TICKS_PER_S, 0)} ms)`);
    console.log(`  ratio:  ffmpeg / TsMuxer CPU per second of stream = ${f(ffWork / streamS / oursPerStreamS, 1)}x (ffmpeg's start-up left out; ` +
      `${f(ffFull / streamS / oursPerStreamS, 1)}x with it)`);
    console.log(`  node ${process.version}; command: node .build/bench/ts-mux.js --seconds ${seconds} --passes ${passes} --kbps ${kbps} --size ${size}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
