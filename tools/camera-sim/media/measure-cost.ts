/**
 * Measures what the simulated cameras' media costs: CPU and RSS of the RTSP server child with N cameras
 * x 2 paths registered, first idle, then with some ffmpeg clients stream-copying to null over TCP.
 * Usage: node .build/tools/camera-sim/media/measure-cost.js [cameras=32] [clients=4] [seconds=20]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { MediaPath, MediaServer } from './server';
import { sleep } from '../../../src/util/abort';

const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ
const PAGE_BYTES = 4096;
const CONNECT_POLLS = 60;
const CONNECT_POLL_MS = 500;

interface Sample {
  cpuSeconds: number;
  rssBytes: number;
}

/** utime+stime and RSS of one pid, from /proc (Linux only: a measurement tool, not product code). */
function sample(pid: number): Sample {
  // The command name (field 2) may hold spaces; the fields we want come after its closing ")".
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuSeconds: cpuTicks / CLOCK_TICKS_PER_S, rssBytes: rssPages * PAGE_BYTES };
}

async function window(pid: number, seconds: number): Promise<{ cpuPercent: number; rssMiB: number }> {
  const before = sample(pid);
  await sleep(seconds * 1000);
  const after = sample(pid);
  return {
    cpuPercent: Math.round(((after.cpuSeconds - before.cpuSeconds) / seconds) * 1000) / 10,
    rssMiB: Math.round((after.rssBytes / 1024 / 1024) * 10) / 10,
  };
}

async function main(): Promise<void> {
  const [cameras = 32, clients = 4, seconds = 20] = process.argv.slice(2).map(Number);
  const paths: MediaPath[] = [];
  for (let i = 1; i <= cameras; i++) {
    paths.push({ path: `/cam${i}/main`, profile: 'main', audio: true }, { path: `/cam${i}/sub`, profile: 'sub', audio: false });
  }
  const server = await MediaServer.start({ paths });
  const readers: ChildProcess[] = [];
  try {
    const pid = server.pid;
    if (pid === undefined) {
      throw new Error('no server pid');
    }
    const idle = await window(pid, Math.min(seconds, 10));
    console.log(`idle: ${cameras} cameras x 2 paths: cpu ${idle.cpuPercent}% of one core, rss ${idle.rssMiB} MiB`);
    for (let i = 0; i < clients; i++) {
      // Alternate main and sub of different cameras, so each client has its own pipeline.
      const path = paths[i * 2 + (i % 2)].path;
      const reader = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', server.url(path),
        '-c', 'copy', '-f', 'null', '-'], { stdio: 'ignore' });
      reader.on('error', (err) => console.error(`reader ${path}: ${err.message}`));
      readers.push(reader);
    }
    // Measure only once every client plays (ffmpeg start-up on a busy machine takes a few seconds).
    let active = 0;
    for (let i = 0; i < CONNECT_POLLS && active < clients; i++) {
      await sleep(CONNECT_POLL_MS);
      active = Object.values((await server.stats()).sessions).reduce((a, b) => a + b, 0);
    }
    await sleep(CONNECT_POLL_MS);
    const busy = await window(pid, seconds);
    console.log(`${clients} tcp clients (${active} sessions): cpu ${busy.cpuPercent}% of one core, rss ${busy.rssMiB} MiB`);
  } finally {
    for (const reader of readers) {
      reader.kill('SIGKILL');
    }
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
