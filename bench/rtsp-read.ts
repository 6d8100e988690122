// What reading a camera's stream costs: the plugin's RTSP reader (src/media/rtsp/reader.ts: RTSP client, RTP, H.264 and
// AAC depacketizers, in this Node process) against the ffmpeg copy read it is to replace (`ffmpeg -rtsp_transport tcp
// -i URL -c copy -f mpegts pipe:1`, today's source.ts minus its flags), on the same stream (issue 14).
//
// Run (from the repo root; about 45 s at the default 20 s per read):
//   npx tsc -p tsconfig.json && node .build/bench/rtsp-read.js [--seconds 20] [--profile main|sub] [--rounds 1]
//     [--transport tcp|udp]   (how both read the RTP: interleaved on the RTSP connection, the default, or over UDP)
//     [--pace ms]   (the plugin reads its connection at most every `ms`, as the source does while only the HKSV prebuffer
//                    holds it; 0, the default, as a viewer's read does)
//
// The simulator's GStreamer RTSP server serves the profile (main: 1080p15 H.264 Main at 2 Mb/s with 16 kHz AAC) on
// 127.0.0.1. Each round reads it `--seconds` with the reader (video+audio; this process's CPU from process.cpuUsage),
// then as long with ffmpeg (its CPU from /proc/<pid>/stat utime+stime, read just before it is stopped). Both are also
// given as the steady rate from the 5th second on, leaving out connecting and ffmpeg's probing; for ffmpeg, this process's
// CPU reading its pipe (bytes counted, nothing parsed) is given too, since the plugin reads that pipe today. The server's
// own CPU is in its own process and counted for neither. Printed, not asserted: a shared 2-core VM moves these by 10-20 %.
import { ChildProcess, spawn } from 'node:child_process';
import { RtspReader } from '../src/media/rtsp/reader';
import { MediaServer } from '../tools/camera-sim/media/server';
import { PROFILES } from '../tools/camera-sim/media/profiles';
import { CLOCK_TICKS_PER_S, readStat } from '../test/e2e/rig/procfs';
import { arg } from './cli-arg';

const STEADY_FROM_MS = 5_000;
const STOP_GRACE_MS = 2_000;

