import { MinnowError } from '@minnow/core';

/**
 * Byte and bit streams of the compact container. Bits are packed most significant first (the order
 * canonical Huffman codes are read in), the last byte padded with zero bits. Every read is checked
 * against the end of its stream and fails with CORRUPT_FILE naming what was being read, so no
 * length in a damaged file can make a reader run past its input.
 */

export function corrupt(message: string): MinnowError {
  return new MinnowError('CORRUPT_FILE', `compact: ${message}`);
}

/** A growable byte buffer for the writer. */
export class ByteWriter {
  private bytes = new Uint8Array(256);
  private used = 0;

  get length(): number {
    return this.used;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.used + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.used));
    this.bytes = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.used++] = value;
  }

  /** An unsigned LEB128 varint (7 bits a byte, low bits first), at most 2^32 - 1. */
  varint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new MinnowError('INTERNAL', `compact: varint ${value} out of range`);
    let v = value;
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }

  u32(value: number): void {
    this.reserve(4);
    new DataView(this.bytes.buffer).setUint32(this.used, value >>> 0, true);
    this.used += 4;
  }

  /** float32 values, little-endian. */
  float32s(values: Float32Array): void {
    this.reserve(values.length * 4);
    if (LITTLE_ENDIAN) {
      this.bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), this.used);
    } else {
      const view = new DataView(this.bytes.buffer);
      for (let i = 0; i < values.length; i++) view.setFloat32(this.used + 4 * i, values[i], true);
    }
    this.used += values.length * 4;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.used);
    this.used += bytes.length;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.used);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads the container's bytes front to back; every read checks the bytes left first. */
export class ByteReader {
  private at: number;

  constructor(private readonly bytes: Uint8Array, start = 0, private readonly end = bytes.length) {
    this.at = start;
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.end - this.at;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.at) throw corrupt(`${what} at byte ${this.at} needs ${n} bytes, ${this.end - this.at} are left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.at++];
  }

  varint(what: string): number {
    const start = this.at;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.at >= this.end) throw corrupt(`${what} at byte ${start}: the varint runs past the end`);
      const b = this.bytes[this.at++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        if (value > 0xffffffff) throw corrupt(`${what} at byte ${start}: varint ${value} is over 2^32 - 1`);
        if (b === 0 && shift > 0) throw corrupt(`${what} at byte ${start}: the varint has a redundant trailing byte`);
        return value;
      }
    }
    throw corrupt(`${what} at byte ${start}: the varint is longer than 5 bytes`);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4).getUint32(0, true);
    this.at += 4;
    return v;
  }

  /** `n` bytes as a view on the input. */
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** `n` little-endian float32 values (a copy, so the result is aligned and owned). */
  float32s(n: number, what: string): Float32Array {
    if (n > Math.floor((this.end - this.at) / 4)) this.need(n * 4, what);
    const bytes = this.take(n * 4, what);
    const out = new Float32Array(n);
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(bytes);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    }
    return out;
  }
}

/** Bits, most significant first, into bytes. */
export class BitWriter {
  private readonly out = new ByteWriter();
  private acc = 0;
  private filled = 0;
  private total = 0;

  /** Bits written so far. */
  get bitLength(): number {
    return this.total;
  }

  /** The low `n` bits of `value` (n <= 24), most significant first. */
  bits(value: number, n: number): void {
    for (let i = n - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >>> i) & 1);
      if (++this.filled === 8) {
        this.out.u8(this.acc);
        this.acc = 0;
        this.filled = 0;
      }
    }
    this.total += n;
  }

  /** The bytes, the last one padded with zero bits. */
  finish(): Uint8Array {
    if (this.filled > 0) this.out.u8(this.acc << (8 - this.filled));
    this.acc = 0;
    this.filled = 0;
    return this.out.finish();
  }
}

/** Reads bits, most significant first, from a byte view; reading past its end is CORRUPT_FILE. */
export class BitReader {
  private at = 0;
  private readonly limit: number;

  constructor(private readonly bytes: Uint8Array, private readonly what: string) {
    this.limit = bytes.length * 8;
  }

  get position(): number {
    return this.at;
  }

  bit(): number {
    if (this.at >= this.limit) throw corrupt(`${this.what}: the bit stream ends early (${this.bytes.length} bytes)`);
    const b = (this.bytes[this.at >>> 3] >>> (7 - (this.at & 7))) & 1;
    this.at++;
    return b;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | this.bit();
    return v >>> 0;
  }

  /** Refuses a stream with bytes or non-zero padding bits left over: each stream has one encoding. */
  expectEnd(): void {
    if (this.limit - this.at >= 8) throw corrupt(`${this.what}: ${Math.floor((this.limit - this.at) / 8)} unused bytes after the last code`);
    while (this.at < this.limit) if (this.bit() !== 0) throw corrupt(`${this.what}: non-zero padding bits after the last code`);
  }
}

/** Bytes ByteWriter.varint spends on `v` (7 bits a byte). */
export function varintBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}
