// What paced reads (src/media/rtsp/client.ts paceReads, SOURCE_HOLD_READ_PACE_MS) do to the camera's side of the TCP
// connection: while the plugin does not read, what the camera sends waits in our receive window and in the camera's own
// send buffer; when both are full the camera's send() would block (live555-based servers then block their whole event
// loop up to 500 ms, RTPInterface::sendDataOverTCP, and drop the client if that times out). The loopback rig's
// GStreamer server has autotuned buffers and never shows it.
//
// Run (from the repo root; about 15 s per case, 2.5 minutes with the defaults):
//   npx tsc -p tsconfig.json && node .build/bench/pace-window.js [--paces 0,100,250,500] [--rates 2,8] [--seconds 15]
//     [--sndbuf 65536]   (the camera's SO_SNDBUF in bytes; 0 leaves Linux's autotuning on)
//
// The "camera" is a python3 process (Node cannot set SO_SNDBUF on a TCP socket) on 127.0.0.1 that sends `rate` Mb/s in
// 10 ms ticks with a non-blocking socket, plus a keyframe burst of a fifth of a 4 s GOP's bytes every 4 s, and counts the
// ticks in which it could not hand everything to its kernel (blocked) and the most bytes it held back. The reader is
// this process reading as RtspClient does: when paced, pausing `pace` ms after a read that did not fill its buffer (Node's
// 64 KiB socket reads here, RtspClient's slab space of at least 32 KiB). An emulation of both ends, not the plugin's
// code: it measures the kernel's behaviour.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { arg } from './cli-arg';

const READ_ROOM_BYTES = 64 * 1024;
const CASE_BOUND_MS = 60_000;

/** The camera: argv port, rate (b/s), seconds, sndbuf; prints one JSON line. */
const SENDER = `
import json, socket, sys, time
port, rate, secs, sndbuf = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
s = socket.socket()
if sndbuf > 0:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
s.connect(('127.0.0.1', port))
s.setblocking(False)
tick = rate // 8 // 100
backlog = held = blocked = n = 0
t0 = time.time()
while time.time() - t0 < secs:
    backlog += tick
    if n % 400 == 0:
        backlog += rate // 8 * 4 // 5
    while backlog > 0:
        try:
            backlog -= s.send(b'\\x01' * min(backlog, 65536))
        except BlockingIOError:
            break
    if backlog > 0:
        blocked += 1
    held = max(held, backlog)
    n += 1
    time.sleep(max(0.0, t0 + n * 0.01 - time.time()))
s.close()
print(json.dumps({'ticks': n, 'blocked': blocked, 'heldBytes': held}))
`;

interface Result {
  paceMs: number;
  rateMbps: number;
  ticks: number;
  blocked: number;
  heldBytes: number;
  receivedBytes: number;
}

function runCase(paceMs: number, rateMbps: number, seconds: number, sndbuf: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    let receivedBytes = 0;
    // The camera connects to us (the direction does not matter to TCP); each 'data' is one read of up to 64 KiB, and a
    // paced read pauses after a read that did not fill it, as RtspClient does.
    const listener = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        receivedBytes += chunk.length;
        if (paceMs > 0 && chunk.length < READ_ROOM_BYTES) {
          socket.pause();
          setTimeout(() => socket.resume(), paceMs);
        }
      });
    });
    const bound = setTimeout(() => {
      child.kill('SIGKILL');
      listener.close();
      reject(new Error(`pace ${paceMs} ms at ${rateMbps} Mb/s did not end within ${CASE_BOUND_MS / 1000} s`));
    }, CASE_BOUND_MS);
    let child: ReturnType<typeof spawn>;
    listener.listen(0, '127.0.0.1', () => {
      const port = (listener.address() as net.AddressInfo).port;
      child = spawn('python3', ['-c', SENDER, String(port), String(rateMbps * 1_000_000), String(seconds), String(sndbuf)],
        { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('error', (err) => {
        clearTimeout(bound);
        listener.close();
        reject(new Error(`python3 could not start (${err.message}): the camera side of this bench needs it`));
      });
      child.on('exit', () => {
        clearTimeout(bound);
        // Let the last bytes be read before closing.
        setTimeout(() => {
          listener.close();
          try {
            const r = JSON.parse(out) as { ticks: number; blocked: number; heldBytes: number };
            resolve({ paceMs, rateMbps, ...r, receivedBytes });
          } catch {
            reject(new Error(`the camera side printed no result: ${out.slice(0, 200)}`));
          }
        }, Math.max(600, paceMs * 2));
      });
    });
  });
}

async function main(): Promise<void> {
  const paces = arg('paces', '0,100,250,500').split(',').map(Number);
  const rates = arg('rates', '2,8').split(',').map(Number);
  const seconds = Number(arg('seconds', '15'));
  const sndbuf = Number(arg('sndbuf', '65536'));
  if (paces.some((p) => !(p >= 0 && p <= 2000)) || rates.some((r) => !(r > 0 && r <= 50)) || !(seconds >= 5 && seconds <= 60)
    || !(sndbuf >= 0)) {
    throw new Error('bench: want --paces 0-2000 ms, --rates 0-50 Mb/s, --seconds 5-60, --sndbuf bytes (0: autotuned)');
  }
  console.log(`Camera send buffer ${sndbuf ? `${sndbuf} B (SO_SNDBUF)` : 'autotuned'}, ${seconds} s per case, a keyframe burst every 4 s`);
  console.log('rate Mb/s | pace ms | camera blocked ms (per keyframe) | most held back KiB | received / sent');
  for (const rate of rates) {
    for (const pace of paces) {
      const r = await runCase(pace, rate, seconds, sndbuf);
      const keyframes = Math.ceil(r.ticks / 400);
      const sent = (rate * 1_000_000 / 8) * (r.ticks / 100) + keyframes * (rate * 1_000_000 / 8) * 4 / 5;
      console.log(`${String(rate).padStart(9)} | ${String(pace).padStart(7)} | ${String(r.blocked * 10).padStart(6)} (${String(Math.round(r.blocked * 10 / keyframes)).padStart(4)})`
        + `${' '.repeat(19)} | ${String(Math.round(r.heldBytes / 1024)).padStart(18)} | ${(r.receivedBytes / sent).toFixed(2)}`);
    }
  }
  console.log(`command: npx tsc -p tsconfig.json && node .build/bench/pace-window.js --paces ${paces.join(',')} --rates ${rates.join(',')} `
    + `--seconds ${seconds} --sndbuf ${sndbuf}`);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