interface Measure {
  /** CPU over the whole read (ms). */
  totalCpuMs: number;
  /** CPU from STEADY_FROM_MS to the end (ms), and that as % of one core. */
  steadyCpuMs: number;
  steadyPercent: number;
  /** ffmpeg only: this process's CPU reading ffmpeg's pipe over the steady span (ms). */
  pipeSteadyCpuMs?: number;
  detail: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function readWithPlugin(url: string, ms: number, transport: 'tcp' | 'udp', paceMs: number): Promise<Measure> {
  let units = 0;
  let keyframes = 0;
  let audio = 0;
  let drops = 0;
  const start = cpuMs();
  const started = Date.now();
  const reader = new RtspReader({ url, label: 'bench', tracks: 'video+audio', transport });
  reader.on('video', (au) => {
    units++;
    keyframes += au.keyframe ? 1 : 0;
  });
  reader.on('audio', () => audio++);
  reader.on('drop', () => drops++);
  const info = await reader.open();
  if (!info.readable) {
    throw new Error(`bench: the stream is not readable in the plugin: ${info.unreadable}`);
  }
  await reader.play();
  reader.paceReads(paceMs);
  await sleep(started + STEADY_FROM_MS - Date.now());
  const steadyStart = cpuMs();
  await sleep(started + ms - Date.now());
  const end = cpuMs();
  const { bytes, transport: used, reordered, late } = reader.stats();
  await reader.close();
  const steadyCpuMs = end - steadyStart;
  return {
    totalCpuMs: end - start, steadyCpuMs, steadyPercent: (100 * steadyCpuMs) / (ms - STEADY_FROM_MS),
    detail: `${units} access units (${keyframes} keyframes), ${audio} AAC frames, ${drops} drops, ${(bytes / 2 ** 20).toFixed(1)} MiB ` +
      `over ${used}, ${reordered} reordered, ${late} late`,
  };
}

async function readWithFfmpeg(url: string, ms: number, transport: 'tcp' | 'udp'): Promise<Measure> {
  const child: ChildProcess = spawn('ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'error', '-rtsp_transport', transport, '-i', url,
    '-c', 'copy', '-f', 'mpegts', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error('bench: ffmpeg did not start');
  }
  let bytes = 0;
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = Date.now();
  const ticks = (): number => readStat(pid)?.ticks ?? NaN;
  try {
    await sleep(started + STEADY_FROM_MS - Date.now());
    const steadyStart = ticks();
    const pipeStart = cpuMs();
    await sleep(started + ms - Date.now());
    const end = ticks();
    const pipeCpuMs = cpuMs() - pipeStart;
    const toMs = (t: number): number => (t * 1000) / CLOCK_TICKS_PER_S;
    if (Number.isNaN(end)) {
      throw new Error(`bench: ffmpeg ended early: ${stderr.trim()}`);
    }
    return {
      totalCpuMs: toMs(end), steadyCpuMs: toMs(end - steadyStart), steadyPercent: (100 * toMs(end - steadyStart)) / (ms - STEADY_FROM_MS),
      pipeSteadyCpuMs: pipeCpuMs,
      detail: `${(bytes / 2 ** 20).toFixed(1)} MiB of MPEG-TS out; reading its pipe here took ${pipeCpuMs.toFixed(0)} ms steady ` +
        `(${((100 * pipeCpuMs) / (ms - STEADY_FROM_MS)).toFixed(2)} %)`,
    };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '20'));
  const profile = arg('profile', 'main') as 'main' | 'sub';
  const rounds = Number(arg('rounds', '1'));
  const transport = arg('transport', 'tcp') as 'tcp' | 'udp';
  const paceMs = Number(arg('pace', '0'));
  if (!(seconds * 1000 > STEADY_FROM_MS) || !(profile in PROFILES) || !(rounds >= 1 && rounds <= 10) || !['tcp', 'udp'].includes(transport)) {
    throw new Error(`bench: want --seconds over ${STEADY_FROM_MS / 1000}, --profile main|sub, --rounds 1-10, --transport tcp|udp`);
  }
  const p = PROFILES[profile];
  const server = await MediaServer.start({ paths: [{ path: '/bench', profile, audio: true }] });
  try {
    const url = server.url('/bench');
    console.log(`Reading ${profile} (${p.width}x${p.height} ${p.fps} fps, ${p.bitrateKbps} kb/s H.264 + AAC) for ${seconds} s each over ${transport}; ` +
      `CPU ms total / steady from ${STEADY_FROM_MS / 1000} s (% of one core)`);
    for (let round = 1; round <= rounds; round++) {
      const ours = await readWithPlugin(url, seconds * 1000, transport, paceMs);
      const theirs = await readWithFfmpeg(url, seconds * 1000, transport);
      const line = (name: string, m: Measure): string =>
        `  ${name.padEnd(14)} ${m.totalCpuMs.toFixed(0).padStart(6)} ms  steady ${m.steadyCpuMs.toFixed(0).padStart(5)} ms ` +
        `(${m.steadyPercent.toFixed(2)} %)  ${m.detail}`;
      console.log(`round ${round}`);
      console.log(line('plugin reader', ours));
      console.log(line('ffmpeg copy', theirs));
      console.log(`  ffmpeg / plugin: ${(theirs.totalCpuMs / ours.totalCpuMs).toFixed(1)}x total, ` +
        `${(theirs.steadyCpuMs / ours.steadyCpuMs).toFixed(1)}x steady, ` +
        `${((theirs.steadyCpuMs + (theirs.pipeSteadyCpuMs ?? 0)) / ours.steadyCpuMs).toFixed(1)}x steady with its pipe read`);
      console.log(JSON.stringify({ round, profile, seconds, transport, node: process.version, ours, ffmpeg: theirs }));
    }
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
