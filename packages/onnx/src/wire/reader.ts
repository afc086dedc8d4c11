import { MinnowError } from '@minnow/core';

/** Protobuf wire types this codec reads: varint, fixed64, length-delimited, fixed32 (groups 3/4 are refused). */
export type WireType = 0 | 1 | 2 | 5;

const TWO_32 = 4294967296;
const utf8 = new TextDecoder('utf-8');

/**
 * Protobuf wire-format reader over a Uint8Array. It never copies: `bytes()` returns a subarray of the
 * input, and a nested message is read by narrowing the readable range (`enter`/`leave`), so every
 * offset it reports is an offset into the original input. Every length and count is checked against
 * the bytes that remain before anything is allocated; every failure is a MinnowError CORRUPT_FILE
 * naming the byte offset and the field path (`path`, a stack the caller pushes field names onto).
 */
export class ProtoReader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;
  /** Field path for error messages, outermost first; callers push and pop names as they descend. */
  readonly path: string[];
  /** Wire type of the tag `tag()` read last. */
  wireType: WireType = 0;
  /** Low and high 32 bits (unsigned) of the varint `varint64()` read last. */
  private lo = 0;
  private hi = 0;

  constructor(bytes: Uint8Array, root = 'message', start = 0, end = bytes.length) {
    // A plain Uint8Array view even when given a Node Buffer, whose slice() would not copy.
    this.buf = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
    this.path = [root];
  }

  /** A MinnowError CORRUPT_FILE: `onnx: <message> at byte <offset> (field <path>)`. */
  error(message: string, at = this.pos): MinnowError {
    return new MinnowError('CORRUPT_FILE', `onnx: ${message} at byte ${at} (field ${this.path.join('.')})`);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Reads a tag; returns the field number and sets `wireType`. Groups and wire types 6/7 are refused. */
  tag(): number {
    const at = this.pos;
    this.varint64();
    if (this.hi !== 0 || this.lo > 0xffffffff) throw this.error('tag does not fit 32 bits', at);
    const wire = this.lo & 7;
    const field = this.lo >>> 3;
    if (field === 0) throw this.error('field number 0', at);
    if (wire === 3 || wire === 4) throw this.error(`field ${field} uses a group (wire type ${wire}), which this reader refuses`, at);
    if (wire > 5) throw this.error(`field ${field} has invalid wire type ${wire}`, at);
    this.wireType = wire as WireType;
    return field;
  }

  /** Reads a varint of up to 10 bytes into lo/hi; more bytes, or bits beyond 64, are corrupt. */
  private varint64(): void {
    const buf = this.buf;
    const end = this.end;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= end) throw this.error('truncated varint', this.pos);
      b = buf[p++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        this.pos = p;
        return;
      }
    }
    if (p >= end) throw this.error('truncated varint', this.pos);
    b = buf[p++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (p >= end) throw this.error('truncated varint', this.pos);
        b = buf[p++];
        if (shift === 31) {
          if (b > 1) throw this.error('varint longer than 64 bits', this.pos);
          hi |= b << 31;
          break;
        }
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    this.pos = p;
  }

  /** An unsigned varint as a number; a value above 2^53 - 1 is an error naming `what`. */
  uint64Number(what = 'integer'): number {
    const at = this.pos;
    this.varint64();
    if (this.hi >= 0x200000) throw this.error(`${what} ${this.bigU()} does not fit a JS number (above 2^53 - 1)`, at);
    return this.hi * TWO_32 + this.lo;
  }

  /** A signed (two's-complement) int64 varint as a number; outside ±(2^53 - 1) is an error naming `what`. */
  int64Number(what = 'integer'): number {
    const at = this.pos;
    this.varint64();
    const h = this.hi | 0;
    if (h >= 0x200000 || h < -0x200000) throw this.error(`${what} ${BigInt.asIntN(64, this.bigU())} does not fit a JS number (beyond ±2^53)`, at);
    const v = h * TWO_32 + this.lo;
    if (!Number.isSafeInteger(v)) throw this.error(`${what} ${v} does not fit a JS number (beyond ±2^53)`, at);
    return v;
  }

  private bigU(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  uint64(): bigint {
    this.varint64();
    return this.hi === 0 ? BigInt(this.lo) : this.bigU();
  }

  int64(): bigint {
    this.varint64();
    return this.hi === 0 ? BigInt(this.lo) : BigInt.asIntN(64, this.bigU());
  }

  /** int32/enum: the low 32 bits, signed (negative values are written as 10-byte varints). */
  int32(): number {
    this.varint64();
    return this.lo | 0;
  }

  uint32(): number {
    this.varint64();
    return this.lo;
  }

  bool(): boolean {
    this.varint64();
    return (this.lo | this.hi) !== 0;
  }

  /** sint32 (zigzag). */
  sint32(): number {
    this.varint64();
    const n = this.lo;
    return (n >>> 1) ^ -(n & 1);
  }

  /** sint64 (zigzag). */
  sint64(): bigint {
    const n = this.uint64();
    return (n >> 1n) ^ -(n & 1n);
  }

  private need(bytes: number, what: string): number {
    if (this.end - this.pos < bytes) throw this.error(`truncated ${what}: needs ${bytes} bytes, ${this.end - this.pos} remain`);
    const at = this.pos;
    this.pos += bytes;
    return at;
  }

  private dataView?: DataView;

  private view(): DataView {
    return (this.dataView ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  fixed32(): number {
    const p = this.need(4, 'fixed32');
    const b = this.buf;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
  }

  sfixed32(): number {
    return this.fixed32() | 0;
  }

  float(): number {
    return this.view().getFloat32(this.need(4, 'float'), true);
  }

  fixed64(): bigint {
    return this.view().getBigUint64(this.need(8, 'fixed64'), true);
  }

  sfixed64(): bigint {
    return this.view().getBigInt64(this.need(8, 'sfixed64'), true);
  }

  double(): number {
    return this.view().getFloat64(this.need(8, 'double'), true);
  }

  /** A length prefix, checked against the bytes that remain in the current range. */
  length(): number {
    const at = this.pos;
    this.varint64();
    const remaining = this.end - this.pos;
    if (this.hi !== 0 || this.lo > remaining) {
      throw this.error(`length ${this.hi === 0 ? this.lo : this.bigU()} exceeds the ${remaining} bytes that remain`, at);
    }
    return this.lo;
  }

  /** A length-delimited field's bytes, as a view on the input (no copy). */
  bytes(): Uint8Array {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  string(): string {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    if (n === 0) return '';
    return utf8.decode(this.buf.subarray(start, start + n));
  }

  /** Narrows the readable range to the next length-delimited field; returns the outer end for `leave`. */
  enter(): number {
    const n = this.length();
    const outer = this.end;
    this.end = this.pos + n;
    return outer;
  }

  /** Restores the range `enter` narrowed; the nested message must have been read to its end. */
  leave(outerEnd: number): void {
    if (this.pos !== this.end) throw this.error('nested message not read to its end');
    this.end = outerEnd;
  }

  /** Skips a field's value of the given wire type (the tag already read). */
  skip(wireType: WireType = this.wireType): void {
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.need(8, 'fixed64');
        return;
      case 2: {
        const n = this.length();
        this.pos += n;
        return;
      }
      case 5:
        this.need(4, 'fixed32');
        return;
    }
  }

  /**
   * The count of varints in `[this.pos, this.pos + n)`, a packed field's body: the bytes without a
   * continuation bit. The last byte must end a varint, so a truncated element is caught here.
   */
  packedVarintCount(n: number): number {
    const buf = this.buf;
    const end = this.pos + n;
    let count = 0;
    for (let p = this.pos; p < end; p++) if (buf[p] < 0x80) count++;
    if (n > 0 && buf[end - 1] >= 0x80) throw this.error('packed varints end inside a varint', end - 1);
    return count;
  }

  /**
   * Reads one element of a repeated scalar field, or a whole packed run of them, calling `read` for
   * each value. `fixedSize` is 4 or 8 for fixed32/fixed64/float/double, 0 for varints.
   */
  repeated(fixedSize: 0 | 4 | 8, read: () => void): void {
    const scalarWire = fixedSize === 0 ? 0 : fixedSize === 4 ? 5 : 1;
    if (this.wireType === scalarWire) {
      read();
      return;
    }
    if (this.wireType !== 2) throw this.error(`wire type ${this.wireType} where a repeated scalar (wire type ${scalarWire} or 2) belongs`);
    const at = this.pos;
    const outer = this.enter();
    if (fixedSize !== 0 && (this.end - this.pos) % fixedSize !== 0) {
      throw this.error(`packed field of ${this.end - this.pos} bytes is not a multiple of ${fixedSize}`, at);
    }
    while (this.pos < this.end) read();
    this.leave(outer);
  }
}
