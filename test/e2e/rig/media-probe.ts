// Media checks for tests with the system ffmpeg/ffprobe, every run bounded in time and output:
// - probe(): ffprobe -show_streams [-show_frames] of a file or a buffer, as typed JSON, plus video/audio summaries;
// - decodeSrtp(): an independent proof that captured SRTP decodes — ffmpeg's own SRTP code, not the rig's, decrypts it.
//   The stream client owns its UDP ports (it must: it times arrivals and sends RTCP from them, rtcp-mux like iOS), so
//   the datagrams it captured are replayed, in order and lightly paced, to a second local port that ffmpeg reads through
//   an SDP file with `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<key+salt>`; the stream is copied to a file and probed.
import { spawn } from 'node:child_process';
import { createSocket, Socket } from 'node:dgram';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FfmpegProcess } from '../../../src/media/ffmpeg';
import { track } from './cleanup';
import { makeTempDir } from './paths';
import type { CapturedDatagram, SrtpKeys } from './stream-client';
import { sleep, withTimeout } from './wait';

export interface ProbeStream {
  index: number;
  codec_type: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  level?: number;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  /** With frames (ffprobe -count_frames), the number of frames decoded. */
  nb_read_frames?: string;
}

export interface ProbeFrame {
  media_type: string;
  stream_index: number;
  key_frame: number;
  pict_type?: string;
  width?: number;
  height?: number;
  pts_time?: string;
  best_effort_timestamp_time?: string;
  pkt_size?: string;
  nb_samples?: number;
}

export interface ProbeResult {
  streams: ProbeStream[];
  frames: ProbeFrame[];
}

export interface ProbeOptions {
  /** Decode and list every frame (-show_frames -count_frames). Default true. */
  frames?: boolean;
  /** Input format, e.g. 'h264' for a raw Annex-B buffer. Default: ffprobe guesses. */
  format?: string;
  /** Default 30 s. */
  timeoutMs?: number;
  ffprobe?: string;
}

export interface VideoSummary {
  codec: string;
  profile: string;
  width: number;
  height: number;
  /** Frames ffprobe decoded. */
  frames: number;
  keyframes: number;
  firstFrameIsKey: boolean;
}

export interface AudioSummary {
  codec: string;
  sampleRate: number;
  channels: number;
  frames: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TOOL_OUTPUT_BYTES = 128 * 1024 * 1024;
const MAX_STDERR_CHARS = 8_000;

interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a tool from an argument array with optional stdin; SIGKILL after timeoutMs or once stdout exceeds its bound. */
function runTool(binary: string, args: string[], options: { input?: Buffer; timeoutMs: number }): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const untrack = track({ label: `${binary} pid ${child.pid}`, stop: async () => void child.kill('SIGKILL'), killNow: () => void child.kill('SIGKILL') });
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let failure: string | undefined;
    const timer = setTimeout(() => {
      failure = `${binary} did not finish within ${options.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > MAX_TOOL_OUTPUT_BYTES) {
        failure = `${binary} wrote more than ${MAX_TOOL_OUTPUT_BYTES} bytes`;
        child.kill('SIGKILL');
        return;
      }
      out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-MAX_STDERR_CHARS);
    });
    child.stdin?.on('error', () => undefined); // the tool may stop reading early: not our failure
    child.stdin?.end(options.input);
    child.once('error', (err) => {
      clearTimeout(timer);
      untrack();
      reject(new Error(`cannot run ${binary}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      if (failure) {
        reject(new Error(`${failure}; stderr: ${stderr.trim().slice(-500)}`));
      } else {
        resolve({ code, signal, stdout: Buffer.concat(out), stderr });
      }
    });
  });
}

