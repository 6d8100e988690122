// A small reorder buffer in front of a depacketizer: RTP packets released in sequence order (RFC 3550 §5.1: the
// sequence number exists so that a receiver can restore the order and see losses). Over UDP a network or a camera's
// own sender may swap packets; without this a swapped packet looks like a loss, and the H.264 depacketizer drops every
// frame up to the next IDR (a whole GOP for one swap). A packet ahead of the next expected one is held, up to
// REORDER_MAX_PACKETS sequence numbers ahead and REORDER_MAX_WAIT_MS waited, whichever bound comes first; then the hole is given up on and the
// packets after it are released, so the depacketizer sees the gap and applies its loss handling (no broken frame passed
// on). Packets behind the release point (late ones whose place was given up, and duplicates) are dropped. In order,
// which is nearly always, a packet goes straight through: no copy, no timer, no clock read.
import { isSequenceRestart, RtpPacket, sequenceGap } from './rtp';

/** Most packets held while waiting for a missing one (packets): a 1080p keyframe is 100-200 packets, a P-frame 5-20. */
export const REORDER_MAX_PACKETS = 32;
/** Longest wait for a missing packet (ms): a swap in a LAN comes within a millisecond or two; a frame is 33-66 ms. */
export const REORDER_MAX_WAIT_MS = 40;

export interface ReorderOptions {
  /** Each packet, in sequence order; a hole given up on shows as a jump in the sequence. */
  onPacket: (packet: RtpPacket) => void;
  maxPackets?: number;
  maxWaitMs?: number;
}

export interface ReorderStats {
  /** Packets that arrived ahead of a missing one and were held. */
  held: number;
  /** Holes filled within the bounds: packets that came out of order and were put back in it. */
  filled: number;
  /** Holes given up on (each one a loss the depacketizer then sees). */
  gaps: number;
  /** Packets that came after their place was given up on. */
  late: number;
  /** Packets that came twice. */
  duplicates: number;
}

export class ReorderBuffer {
  readonly stats: ReorderStats = { held: 0, filled: 0, gaps: 0, late: 0, duplicates: 0 };
  private readonly maxPackets: number;
  private readonly maxWaitMs: number;
  /** Held packets by sequence number modulo the slot count, a power of two (so it divides 2^16 and the wrap keeps the
   *  slots in order) of at least maxPackets (the window holds maxPackets - 1: no two of its packets share a slot). */
  private readonly slots: (RtpPacket | undefined)[];
  private readonly mask: number;
  private readonly arrivals: number[];
  private count = 0;
  private expected?: number;
  /** When the oldest packet now held arrived (ms, Date.now()). */
  private waitingSince = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: ReorderOptions) {
    this.maxPackets = Math.min(0x4000, Math.max(1, options.maxPackets ?? REORDER_MAX_PACKETS));
    this.maxWaitMs = options.maxWaitMs ?? REORDER_MAX_WAIT_MS;
    const size = 2 ** Math.ceil(Math.log2(this.maxPackets));
    this.mask = size - 1;
    this.slots = new Array<RtpPacket | undefined>(size).fill(undefined);
    this.arrivals = new Array<number>(size).fill(0);
  }

  push(packet: RtpPacket): void {
    if (this.closed) {
      return;
    }
    if (this.expected === undefined) {
      this.expected = packet.sequence;
    }
    let gap = sequenceGap(this.expected, packet.sequence);
    if (gap < 0) {
      if (!isSequenceRestart(gap)) {
        this.stats.late++;
        return;
      }
      // The sender started over (a camera's encoder restart): what is held is released, and the stream goes on from here.
      this.releaseAll();
      this.expected = packet.sequence;
      gap = 0;
    }
    if (gap === 0) {
      this.release(packet);
      if (this.count > 0) {
        this.stats.filled++;
        this.drain();
      }
      return;
    }
    if (gap >= this.maxPackets) {
      // Too far ahead to hold beside what waits: every hole before it is a loss. What is held goes first (all of it is
      // before this packet), then this one, after the jump the depacketizer will see.
      this.releaseAll();
      if (sequenceGap(this.expected as number, packet.sequence) > 0) {
        this.stats.gaps++;
      }
      this.release(packet);
      return;
    }
    const slot = packet.sequence & this.mask;
    if (this.slots[slot] !== undefined) {
      this.stats.duplicates++;
      return;
    }
    const now = Date.now();
    this.slots[slot] = packet;
    this.arrivals[slot] = now;
    this.stats.held++;
    if (this.count++ === 0) {
      this.waitingSince = now;
      this.arm();
    } else if (now - this.waitingSince >= this.maxWaitMs) {
      this.giveUp();
    }
  }

  /** Releases nothing more and stops the timer; what is held is dropped (the read is ending). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.slots.fill(undefined);
    this.count = 0;
  }

  private release(packet: RtpPacket): void {
    this.expected = (packet.sequence + 1) & 0xffff;
    this.options.onPacket(packet);
  }

  /** Releases the held packets that now follow in order. */
  private drain(): void {
    for (;;) {
      const slot = (this.expected as number) & this.mask;
      const next = this.slots[slot];
      if (next === undefined || next.sequence !== this.expected) {
        break;
      }
      this.slots[slot] = undefined;
      this.count--;
      this.release(next);
      if (this.closed) {
        return;
      }
    }
    if (this.count === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else {
      // Another hole: its wait began when the oldest packet still held arrived.
      this.waitingSince = Math.min(...this.arrivals.filter((_, i) => this.slots[i] !== undefined));
      this.arm();
    }
  }

  /** The hole at `expected` is a loss: the next held packet is released (the depacketizer sees the jump), and what follows. */
  private giveUp(): void {
    for (let k = 1; k < this.maxPackets && this.count > 0; k++) {
      const seq = ((this.expected as number) + k) & 0xffff;
      const held = this.slots[seq & this.mask];
      if (held !== undefined && held.sequence === seq) {
        this.stats.gaps++;
        this.expected = seq;
        this.drain();
        return;
      }
    }
    this.slots.fill(undefined); // not reached: every held packet is within the window
    this.count = 0;
  }

  private releaseAll(): void {
    while (this.count > 0 && !this.closed) {
      this.giveUp();
    }
  }

  private arm(): void {
    clearTimeout(this.timer);
    const due = Math.max(0, this.waitingSince + this.maxWaitMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.count > 0 && !this.closed) {
        this.giveUp();
      }
    }, due);
  }
}
