// Hands out pieces of large buffers ("slabs") instead of allocating one Buffer per socket read, NAL unit or TS access
// unit. A Buffer larger than Node's pool (4 KiB) is an ArrayBuffer of its own: malloc'ed, registered with V8 as external
// memory and freed by the garbage collector's sweeper threads. A camera's read made about 90 of those a second (each
// socket read copied out, each FU-A NAL unit, each muxed video frame), and they, not the parsing, were most of its CPU
// (measured: the plugin's read of a 2 Mb/s camera at 2 % of a core, half of it in allocation and V8's helper threads).
//
// A piece is a view into its slab and stays valid for as long as anyone holds it: slabs are never reused, only dropped
// by the garbage collector once no piece of them is held. So whoever keeps a piece (the keyframe cache keeps seconds of
// TS) keeps its slab: at most one slab more than the pieces themselves need, since pieces are handed out in order.

export class Slab {
  private buf: Buffer;
  private used = 0;

  /** `slabBytes`: the size of each slab; a piece larger than that gets a slab of its own size. */
  constructor(private readonly slabBytes: number) {
    this.buf = Buffer.allocUnsafeSlow(slabBytes);
  }

  /** `bytes` bytes to write into (uninitialised), yours to keep. */
  take(bytes: number): Buffer {
    if (this.buf.length - this.used < bytes) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, bytes));
      this.used = 0;
    }
    const piece = this.buf.subarray(this.used, this.used + bytes);
    this.used += bytes;
    return piece;
  }

  /**
   * The free space of the current slab to read into, at least `minBytes` of it (a new slab when less is left); nothing
   * is taken until commit(). Consecutive reads so land next to each other, and a frame cut between two reads is one
   * view again (RtspWireReader joins views that touch).
   */
  space(minBytes: number): Buffer {
    if (this.buf.length - this.used < minBytes) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, minBytes));
      this.used = 0;
    }
    return this.buf.subarray(this.used);
  }

  /** Takes the first `bytes` of the last space(): returns them as a piece. */
  commit(bytes: number): Buffer {
    return this.take(bytes);
  }
}
