// The one part of a copied HKSV clip that still needs ffmpeg when the camera's AAC is not at the hub's sample rate (hubs
// select 32 kHz; camera microphones send 8 or 16 kHz): an audio-only ffmpeg turns the camera's ADTS frames into AAC-LC at
// the hub's rate. Audio is a few kB/s, so this costs a fraction of a video remux, and the video never waits for it.
import { FfmpegProcess, FfmpegLog } from './ffmpeg';
import { AAC_FRAME_SAMPLES, AAC_SAMPLE_RATES, AudioUnit, TsDemuxer } from './ts-demux';

export interface ClipAudioOptions {
  ffmpegPath: string;
  log: FfmpegLog;
  label: string;
  sampleRate: number;
  channels: number;
  kbps: number;
  /** Frames converted, with their capture time on the camera's 90 kHz clock. */
  onFrames: (units: AudioUnit[]) => void;
  signal?: AbortSignal;
}

export function clipAudioArgs(o: Pick<ClipAudioOptions, 'sampleRate' | 'channels' | 'kbps'>): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'warning',
    '-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'aac', '-i', 'pipe:0',
    '-c:a', 'aac', '-profile:a', 'aac_low', '-ar', String(o.sampleRate), '-ac', String(o.channels), '-b:a', `${o.kbps}k`,
    '-f', 'adts', '-flush_packets', '1', 'pipe:1',
  ];
}

export class ClipAudio {
  private readonly ffmpeg: FfmpegProcess;
  /** ADTS out of ffmpeg, read with the demuxer's ADTS reader (through a PES-less path: the frames alone). */
  private rest = Buffer.alloc(0);
  /** Camera time (90 kHz) of each input frame still to be matched to output, from input frame `inputBase` on. */
  private inputPts: number[] = [];
  private inputBase = 0;
  private inputRate = 0;
  private framesOut = 0;

  constructor(private readonly options: ClipAudioOptions) {
    this.ffmpeg = new FfmpegProcess(options.ffmpegPath, clipAudioArgs(options), options.log, `${options.label} audio`, options.signal);
    this.ffmpeg.process.stdin?.on('error', () => undefined); // ends with the clip; its exit is logged by FfmpegProcess
    this.ffmpeg.process.stdout?.on('data', (chunk: Buffer) => this.onOutput(chunk));
  }

  push(unit: AudioUnit): void {
    this.inputRate ||= AAC_SAMPLE_RATES[unit.rateIndex];
    this.inputPts.push(unit.pts);
    const stdin = this.ffmpeg.process.stdin;
    if (stdin?.writable) {
      stdin.write(unit.adts);
    }
  }

  async stop(): Promise<void> {
    await this.ffmpeg.stop();
  }

  private onOutput(chunk: Buffer): void {
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const frames = TsDemuxer.adtsFrames(data);
    const used = frames.reduce((n, f) => n + f.adts.length, 0);
    this.rest = Buffer.from(data.subarray(used));
    if (!this.inputRate || !frames.length) {
      return;
    }
    const rate = AAC_SAMPLE_RATES[frames[0].rateIndex] ?? this.options.sampleRate;
    // Output frame k (after the encoder's one priming frame) starts at input sample k·1024·in/out: its time is that of the
    // input frame holding that sample, so gaps and jumps in the camera's audio carry over instead of drifting.
    const units: AudioUnit[] = [];
    for (const f of frames) {
      const k = this.framesOut++ - 1;
      const sample = k * AAC_FRAME_SAMPLES * this.inputRate / rate;
      const j = Math.floor(sample / AAC_FRAME_SAMPLES);
      const pts = this.inputPts[j - this.inputBase];
      if (k < 0 || pts === undefined) {
        continue; // the priming frame, or output past what was sent in (cannot happen; dropped rather than guessed)
      }
      units.push({ ...f, track: 'audio', pts: pts + Math.round((sample - j * AAC_FRAME_SAMPLES) * 90000 / this.inputRate) });
      // Input frames before this one are done with.
      this.inputPts.splice(0, j - this.inputBase);
      this.inputBase = j;
    }
    this.options.onFrames(units);
  }
}
