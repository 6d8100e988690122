// HomeKit snapshots for one camera: the camera's JPEG (ONVIF snapshot URI), else a frame from its video stream, scaled
// to the width HomeKit asks for, cached briefly and shared between concurrent requests, always answered within bounds.
import { jpegSize } from '../util/jpeg';
import {
  SNAPSHOT_ANSWER_MS, SNAPSHOT_CACHE_MS, SNAPSHOT_FAILURE_HOLD_MS, SNAPSHOT_JPEG_QUALITY, SNAPSHOT_MAX_BYTES,
  SNAPSHOT_SCALED_KEEP, SNAPSHOT_SOURCE_MS, SNAPSHOT_URI_TIMEOUT_MS,
} from '../settings';
import { HttpGetError, httpGet } from '../util/http-get';
import { raceAbort } from '../util/abort';
import type { Log } from '../util/log';
import { redact, registerSecret } from '../util/redact';
import { FfmpegProcess } from './ffmpeg';

export type SnapshotLog = Pick<Log, 'debug' | 'warn'>;

export interface SnapshotOptions {
  /** Already camera-prefixed (CameraLog fits). */
  log: SnapshotLog;
  /** undefined = no ffmpeg: the camera's JPEG is served unscaled and there is no video-stream fallback. */
  ffmpegPath: string | undefined;
  username: string;
  password: string;
  /** The ONVIF GetSnapshotUri answer (the caller caches it); undefined when the camera has none. */
  snapshotUri: (signal: AbortSignal) => Promise<string | undefined>;
  /** The media source's fallback: an MPEG-TS buffer (PAT+PMT, then a GOP starting with a keyframe), or undefined. */
  keyframe: (signal: AbortSignal) => Promise<Buffer | undefined>;
}

/** A failure in words a user can act on, without the "snapshot:" prefix. */
class SnapshotFailure extends Error {}

/** One full-size image from the camera, with the sizes already made from it. */
interface SourceImage {
  jpeg: Buffer;
  width: number;
  height: number;
  /** performance.now() when it arrived. */
  at: number;
  scaled: Map<number, Buffer>;
  scaling: Map<number, SharedJob<Buffer>>;
}

const now = (): number => performance.now();
const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;
const messageOf = (err: unknown): string => redact(err instanceof Error ? err.message : String(err));

/**
 * Work shared by every caller that asks while it runs (one camera fetch for 8 Home app tiles). Each caller leaves on its own
 * signal; when the last one leaves before the end, the work is aborted, so nothing runs (no ffmpeg) for nobody.
 */
class SharedJob<T> {
  private waiters = 0;
  private settled = false;
  private readonly control = new AbortController();
  private readonly result: Promise<T>;

  constructor(work: (signal: AbortSignal) => Promise<T>) {
    this.result = work(this.control.signal);
    // Also marks the rejection as handled: callers that left must not turn it into an unhandled rejection.
    this.result.then(() => { this.settled = true; }, () => { this.settled = true; });
  }

  /** Nobody waits any more (or close() was called): a new caller must start fresh work. */
  get abandoned(): boolean {
    return this.control.signal.aborted;
  }

  cancel(): void {
    this.control.abort(new SnapshotFailure('stopped'));
  }

  join(signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        this.leftBy(signal, reject);
        return;
      }
      this.waiters++;
      let gone = false;
      const leave = (): boolean => {
        if (gone) {
          return false;
        }
        gone = true;
        this.waiters--;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (leave()) {
          this.leftBy(signal, reject);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.result.then((v) => leave() && resolve(v), (e: unknown) => leave() && reject(e));
    });
  }

  private leftBy(signal: AbortSignal, reject: (e: unknown) => void): void {
    if (this.waiters === 0 && !this.settled) {
      this.control.abort(new SnapshotFailure('abandoned'));
    }
    reject(signal.reason);
  }
}

/** A signal that fires after `ms` or with `parent`; done() clears the timer (AbortSignal.timeout cannot be cleared). */
function deadline(parent: AbortSignal, ms: number, why: () => Error): { signal: AbortSignal; done: () => void } {
  const control = new AbortController();
  const timer = setTimeout(() => control.abort(why()), Math.max(1, ms));
  const onParent = (): void => control.abort(parent.reason);
  if (parent.aborted) {
    onParent();
  } else {
    parent.addEventListener('abort', onParent, { once: true });
  }
  return {
    signal: control.signal,
    done: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    },
  };
}

