// ffprobe/ffmpeg steps of the media tests: every run is an argument array, bounded in time, killed on timeout.
import { runProcess } from '../../../../tools/camera-sim/media/run-process';

export interface ProbedStream {
  index: number;
  codec_type: 'video' | 'audio' | string;
  codec_name: string;
  profile?: string;
  level?: number;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  time_base: string;
}

export interface ProbedPacket {
  stream_index: number;
  pts?: number;
  flags: string;
}

export interface Probe {
  streams: ProbedStream[];
  packets: ProbedPacket[];
}

const STREAM_ENTRIES = 'stream=index,codec_type,codec_name,profile,level,width,height,sample_rate,channels,time_base';

async function ffprobe(args: string[], timeoutMs: number): Promise<Probe> {
  const r = await runProcess('ffprobe', ['-v', 'error', ...args, '-of', 'json'], timeoutMs);
  if (r.code !== 0) {
    throw new Error(`ffprobe ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr}`);
  }
  const parsed = JSON.parse(r.stdout.toString('utf8')) as Partial<Probe>;
  return { streams: parsed.streams ?? [], packets: parsed.packets ?? [] };
}

/** Streams and the first `seconds` of packets of an RTSP URL, read over tcp or udp. */
export function probeRtsp(url: string, transport: 'tcp' | 'udp', seconds: number): Promise<Probe> {
  return ffprobe(['-rtsp_transport', transport, '-i', url, '-read_intervals', `%+${seconds}`,
    '-show_entries', `${STREAM_ENTRIES}:packet=stream_index,pts,flags`], (seconds + 20) * 1000);
}

/** Streams and every packet of a file. */
export function probeFile(file: string): Promise<Probe> {
  return ffprobe(['-i', file, '-show_entries', `${STREAM_ENTRIES}:packet=stream_index,pts,flags`], 30_000);
}

/** Stream-copies an RTSP URL to nothing for `seconds`, like a client that watches and leaves. */
export async function watchRtsp(url: string, transport: 'tcp' | 'udp', seconds: number): Promise<void> {
  const r = await runProcess('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-rtsp_transport', transport,
    '-i', url, '-t', String(seconds), '-c', 'copy', '-f', 'null', '-'], (seconds + 20) * 1000);
  if (r.code !== 0) {
    throw new Error(`ffmpeg reading ${url} failed (${r.code ?? r.signal}): ${r.stderr}`);
  }
}

/** Numbers of frames from each keyframe to the next, in one stream's packets. */
export function keyframeIntervals(packets: ProbedPacket[]): number[] {
  const keyAt = packets.map((p, i) => (p.flags.startsWith('K') ? i : -1)).filter((i) => i >= 0);
  return keyAt.slice(1).map((k, i) => k - keyAt[i]);
}

export function packetsOf(probe: Probe, type: 'video' | 'audio'): ProbedPacket[] {
  const stream = probe.streams.find((s) => s.codec_type === type);
  return stream ? probe.packets.filter((p) => p.stream_index === stream.index) : [];
}

/** Distinct pts steps between consecutive packets that carry a pts (RTSP may leave the very first without one). */
export function ptsSteps(packets: ProbedPacket[]): number[] {
  const pts = packets.map((p) => p.pts).filter((v): v is number => v !== undefined);
  return pts.slice(1).map((v, i) => v - pts[i]);
}
