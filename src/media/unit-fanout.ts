// A camera stream's MPEG-TS demuxed once into H.264 access units and AAC frames, for every consumer that sends units
// itself (the plugin's live senders): each viewer used to demux the same TS again (about an eighth of a copied viewer's
// CPU, and a copy of every TS payload it read). One tap is attached to the media source while anyone listens; it
// keeps the units since the newest keyframe, so a viewer joining starts on that keyframe at once, as a TS consumer of
// the source does from its cache.
import { Writable } from 'node:stream';
import { SOURCE_CACHE_MAX_BYTES } from '../settings';
import { AudioUnit, StreamUnusable, TsDemuxer, VideoUnit } from './ts-demux';

export type MediaUnit = VideoUnit | AudioUnit;

export interface UnitConsumer {
  /** Units in stream order, the first a keyframe: the newest keyframe's group at once, then live. Called synchronously. */
  unit(unit: MediaUnit): void;
  /** Once, when the stream cannot go on for this consumer (cut, stopped, unusable): the reason is a sentence for the log. */
  end(reason: string): void;
}

/** How the fan-out reads the source: MediaSource.attach's shape, without importing the source (it owns the fan-out). */
export type AttachTs = (out: Writable, options: { onEnd: (reason: string) => void }) => { detach(): void };

interface Entry {
  consumer: UnitConsumer;
  /** Has had its first keyframe: later units follow. */
  started: boolean;
}

export class UnitFanout {
  private readonly entries = new Set<Entry>();
  private tap?: { out: Writable; detach(): void; demuxer: TsDemuxer };
  /** The units since the newest keyframe (a joiner's start), within the source's cache bound. */
  private gop: MediaUnit[] = [];
  private gopBytes = 0;

  constructor(private readonly attachTs: AttachTs) {}

  /** Sends the stream's units to `consumer` from the newest keyframe, then live; `detach()` stops that. */
  attach(consumer: UnitConsumer): { detach(): void } {
    const entry: Entry = { consumer, started: false };
    this.entries.add(entry);
    if (!this.tap) {
      this.openTap(); // the source sends its cached keyframe group through it at once
    } else if (this.gop.length) {
      entry.started = true;
      for (const unit of this.gop) {
        consumer.unit(unit);
      }
    }
    return { detach: () => this.remove(entry) };
  }

  /** Consumers attached now (for tests and stats). */
  get consumers(): number {
    return this.entries.size;
  }

  private openTap(): void {
    const demuxer = new TsDemuxer();
    const out = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        if (this.tap?.out === out) {
          this.take(demuxer, chunk);
        }
        done();
      },
    });
    // Set before attaching: the source writes its cached group into `out` within attach().
    this.tap = { out, demuxer, detach: () => undefined };
    const attachment = this.attachTs(out, { onEnd: (reason) => this.tap?.out === out && this.endAll(reason) });
    if (this.tap?.out === out) {
      this.tap.detach = () => attachment.detach();
    } else {
      attachment.detach(); // ended while attaching
    }
  }

  private take(demuxer: TsDemuxer, chunk: Buffer): void {
    let units;
    try {
      units = demuxer.push(chunk);
    } catch (err) {
      this.endAll(err instanceof StreamUnusable ? err.message : `the camera's stream could not be read (${(err as Error).message})`);
      return;
    }
    for (const unit of units) {
      if (unit.track === 'keyframe') {
        continue;
      }
      this.keep(unit);
      for (const entry of this.entries) {
        if (!entry.started && unit.track === 'video' && unit.key) {
          entry.started = true;
        }
        if (entry.started) {
          entry.consumer.unit(unit);
        }
      }
    }
  }

  /** The newest keyframe's group, for joiners: a group over the source's cache bound is not kept (they wait for the next). */
  private keep(unit: MediaUnit): void {
    if (unit.track === 'video' && unit.key) {
      this.gop = [];
      this.gopBytes = 0;
    } else if (this.gop.length === 0) {
      return; // nothing decodes before the first keyframe
    }
    this.gopBytes += unit.data.length;
    if (this.gopBytes > SOURCE_CACHE_MAX_BYTES) {
      this.gop = [];
      return;
    }
    this.gop.push(unit);
  }

  private remove(entry: Entry): void {
    if (this.entries.delete(entry) && this.entries.size === 0) {
      this.closeTap();
    }
  }

  private endAll(reason: string): void {
    const ended = [...this.entries];
    this.entries.clear();
    this.closeTap();
    for (const entry of ended) {
      entry.consumer.end(reason);
    }
  }

  private closeTap(): void {
    const tap = this.tap;
    this.tap = undefined;
    this.gop = [];
    this.gopBytes = 0;
    tap?.detach();
  }
}