/** What went wrong with the snapshot URL, in words that tell the user what to check. */
function uriProblem(err: unknown): string {
  if (!(err instanceof HttpGetError)) {
    return err instanceof SnapshotFailure ? err.message : `the snapshot URL failed (${messageOf(err)})`;
  }
  switch (err.kind) {
    case 'auth':
      return /failed/.test(err.message)
        ? 'the camera refused the username/password for the snapshot URL; check username and password'
        : `the snapshot URL ${redact(err.message)}`;
    case 'timeout':
      return `the snapshot URL gave ${err.message}`;
    case 'unreachable':
      return `the snapshot URL could not be reached (${err.message})`;
    default:
      return `the snapshot URL ${redact(err.message)}`;
  }
}

const FFMPEG_IN = ['-hide_banner', '-loglevel', 'error', '-nostats'];
const jpegOut = (): string[] => ['-frames:v', '1', '-an', '-c:v', 'mjpeg', '-q:v', String(SNAPSHOT_JPEG_QUALITY), '-f', 'image2pipe', 'pipe:1'];

/** HomeKit snapshots for one camera. Call close() when the camera goes away. */
export class Snapshots {
  /** The newest good image: the cache while fresh, and the "last image" answer when the camera fails afterwards. */
  private current?: SourceImage;
  private fetching?: SharedJob<SourceImage>;
  /** A recent failure: answered from the last image without asking the camera again until it is SNAPSHOT_FAILURE_HOLD_MS old. */
  private failure?: { at: number; reason: string };
  /** What was last warned about, per stage: each problem is logged once, until that stage works again. */
  private readonly warned = new Map<'fetch' | 'scale', string>();
  private readonly jobs = new Set<SharedJob<unknown>>();
  private readonly processes = new Set<FfmpegProcess>();
  private closed = false;
  private readonly ffmpegLog: { debug(m: string): void; error(m: string): void };

  constructor(private readonly opts: SnapshotOptions) {
    registerSecret(opts.password);
    // ffmpeg's own failure lines go to debug: this class warns once, in camera terms, about what the failure means.
    this.ffmpegLog = { debug: (m) => opts.log.debug(m), error: (m) => opts.log.debug(m) };
  }

  /**
   * A JPEG for HomeKit within SNAPSHOT_ANSWER_MS. Width: exactly `width` when the camera's image is at least that wide,
   * aspect kept (the height follows, rounded to even; `height` is not used, since cameras differ in aspect and HomeKit
   * fits the image into its tile); a narrower image is sent as is, never upscaled (upscaling adds bytes, not detail).
   * On failure: the last good image, else an Error saying why.
   */
  async snapshot(width: number, height: number, signal?: AbortSignal): Promise<Buffer> {
    if (this.closed) {
      throw new Error('snapshot: the camera is being removed');
    }
    if (signal?.aborted) {
      throw new Error('snapshot: cancelled');
    }
    const wanted = Number.isFinite(width) && width >= 16 ? Math.round(width) : undefined;
    const answer = deadline(signal ?? new AbortController().signal, SNAPSHOT_ANSWER_MS,
      () => new SnapshotFailure(`the camera took more than ${seconds(SNAPSHOT_ANSWER_MS)}`));
    let fresh: SourceImage | undefined;
    try {
      fresh = await this.source(answer.signal);
      return await this.fit(fresh, wanted, answer.signal);
    } catch (err) {
      if (signal?.aborted || this.closed) {
        throw new Error('snapshot: cancelled');
      }
      if (fresh) {
        return fresh.jpeg; // the deadline came while scaling: the new image at full size beats an old one
      }
      const reason = answer.signal.aborted ? messageOf(answer.signal.reason) : messageOf(err);
      const last = this.current;
      if (!last) {
        this.warnOnce('fetch', reason, 'no image to show');
        throw new Error(`snapshot (${height > 0 ? `${width}x${height}` : width}): no image: ${reason}`);
      }
      this.warnOnce('fetch', reason, 'showing the last image');
      try {
        return await this.fit(last, wanted, answer.signal);
      } catch {
        return last.jpeg;
      }
    } finally {
      answer.done();
    }
  }

  /** Stops every fetch and ffmpeg of this camera and waits until the processes are gone. */
  async close(): Promise<void> {
    this.closed = true;
    this.jobs.forEach((j) => j.cancel());
    await Promise.all([...this.processes].map((p) => p.wait()));
  }