/** ffprobe a file (path) or a buffer (piped to stdin): streams, and with frames every decoded frame. */
export async function probe(input: string | Buffer, options: ProbeOptions = {}): Promise<ProbeResult> {
  const frames = options.frames ?? true;
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams'];
  if (frames) {
    args.push('-show_frames', '-count_frames');
  }
  if (options.format) {
    args.push('-f', options.format);
  }
  args.push('-i', typeof input === 'string' ? input : 'pipe:0');
  const result = await runTool(options.ffprobe ?? 'ffprobe', args, {
    input: typeof input === 'string' ? undefined : input,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  if (result.code !== 0) {
    throw new Error(`ffprobe exited ${result.code ?? result.signal}: ${result.stderr.trim().slice(-500)}`);
  }
  const parsed = JSON.parse(result.stdout.toString('utf8') || '{}') as { streams?: ProbeStream[]; frames?: ProbeFrame[] };
  return { streams: parsed.streams ?? [], frames: parsed.frames ?? [] };
}

export function summarizeVideo(result: ProbeResult): VideoSummary {
  const stream = result.streams.find((s) => s.codec_type === 'video');
  if (!stream) {
    throw new Error(`no video stream; streams: ${JSON.stringify(result.streams)}`);
  }
  const frames = result.frames.filter((f) => f.media_type === 'video' && f.stream_index === stream.index);
  return {
    codec: stream.codec_name ?? '',
    profile: stream.profile ?? '',
    width: stream.width ?? 0,
    height: stream.height ?? 0,
    frames: frames.length,
    keyframes: frames.filter((f) => f.key_frame === 1).length,
    firstFrameIsKey: frames[0]?.key_frame === 1,
  };
}

export function summarizeAudio(result: ProbeResult): AudioSummary {
  const stream = result.streams.find((s) => s.codec_type === 'audio');
  if (!stream) {
    throw new Error(`no audio stream; streams: ${JSON.stringify(result.streams)}`);
  }
  return {
    codec: stream.codec_name ?? '',
    sampleRate: Number(stream.sample_rate ?? 0),
    channels: stream.channels ?? 0,
    frames: result.frames.filter((f) => f.media_type === 'audio' && f.stream_index === stream.index).length,
  };
}

/** ffmpeg's H.264 decoder on a damaged stream: a slice cut short ("error while decoding MB", "concealing ... errors"), a
 *  frame whose reference was never sent ("Frame num gap", said only at the debug level), a broken slice header. */
const DECODE_PROBLEM = /error while decoding|concealing|corrupt|frame num gap|reference picture missing|missing reference|non-existing|decode_slice_header error|no frame!|[1-9]\d* decoding errors/i;
const DECODE_PROBLEMS_KEPT = 50;

/**
 * What ffmpeg's decoder complains about when it decodes the video of `input` (a file path or a buffer on stdin): none for a
 * clean stream. A stream that goes on after a lost frame without waiting for the next keyframe shows here, where ffprobe
 * only counts the frames it made. Read at the debug level, line by line (a frame_num gap is said only there).
 */
export function decodeErrors(input: string | Buffer, options: { format?: string; timeoutMs?: number; ffmpeg?: string } = {}): Promise<string[]> {
  const binary = options.ffmpeg ?? 'ffmpeg';
  const args = ['-hide_banner', '-nostats', '-v', 'debug', ...(options.format ? ['-f', options.format] : []),
    '-i', typeof input === 'string' ? input : 'pipe:0', '-map', '0:v:0', '-f', 'null', '-'];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: [typeof input === 'string' ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    const untrack = track({ label: `${binary} decode pid ${child.pid}`, stop: async () => void child.kill('SIGKILL'), killNow: () => void child.kill('SIGKILL') });
    const problems: string[] = [];
    let partial = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (DECODE_PROBLEM.test(line) && problems.length < DECODE_PROBLEMS_KEPT) {
          problems.push(line.trim());
        }
      }
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(typeof input === 'string' ? undefined : input);
    child.once('error', (err) => {
      clearTimeout(timer);
      untrack();
      reject(new Error(`cannot run ${binary}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      untrack();
      if (DECODE_PROBLEM.test(partial)) {
        problems.push(partial.trim());
      }
      if (timedOut) {
        reject(new Error(`${binary} did not decode within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
      } else {
        resolve(code === 0 ? problems : [...problems, `ffmpeg exited ${code ?? signal}`]);
      }
    });
  });
}

/** Probe and summarise video: e.g. the rig's depacketized Annex-B stream (`format: 'h264'`). */
export async function probeVideo(input: string | Buffer, options: ProbeOptions = {}): Promise<VideoSummary> {
  return summarizeVideo(await probe(input, { ...options, frames: true }));
}

// ------------------------------------------------------------------------------------------ decodeSrtp

export interface DecodeSrtpOptions {
  /** Datagrams exactly as received (SRTP, and SRTCP on the same port), in arrival order. */
  datagrams: readonly (Buffer | CapturedDatagram)[];
  /** The key and salt the sender encrypted with. */
  keys: SrtpKeys;
  payloadType: number;
  /** Default 'H264' (video). 'opus' decodes audio. */
  codec?: 'H264' | 'opus';
  /** Default 30 s for the whole run. */
  timeoutMs?: number;
  ffmpeg?: string;
  ffprobe?: string;
  /** Keep the temp dir (SDP, output file) and return its path. */
  keepFiles?: boolean;
}

export interface DecodeSrtpResult {
  probe: ProbeResult;
  video?: VideoSummary;
  audio?: AudioSummary;
  /** Datagrams replayed to ffmpeg. */
  sent: number;
  outputBytes: number;
  /** ffmpeg's last stderr lines (warnings and errors). */
  ffmpegLog: string[];
  /** With keepFiles. */
  dir?: string;
}

const REPLAY_BURST = 32;
const REPLAY_PAUSE_MS = 2;
const BIND_WAIT_MS = 10_000;

function sdpFor(port: number, options: DecodeSrtpOptions): string {
  const inline = Buffer.concat([options.keys.key, options.keys.salt]).toString('base64');
  const pt = options.payloadType;
  const media = options.codec === 'opus'
    ? [`m=audio ${port} RTP/SAVP ${pt}`, `a=rtpmap:${pt} opus/48000/2`]
    : [`m=video ${port} RTP/SAVP ${pt}`, `a=rtpmap:${pt} H264/90000`, `a=fmtp:${pt} packetization-mode=1`];
  return [
    'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=courtyard rig replay', 'c=IN IP4 127.0.0.1', 't=0 0',
    ...media, 'a=rtcp-mux', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${inline}`, '',
  ].join('\r\n');
}

function bindUdp(port: number): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

/** A port p with p and p+1 free right now (ffmpeg's RTP input also binds the next port for RTCP). */
async function freeUdpPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await bindUdp(0);
    const port = first.address().port;
    const second = await bindUdp(port + 1).catch(() => undefined);
    first.close();
    second?.close();
    if (second && port < 65535) {
      return port;
    }
  }
  throw new Error('no free pair of UDP ports on 127.0.0.1');
}

/** Whether some process has UDP port `port` bound (Linux /proc/net/udp). */
function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1).some((line) => line.trim().split(/\s+/)[1]?.endsWith(hex));
}

/** Decode captured SRTP with ffmpeg (see the header): proves the key, the packetization and the codec data. */
export async function decodeSrtp(options: DecodeSrtpOptions): Promise<DecodeSrtpResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const dir = makeTempDir('srtp-decode');
  const isAudio = options.codec === 'opus';
  const output = join(dir, isAudio ? 'audio.mka' : 'video.h264');
  const log: string[] = [];
  let ffmpeg: FfmpegProcess | undefined;
  let sender: Socket | undefined;
  let untrack: () => void = () => undefined;
  try {
    const port = await freeUdpPair();
    const sdpPath = join(dir, 'stream.sdp');
    writeFileSync(sdpPath, sdpFor(port, options));
    const args = [
      '-hide_banner', '-loglevel', 'warning', '-nostats',
      '-protocol_whitelist', 'file,udp,rtp',
      // Stream parameters are known after the first keyframe; do not wait the default 5 s of stream time for more.
      '-analyzeduration', '1000000', '-probesize', '1000000',
      // End by itself about a second after the last packet: a blocked UDP read ignores `q`, and a second signal
      // would abort the output file too.
      '-listen_timeout', '1',
      '-i', sdpPath,
      '-map', isAudio ? '0:a:0' : '0:v:0', '-c', 'copy', '-f', isAudio ? 'matroska' : 'h264', '-y', output,
    ];
    const proc = new FfmpegProcess(options.ffmpeg ?? 'ffmpeg', args, { debug: (m) => log.push(m), error: (m) => log.push(m) }, 'srtp-decode');
    ffmpeg = proc;
    untrack = track({ label: `ffmpeg srtp-decode pid ${proc.process.pid}`, stop: async () => void (await proc.stop()), killNow: () => void proc.process.kill('SIGKILL') });
    // Packets sent before ffmpeg bound its port would be lost: wait for the bind (bounded).
    const bindDeadline = Math.min(deadline, Date.now() + BIND_WAIT_MS);
    while (!udpPortBound(port)) {
      if (!proc.running) {
        throw new Error(`ffmpeg exited before binding port ${port}: ${log.slice(-5).join(' | ')}`);
      }
      if (Date.now() > bindDeadline) {
        throw new Error(`ffmpeg did not bind UDP port ${port} within ${BIND_WAIT_MS} ms`);
      }
      await sleep(20);
    }
    sender = await bindUdp(0);
    const socket = sender;
    let sent = 0;
    for (const item of options.datagrams) {
      const data = Buffer.isBuffer(item) ? item : item.data;
      await new Promise<void>((resolve) => socket.send(data, port, '127.0.0.1', () => resolve()));
      sent++;
      if (sent % REPLAY_BURST === 0) {
        await sleep(REPLAY_PAUSE_MS); // a burst of a few hundred packets would overflow ffmpeg's socket buffer
      }
      if (Date.now() > deadline) {
        throw new Error(`replay of ${options.datagrams.length} datagrams did not finish within ${timeoutMs} ms`);
      }
    }
    const exit = await withTimeout(proc.wait(), Math.max(1, deadline - Date.now()), 'ffmpeg srtp-decode to end after the replay');
    let outputBytes = 0;
    try {
      outputBytes = statSync(output).size;
    } catch {
      // no output file: reported below
    }
    if (outputBytes === 0) {
      throw new Error(`ffmpeg wrote nothing (exit ${exit.code ?? exit.signal}) from ${sent} datagrams: ${exit.tail.slice(-5).join(' | ')}`);
    }
    const result = await probe(output, { ffprobe: options.ffprobe, timeoutMs: Math.max(1, deadline - Date.now()) });
    return {
      probe: result,
      video: isAudio ? undefined : summarizeVideo(result),
      audio: isAudio ? summarizeAudio(result) : undefined,
      sent,
      outputBytes,
      ffmpegLog: exit.tail,
      dir: options.keepFiles ? dir : undefined,
    };
  } finally {
    sender?.close();
    if (ffmpeg?.running) {
      await ffmpeg.stop();
    }
    untrack();
    if (!options.keepFiles) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ------------------------------------------------------------------------------------------ fragmented MP4

/** One box of an ISO BMFF (MP4) byte range. */
export interface Mp4Box {
  type: string;
  /** Offset of the box header in the buffer given. */
  start: number;
  /** Whole box, header included. */
  size: number;
  /** The payload (after the 8- or 16-byte header). */
  body: Buffer;
}

/** A track of an fMP4 init segment (moov/trak, with its mvex/trex defaults). */
export interface Mp4Track {
  id: number;
  /** hdlr handler type: 'vide', 'soun', ... */
  handler: string;
  /** mdhd timescale: media time units per second. */
  timescale: number;
  defaultSampleDuration: number;
  defaultSampleFlags: number;
}

/** One track's run in one fragment (moof/traf). */
export interface Mp4TrackFragment {
  trackId: number;
  /** tfdt baseMediaDecodeTime (track timescale). */
  baseDecodeTime: number;
  /** Sum of the sample durations (track timescale). */
  duration: number;
  samples: number;
  /** The first sample is a sync sample (keyframe): sample_is_non_sync_sample clear. */
  firstSampleSync: boolean;
}

export interface Mp4Fragment {
  /** mfhd sequence_number. */
  sequence: number;
  tracks: Mp4TrackFragment[];
}

const NON_SYNC_SAMPLE = 0x10000;
const MAX_BOXES = 10_000;

/** The boxes directly inside `data` (a whole segment, or a container's payload), in order; throws on a size that does not fit. */
export function mp4Boxes(data: Buffer): Mp4Box[] {
  const boxes: Mp4Box[] = [];
  let offset = 0;
  while (offset < data.length) { // every turn moves on by a whole box of at least 8 bytes, or throws
    if (boxes.length >= MAX_BOXES) {
      throw new Error(`more than ${MAX_BOXES} boxes`);
    }
    if (offset + 8 > data.length) {
      throw new Error(`truncated box header at byte ${offset} of ${data.length}`);
    }
    let size = data.readUInt32BE(offset);
    const type = data.toString('latin1', offset + 4, offset + 8);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > data.length) {
        throw new Error(`truncated 64-bit size of box "${type}" at byte ${offset}`);
      }
      size = Number(data.readBigUInt64BE(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = data.length - offset; // to the end
    }
    if (size < header || offset + size > data.length) {
      throw new Error(`box "${type}" at byte ${offset} announces ${size} bytes, ${data.length - offset} left`);
    }
    boxes.push({ type, start: offset, size, body: data.subarray(offset + header, offset + size) });
    offset += size;
  }
  return boxes;
}

function child(box: Mp4Box, type: string): Mp4Box {
  const found = mp4Boxes(box.body).find((b) => b.type === type);
  if (!found) {
    throw new Error(`box "${box.type}" has no "${type}"`);
  }
  return found;
}

function children(box: Mp4Box, type: string): Mp4Box[] {
  return mp4Boxes(box.body).filter((b) => b.type === type);
}

/** Full box version (the byte before the 24-bit flags). */
function version(body: Buffer): number {
  return body[0];
}

function flags(body: Buffer): number {
  return body.readUIntBE(1, 3);
}

/** The tracks of an init segment (ftyp + moov): id, handler, timescale and the trex defaults fragments fall back on. */
export function mp4InitTracks(init: Buffer): Mp4Track[] {
  const moov = mp4Boxes(init).find((b) => b.type === 'moov');
  if (!moov) {
    throw new Error('init segment without moov');
  }
  const trex = new Map<number, Buffer>();
  for (const mvex of children(moov, 'mvex')) {
    for (const t of children(mvex, 'trex')) {
      trex.set(t.body.readUInt32BE(4), t.body);
    }
  }
  return children(moov, 'trak').map((trak) => {
    const tkhd = child(trak, 'tkhd').body;
    const id = tkhd.readUInt32BE(version(tkhd) === 1 ? 20 : 12);
    const mdia = child(trak, 'mdia');
    const mdhd = child(mdia, 'mdhd').body;
    const defaults = trex.get(id);
    return {
      id,
      handler: child(mdia, 'hdlr').body.toString('latin1', 8, 12),
      timescale: mdhd.readUInt32BE(version(mdhd) === 1 ? 20 : 12),
      defaultSampleDuration: defaults ? defaults.readUInt32BE(12) : 0,
      defaultSampleFlags: defaults ? defaults.readUInt32BE(20) : 0,
    };
  });
}

/** One fragment (moof + mdat): per track, its decode time, summed sample durations, sample count and first-sample sync. */
export function mp4Fragment(data: Buffer, tracks: Mp4Track[]): Mp4Fragment {
  const moof = mp4Boxes(data).find((b) => b.type === 'moof');
  if (!moof) {
    throw new Error('fragment without moof');
  }
  const sequence = child(moof, 'mfhd').body.readUInt32BE(4);
  const runs = children(moof, 'traf').map((traf): Mp4TrackFragment => {
    const tfhd = child(traf, 'tfhd').body;
    const tfhdFlags = flags(tfhd);
    const trackId = tfhd.readUInt32BE(4);
    const track = tracks.find((t) => t.id === trackId);
    let at = 8;
    at += tfhdFlags & 0x01 ? 8 : 0; // base-data-offset
    at += tfhdFlags & 0x02 ? 4 : 0; // sample-description-index
    let defaultDuration = track?.defaultSampleDuration ?? 0;
    if (tfhdFlags & 0x08) {
      defaultDuration = tfhd.readUInt32BE(at);
      at += 4;
    }
    at += tfhdFlags & 0x10 ? 4 : 0; // default-sample-size
    const defaultFlags = tfhdFlags & 0x20 ? tfhd.readUInt32BE(at) : track?.defaultSampleFlags ?? 0;
    const tfdts = children(traf, 'tfdt');
    const tfdt = tfdts[0]?.body;
    const baseDecodeTime = tfdt === undefined ? 0 : version(tfdt) === 1 ? Number(tfdt.readBigUInt64BE(4)) : tfdt.readUInt32BE(4);
    let duration = 0;
    let samples = 0;
    let firstFlags: number | undefined;
    for (const trun of children(traf, 'trun')) {
      const b = trun.body;
      const f = flags(b);
      const count = b.readUInt32BE(4);
      let pos = 8 + (f & 0x01 ? 4 : 0);
      const runFirstFlags = f & 0x04 ? b.readUInt32BE(pos) : undefined;
      pos += f & 0x04 ? 4 : 0;
      const perSample = (f & 0x100 ? 4 : 0) + (f & 0x200 ? 4 : 0) + (f & 0x400 ? 4 : 0) + (f & 0x800 ? 4 : 0);
      if (pos + count * perSample > b.length) {
        throw new Error(`trun of track ${trackId} announces ${count} samples, more than its ${b.length} bytes hold`);
      }
      for (let i = 0; i < count; i++) { // bounded by the size check above
        let p = pos + i * perSample;
        const sampleDuration = f & 0x100 ? b.readUInt32BE(p) : defaultDuration;
        p += f & 0x100 ? 4 : 0;
        p += f & 0x200 ? 4 : 0;
        if (samples === 0 && i === 0) {
          firstFlags = runFirstFlags ?? (f & 0x400 ? b.readUInt32BE(p) : defaultFlags);
        }
        duration += sampleDuration;
      }
      samples += count;
    }
    return { trackId, baseDecodeTime, duration, samples, firstSampleSync: firstFlags !== undefined && (firstFlags & NON_SYNC_SAMPLE) === 0 };
  });
  return { sequence, tracks: runs };
}

// ------------------------------------------------------------------------------------------------- JPEG

/** What a JPEG's frame header (SOFn) says: the coded size, and which SOF marker (0xC0 baseline, 0xC2 progressive, ...). */
export interface JpegFrameHeader {
  width: number;
  height: number;
  marker: number;
}

const MAX_JPEG_SEGMENTS = 1_000;

/**
 * The size from a JPEG's SOF segment, read by walking its marker segments from SOI (not by searching bytes, which can
 * hit an FFC0 inside a thumbnail or table); undefined when `data` is not a JPEG or has no SOF before the scan.
 */
export function jpegFrameHeader(data: Buffer): JpegFrameHeader | undefined {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) {
    return undefined;
  }
  let offset = 2;
  for (let segments = 0; segments < MAX_JPEG_SEGMENTS && offset + 4 <= data.length; segments++) {
    if (data[offset] !== 0xff) {
      return undefined;
    }
    const marker = data[offset + 1];
    if (marker === 0xff) {
      offset += 1; // fill byte before a marker
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) {
      return undefined; // end of image, or the scan started without a frame header
    }
    const length = data.readUInt16BE(offset + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (offset + 9 > data.length) {
        return undefined;
      }
      return { marker, height: data.readUInt16BE(offset + 5), width: data.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  return undefined;
}
