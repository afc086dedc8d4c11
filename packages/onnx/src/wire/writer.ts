import { MinnowError } from '@minnow/core';

const utf8 = new TextEncoder();
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Blobs and nested messages at least this large are kept by reference until `finish`, not copied. */
const ADOPT_BYTES = 1024;

/**
 * Protobuf wire-format writer (proto3/proto2 share the encoding). Fields are appended in the order
 * written; nested messages are written by a callback into a child writer, so their length prefix
 * is known. Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 *
 * Large blobs and large nested messages are kept by reference (not copied) until `finish()`, which
 * copies everything once; so a blob must not be modified between `blob()` and `finish()`.
 */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(256);
  private start = 0;
  private used = 0;
  private total = 0;
  private scratch = new DataView(new ArrayBuffer(8));

  get byteLength(): number {
    return this.total;
  }

  private flush(): void {
    if (this.used > this.start) this.chunks.push(this.current.subarray(this.start, this.used));
    this.start = this.used;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.current.length) return;
    this.flush();
    this.current = new Uint8Array(Math.max(bytes, 4096, Math.min(this.current.length * 2, 1 << 20)));
    this.start = 0;
    this.used = 0;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.current[this.used++] = b;
    this.total++;
  }

  /** An unsigned varint up to 2^53 - 1 (or any uint64 as a bigint); a negative int64 as its 10-byte two's-complement form. */
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
    this.reserve(10);
    const buf = this.current;
    let p = this.used;
    while (v >= 0x80) {
      buf[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[p++] = v;
    this.total += p - this.used;
    this.used = p;
    return this;
  }

  /** A zigzag-encoded signed varint (sint32/sint64). */
  zigzag(value: number | bigint): this {
    const v = BigInt(value);
    return this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  tag(field: number, wireType: 0 | 1 | 2 | 5): this {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new MinnowError('INVALID_ARGUMENT', `ProtoWriter.tag: field number ${field} is outside 1..2^29-1`);
    }
    return this.varint(field * 8 + wireType);
  }

  bytes(data: Uint8Array): this {
    if (data.length >= ADOPT_BYTES) {
      this.flush();
      this.chunks.push(data);
      this.total += data.length;
      return this;
    }
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

  /** Field `field` as a sint32/sint64 (zigzag) varint. */
  sint(field: number, value: number | bigint): this {
    return this.tag(field, 0).zigzag(value);
  }

  /** The 4 little-endian bytes of a fixed32/float, without a tag. */
  rawFixed32(value: number, kind: 'uint' | 'int' | 'float' = 'float'): this {
    const s = this.scratch;
    if (kind === 'float') s.setFloat32(0, value, true);
    else if (kind === 'int') s.setInt32(0, value, true);
    else s.setUint32(0, value, true);
    return this.bytes(new Uint8Array(s.buffer, 0, 4));
  }

  /** The 8 little-endian bytes of a fixed64/double, without a tag. */
  rawFixed64(value: number | bigint): this {
    const s = this.scratch;
    if (typeof value === 'number') s.setFloat64(0, value, true);
    else s.setBigUint64(0, BigInt.asUintN(64, value), true);
    return this.bytes(new Uint8Array(s.buffer, 0, 8));
  }

  float(field: number, value: number): this {
    return this.tag(field, 5).rawFixed32(value, 'float');
  }

  double(field: number, value: number): this {
    return this.tag(field, 1).rawFixed64(value);
  }

  fixed32(field: number, value: number, signed = false): this {
    return this.tag(field, 5).rawFixed32(value, signed ? 'int' : 'uint');
  }

  fixed64(field: number, value: bigint): this {
    return this.tag(field, 1).rawFixed64(value);
  }

  string(field: number, value: string): this {
    const encoded = utf8.encode(value);
    return this.tag(field, 2).varint(encoded.length).bytes(encoded);
  }

  /** A length-delimited bytes field. */
  blob(field: number, data: Uint8Array): this {
    return this.tag(field, 2).varint(data.length).bytes(data);
  }

  /** A nested message, written by `body` into a fresh writer (taken over without a copy when large). */
  message(field: number, body: (w: ProtoWriter) => void): this {
    const child = new ProtoWriter();
    body(child);
    this.tag(field, 2).varint(child.total);
    if (child.total < ADOPT_BYTES) return this.bytes(child.finish());
    child.flush();
    this.flush();
    for (const c of child.chunks) this.chunks.push(c);
    this.total += child.total;
    return this;
  }

  /** Repeated varints, packed. */
  packedInts(field: number, values: ArrayLike<number | bigint>): this {
    const child = new ProtoWriter();
    for (let i = 0; i < values.length; i++) child.varint(values[i]);
    return this.blob(field, child.finish());
  }

  /** Repeated floats (4 bytes each) or doubles (8), packed, little-endian on any platform. */
  packedFloats(field: number, values: ArrayLike<number>, bytesPer: 4 | 8 = 4): this {
    this.tag(field, 2).varint(values.length * bytesPer);
    if (LITTLE_ENDIAN && (values instanceof Float32Array ? bytesPer === 4 : values instanceof Float64Array && bytesPer === 8)) {
      const view = values as Float32Array | Float64Array;
      // A copy, so later changes to `values` cannot reach the output.
      return this.bytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice());
    }
    const out = new Uint8Array(values.length * bytesPer);
    const dv = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) {
      if (bytesPer === 4) dv.setFloat32(i * 4, values[i], true);
      else dv.setFloat64(i * 8, values[i], true);
    }
    return this.bytes(out);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    out.set(this.current.subarray(this.start, this.used), at);
    return out;
  }
}