  /** The cached image, the fetch already running, or a new fetch. */
  private source(signal: AbortSignal): Promise<SourceImage> {
    const t = now();
    if (this.current && t - this.current.at < SNAPSHOT_CACHE_MS) {
      return Promise.resolve(this.current);
    }
    if (this.failure && t - this.failure.at < SNAPSHOT_FAILURE_HOLD_MS) {
      return Promise.reject(new SnapshotFailure(this.failure.reason));
    }
    if (!this.fetching || this.fetching.abandoned) {
      this.fetching = this.track(async (jobSignal, job) => {
        try {
          const image = await this.fetchSource(jobSignal);
          this.current = image;
          this.failure = undefined;
          return image;
        } catch (err) {
          const failure = err instanceof SnapshotFailure ? err : new SnapshotFailure(messageOf(err));
          if (!job.abandoned) {
            this.failure = { at: now(), reason: failure.message };
          }
          throw failure;
        } finally {
          if (this.fetching === job) {
            this.fetching = undefined;
          }
        }
      });
    }
    return this.fetching.join(signal);
  }

  /** The camera's snapshot URL, else one frame of its video stream; bounded by SNAPSHOT_SOURCE_MS. */
  private async fetchSource(jobSignal: AbortSignal): Promise<SourceImage> {
    const started = now();
    const left = (): number => Math.max(1, SNAPSHOT_SOURCE_MS - (now() - started));
    const bound = deadline(jobSignal, SNAPSHOT_SOURCE_MS, () => new SnapshotFailure(`no image within ${seconds(SNAPSHOT_SOURCE_MS)}`));
    try {
      let problem: string | undefined;
      try {
        const uri = await raceAbort(this.opts.snapshotUri(bound.signal), bound.signal);
        if (uri) {
          const image = await this.fromUri(uri, Math.min(SNAPSHOT_URI_TIMEOUT_MS, left()), bound.signal);
          this.recovered('fetch');
          return image;
        }
        this.opts.log.debug('snapshot: the camera has no snapshot URL; taking a frame from the video stream');
      } catch (err) {
        if (jobSignal.aborted) {
          throw err;
        }
        if (bound.signal.aborted) {
          throw new SnapshotFailure(`the snapshot URL gave no image within ${seconds(SNAPSHOT_SOURCE_MS)}`);
        }
        problem = uriProblem(err);
      }
      const image = await this.fromStream(problem, bound.signal);
      if (problem) {
        this.warnOnce('fetch', problem, 'using a frame from the video stream instead');
      } else {
        this.recovered('fetch');
      }
      return image;
    } finally {
      bound.done();
    }
  }

  private async fromUri(uri: string, timeoutMs: number, signal: AbortSignal): Promise<SourceImage> {
    const t = now();
    const reply = await httpGet(uri, {
      username: this.opts.username || undefined, password: this.opts.password, timeoutMs, maxBytes: SNAPSHOT_MAX_BYTES, signal,
    });
    const size = jpegSize(reply.body);
    if (!size) {
      throw new SnapshotFailure(`the snapshot URL answered ${reply.contentType ?? 'something'} that is not a JPEG image`);
    }
    this.opts.log.debug(`snapshot: ${size.width}x${size.height} from the snapshot URL in ${Math.round(now() - t)} ms (${reply.auth})`);
    return this.image(reply.body, size);
  }

  /** One keyframe of the video stream, decoded to a JPEG; `uriProblem` is why we are here, for the error text. */
  private async fromStream(uriProblem: string | undefined, signal: AbortSignal): Promise<SourceImage> {
    const why = (streamProblem: string): SnapshotFailure =>
      new SnapshotFailure(uriProblem ? `${uriProblem}, and ${streamProblem}` : `the camera has no snapshot URL, and ${streamProblem}`);
    if (!this.opts.ffmpegPath) {
      throw why('there is no ffmpeg to take a frame from the video stream');
    }
    const t = now();
    const late = (): SnapshotFailure => why(`the video stream gave no frame within ${seconds(now() - t)}`);
    let ts: Buffer | undefined;
    try {
      ts = await raceAbort(this.opts.keyframe(signal), signal);
    } catch (err) {
      throw signal.aborted ? late() : why(`the video stream failed (${messageOf(err)})`);
    }
    if (!ts || ts.length === 0) {
      throw why('the video stream gave no keyframe');
    }
    let jpeg: Buffer;
    try {
      jpeg = await this.ffmpeg([...FFMPEG_IN, '-f', 'mpegts', '-i', 'pipe:0', ...jpegOut()], ts, 'keyframe', signal);
    } catch (err) {
      throw signal.aborted ? late() : why(`its keyframe did not decode (${messageOf(err)})`);
    }
    const size = jpegSize(jpeg) ?? { width: 0, height: 0 };
    this.opts.log.debug(`snapshot: ${size.width}x${size.height} from the video stream in ${Math.round(now() - t)} ms`);
    return this.image(jpeg, size);
  }

  private image(jpeg: Buffer, size: { width: number; height: number }): SourceImage {
    return { jpeg, width: size.width, height: size.height, at: now(), scaled: new Map(), scaling: new Map() };
  }

