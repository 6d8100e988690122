// JPEG dimensions from the frame header (SOFn marker), without decoding: enough to tell which stream a snapshot is from.

export interface JpegSize {
  width: number;
  height: number;
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range but are not frame headers (ITU T.81 B.1.1.3). */
const isStartOfFrame = (marker: number): boolean => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/** Markers that stand alone, without a length: TEM, RST0..7 (SOI and EOI are handled by the walk itself). */
const isStandalone = (marker: number): boolean => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

/**
 * Width and height from the first frame header, or undefined when the buffer is not a JPEG or has none before the
 * image data. Walks the segment lengths, so each step moves forward and the walk ends within the buffer.
 */
export function jpegSize(buf: Buffer): JpegSize | undefined {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) {
    return undefined;
  }
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) {
      return undefined; // lost sync: not a well-formed header section
    }
    const marker = buf[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (isStandalone(marker)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) {
      return undefined; // end of image, or start of scan before any frame header
    }
    const length = buf.readUInt16BE(i + 2);
    if (length < 2) {
      return undefined;
    }
    if (isStartOfFrame(marker)) {
      if (i + 9 > buf.length) {
        return undefined;
      }
      const height = buf.readUInt16BE(i + 5);
      const width = buf.readUInt16BE(i + 7);
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    i += 2 + length;
  }
  return undefined;
}
