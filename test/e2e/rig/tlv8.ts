// TLV8, the record format of HAP's camera characteristics: an encoder, and a reader that says which field is missing or
// malformed.

/** One field of a TLV8 record. A list value becomes entries of the same type separated by empty type-0 delimiters. */
export type TlvField = readonly [type: number, value: Buffer | number | readonly (Buffer | number)[]];

function pushTlvEntry(parts: Buffer[], type: number, data: Buffer): void {
  if (data.length === 0) {
    parts.push(Buffer.from([type, 0]));
    return;
  }
  // Values over 255 bytes continue in further entries of the same type.
  for (let offset = 0; offset < data.length; offset += 255) {
    const chunk = data.subarray(offset, offset + 255);
    parts.push(Buffer.from([type, chunk.length]), chunk);
  }
}

export function encodeTlv(fields: readonly TlvField[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, value] of fields) {
    const list = Array.isArray(value) ? value as readonly (Buffer | number)[] : [value as Buffer | number];
    list.forEach((item, index) => {
      if (index > 0) {
        parts.push(Buffer.from([0, 0]));
      }
      pushTlvEntry(parts, type, typeof item === 'number' ? Buffer.from([item]) : item);
    });
  }
  return Buffer.concat(parts);
}

export function u16le(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(value);
  return b;
}

export function u32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

export function f32le(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  return b;
}

/** A decoded TLV8 record: entries in order, fragments of one value joined, list delimiters dropped. */
export class Tlv {
  private constructor(readonly items: readonly { type: number; value: Buffer }[], private readonly what: string) {}

  static decode(data: Buffer, what = 'TLV'): Tlv {
    const items: { type: number; value: Buffer }[] = [];
    let lastType = -1;
    let lastLength = -1;
    let offset = 0;
    while (offset < data.length) {
      if (offset + 2 > data.length || offset + 2 + data[offset + 1] > data.length) {
        throw new Error(`${what}: truncated TLV entry at byte ${offset} of ${data.length}`);
      }
      const type = data[offset];
      const length = data[offset + 1];
      const value = data.subarray(offset + 2, offset + 2 + length);
      offset += 2 + length;
      if (type === 0 && length === 0) {
        lastType = -1; // delimiter: the next entry starts a new list item
        continue;
      }
      if (type === lastType && lastLength === 255) {
        const last = items[items.length - 1];
        last.value = Buffer.concat([last.value, value]);
      } else {
        items.push({ type, value });
      }
      lastType = type;
      lastLength = length;
    }
    return new Tlv(items, what);
  }

  /** A characteristic value as HAP JSON carries TLV8: a base64 string. */
  static fromBase64(value: unknown, what: string): Tlv {
    if (typeof value !== 'string') {
      throw new Error(`${what}: expected a base64 TLV8 string, got ${JSON.stringify(value)}`);
    }
    return Tlv.decode(Buffer.from(value, 'base64'), what);
  }

  has(type: number): boolean {
    return this.items.some((i) => i.type === type);
  }

  get(type: number): Buffer | undefined {
    return this.items.find((i) => i.type === type)?.value;
  }

  all(type: number): Buffer[] {
    return this.items.filter((i) => i.type === type).map((i) => i.value);
  }

  require(type: number, name: string): Buffer {
    const value = this.get(type);
    if (value === undefined) {
      throw new Error(`${this.what}: missing ${name} (type ${type}); has types ${this.items.map((i) => i.type).join(',')}`);
    }
    return value;
  }

  /** Little-endian unsigned integer of 1, 2, 4 (or up to 6) bytes. */
  uint(type: number, name: string): number {
    const value = this.require(type, name);
    if (value.length === 0 || value.length > 6) {
      throw new Error(`${this.what}: ${name} has ${value.length} bytes, expected 1 to 6`);
    }
    return value.readUIntLE(0, value.length);
  }

  optionalUint(type: number): number | undefined {
    const value = this.get(type);
    return value && value.length > 0 && value.length <= 6 ? value.readUIntLE(0, value.length) : undefined;
  }

  nested(type: number, name: string): Tlv {
    return Tlv.decode(this.require(type, name), `${this.what}/${name}`);
  }

  nestedAll(type: number, name: string): Tlv[] {
    return this.all(type).map((v, i) => Tlv.decode(v, `${this.what}/${name}[${i}]`));
  }
}