  /** `image` at `width` (see snapshot()); a failed scale sends the full image rather than nothing. */
  private async fit(image: SourceImage, width: number | undefined, signal: AbortSignal): Promise<Buffer> {
    if (!this.opts.ffmpegPath || width === undefined || width >= image.width) {
      return image.jpeg;
    }
    const done = image.scaled.get(width);
    if (done) {
      return done;
    }
    if (signal.aborted) {
      throw signal.reason;
    }
    let job = image.scaling.get(width);
    if (!job || job.abandoned) {
      job = this.track(async (jobSignal, self) => {
        // Callers leaving ends it too; this cap only guards against a stream of new callers keeping a stuck ffmpeg alive.
        const cap = deadline(jobSignal, SNAPSHOT_ANSWER_MS, () => new SnapshotFailure(`took more than ${seconds(SNAPSHOT_ANSWER_MS)}`));
        try {
          const args = [...FFMPEG_IN, '-f', 'jpeg_pipe', '-i', 'pipe:0', '-vf', `scale=${width}:-2`, ...jpegOut()];
          const jpeg = await this.ffmpeg(args, image.jpeg, `scale to ${width}`, cap.signal);
          image.scaled.set(width, jpeg);
          // Widths come from the controller: keep a few, newest last.
          for (const old of image.scaled.keys()) {
            if (image.scaled.size <= SNAPSHOT_SCALED_KEEP) {
              break;
            }
            image.scaled.delete(old);
          }
          this.recovered('scale');
          return jpeg;
        } finally {
          cap.done();
          if (image.scaling.get(width) === self) {
            image.scaling.delete(width);
          }
        }
      });
      image.scaling.set(width, job);
    }
    try {
      return await job.join(signal);
    } catch (err) {
      if (signal.aborted) {
        throw err;
      }
      this.warnOnce('scale', `ffmpeg could not scale the image (${messageOf(err)})`, 'sending it at full size');
      return image.jpeg;
    }
  }

  private track<T>(work: (signal: AbortSignal, job: SharedJob<T>) => Promise<T>): SharedJob<T> {
    const job: SharedJob<T> = new SharedJob<T>(async (signal) => {
      await Promise.resolve(); // `job` is assigned by the time work starts
      try {
        return await work(signal, job);
      } finally {
        this.jobs.delete(job);
      }
    });
    this.jobs.add(job);
    return job;
  }

  /** Runs ffmpeg with `input` on stdin; resolves with the JPEG it writes to stdout. Killed at once on abort. */
  private ffmpeg(args: string[], input: Buffer, what: string, signal: AbortSignal): Promise<Buffer> {
    if (signal.aborted) {
      return Promise.reject(signal.reason);
    }
    const ff = new FfmpegProcess(this.opts.ffmpegPath ?? 'ffmpeg', args, this.ffmpegLog, `snapshot ${what}`);
    this.processes.add(ff);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    // Nothing to close cleanly in a one-frame job: stop() marks the end as asked for, SIGTERM ends it now.
    const kill = (): void => {
      void ff.stop();
      ff.process.kill('SIGTERM');
    };
    ff.process.stdout?.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > SNAPSHOT_MAX_BYTES) {
        tooLarge = true;
        kill();
      } else {
        chunks.push(chunk);
      }
    });
    const stdoutClosed = new Promise<void>((resolve) => (ff.process.stdout ? ff.process.stdout.once('close', resolve) : resolve()));
    signal.addEventListener('abort', kill, { once: true });
    ff.process.stdin?.end(input);
    return Promise.all([ff.wait(), stdoutClosed]).then(([exit]) => {
      signal.removeEventListener('abort', kill);
      this.processes.delete(ff);
      if (signal.aborted) {
        throw signal.reason;
      }
      const jpeg = Buffer.concat(chunks);
      if (exit.code === 0 && jpegSize(jpeg)) {
        return jpeg;
      }
      const detail = tooLarge ? `more than ${SNAPSHOT_MAX_BYTES} bytes` : exit.tail.slice(-1)[0] ?? `exit ${exit.signal ?? exit.code}`;
      throw new SnapshotFailure(detail);
    });
  }

  private warnOnce(stage: 'fetch' | 'scale', problem: string, outcome: string): void {
    if (this.warned.get(stage) === problem || this.closed) {
      return;
    }
    this.warned.set(stage, problem);
    this.opts.log.warn(redact(`snapshot: ${problem}; ${outcome}`));
  }

  private recovered(stage: 'fetch' | 'scale'): void {
    if (this.warned.delete(stage)) {
      this.opts.log.debug(`snapshot: ${stage === 'fetch' ? 'the camera answers again' : 'scaling works again'}`);
    }
  }
}
