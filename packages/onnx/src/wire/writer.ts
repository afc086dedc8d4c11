import { MinnowError } from '@minnow/core';

/**
 * Protobuf wire-format writer (proto3/proto2 share the encoding). Fields are appended in the order
 * written; nested messages are written by a callback into a child writer, so their length prefix
 * is known. Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(256);
  private used = 0;
  private total = 0;

  get byteLength(): number {
    return this.total;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.current.length) return;
    if (this.used > 0) this.chunks.push(this.current.subarray(0, this.used));
    this.current = new Uint8Array(Math.max(bytes, 4096, this.current.length * 2));
    this.used = 0;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.current[this.used++] = b;
    this.total++;
  }

  /** An unsigned varint up to 2^53 - 1, or a negative int64 as its 10-byte two's-complement form. */
  varint(value: number | bigint): this {
    let v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : value;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new MinnowError('INVALID_ARGUMENT', `ProtoWriter.varint: ${v} is not a safe integer`);
      if (v < 0) v = BigInt.asUintN(64, BigInt(v));
    }
    if (typeof v === 'bigint') {
      while (v >= 0x80n) {
        this.byte(Number(v & 0x7fn) | 0x80);
        v >>= 7n;
      }
      this.byte(Number(v));
      return this;
    }
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
    return this;
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): this {
    return this.varint(field * 8 + wireType);
  }

  bytes(data: Uint8Array): this {
    this.reserve(data.length);
    this.current.set(data, this.used);
    this.used += data.length;
    this.total += data.length;
    return this;
  }

  /** Field `field` as an int64/int32/enum/bool varint. */
  int(field: number, value: number | bigint | boolean): this {
    return this.tag(field, 0).varint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.tag(field, 5).bytes(b);
  }

  string(field: number, value: string): this {
    const encoded = new TextEncoder().encode(value);
    return this.tag(field, 2).varint(encoded.length).bytes(encoded);
  }

  /** A length-delimited bytes field. */
  blob(field: number, data: Uint8Array): this {
    return this.tag(field, 2).varint(data.length).bytes(data);
  }

  /** A nested message, written by `body` into a fresh writer. */
  message(field: number, body: (w: ProtoWriter) => void): this {
    const child = new ProtoWriter();
    body(child);
    return this.blob(field, child.finish());
  }

  /** Repeated varints, packed. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const child = new ProtoWriter();
    for (const v of values) child.varint(v);
    return this.blob(field, child.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    out.set(this.current.subarray(0, this.used), at);
    return out;
  }
}
