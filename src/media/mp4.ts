// Cuts ffmpeg's fragmented MP4 output into what HomeKit Secure Video sends: the init segment (ftyp + moov), then one
// packet per fragment (moof + mdat, with any styp/sidx before them). Top-level boxes only: nothing is parsed inside.

export interface Mp4Packet {
  kind: 'init' | 'fragment';
  data: Buffer;
}

/** Largest box accepted (bytes): a 4 s fragment of 8 Mbps video is 4 MB; more means a broken stream. */
const MAX_BOX_BYTES = 64 * 1024 * 1024;

export class Mp4Fragmenter {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private pending: Buffer[] = [];
  private sawInit = false;

  /** Feeds bytes; returns the packets they complete. Throws on a stream that is not MP4. */
  push(chunk: Buffer): Mp4Packet[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const out: Mp4Packet[] = [];
    for (let box = this.nextBox(); box; box = this.nextBox()) {
      const type = box.toString('latin1', 4, 8);
      this.pending.push(box);
      if (type === 'moov') {
        out.push({ kind: 'init', data: Buffer.concat(this.pending) });
        this.pending = [];
        this.sawInit = true;
      } else if (type === 'mdat' && this.sawInit) {
        out.push({ kind: 'fragment', data: Buffer.concat(this.pending) });
        this.pending = [];
      }
    }
    return out;
  }

  private nextBox(): Buffer | undefined {
    if (this.bufferedBytes < 8) {
      return undefined;
    }
    if (this.buffered.length > 1) {
      this.buffered = [Buffer.concat(this.buffered)];
    }
    const data = this.buffered[0];
    let size = data.readUInt32BE(0);
    let header = 8;
    if (size === 1) {
      if (data.length < 16) {
        return undefined;
      }
      size = Number(data.readBigUInt64BE(8));
      header = 16;
    }
    if (size < header || size > MAX_BOX_BYTES) {
      throw new Error(`not a fragmented MP4 stream (box "${data.toString('latin1', 4, 8)}" of ${size} bytes)`);
    }
    if (data.length < size) {
      return undefined;
    }
    const box = data.subarray(0, size);
    const rest = data.subarray(size);
    this.buffered = rest.length ? [rest] : [];
    this.bufferedBytes = rest.length;
    return box;
  }
}
