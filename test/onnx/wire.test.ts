import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError } from '@minnow/core';
import { ProtoReader, ProtoWriter } from '@minnow/onnx';
import { expectMinnowError, runs } from '../helpers/reference.js';

// A schema-free message: each entry says how its field is encoded, so the decoder below knows what
// to expect, and a generic skipper can walk the same bytes knowing nothing.
type Entry =
  | { field: number; kind: 'uint64' | 'int64' | 'sint64' | 'fixed64' | 'sfixed64'; value: bigint }
  | { field: number; kind: 'int32' | 'sint32' | 'fixed32' | 'sfixed32' | 'float' | 'double'; value: number }
  | { field: number; kind: 'bytes'; value: Uint8Array }
  | { field: number; kind: 'string'; value: string }
  | { field: number; kind: 'packedVarints'; value: bigint[] }
  | { field: number; kind: 'packedFloats'; value: number[] }
  | { field: number; kind: 'message'; value: Entry[] };

const fieldNumber = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2 ** 29 - 1 }));
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

const scalar: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({ field: fieldNumber, kind: fc.constant('uint64' as const), value: u64 }),
  fc.record({ field: fieldNumber, kind: fc.constantFrom('int64' as const, 'sint64' as const, 'sfixed64' as const), value: i64 }),
  fc.record({ field: fieldNumber, kind: fc.constant('fixed64' as const), value: u64 }),
  fc.record({ field: fieldNumber, kind: fc.constantFrom('int32' as const, 'sint32' as const, 'sfixed32' as const), value: i32 }),
  fc.record({ field: fieldNumber, kind: fc.constant('fixed32' as const), value: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('float' as const), value: fc.float({ noNaN: true }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('double' as const), value: fc.double({ noNaN: true }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('bytes' as const), value: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('string' as const), value: fc.string({ unit: 'grapheme', maxLength: 12 }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('packedVarints' as const), value: fc.array(u64, { maxLength: 8 }) }),
  fc.record({ field: fieldNumber, kind: fc.constant('packedFloats' as const), value: fc.array(fc.float({ noNaN: true }), { maxLength: 8 }) }),
);

const { message: arbMessage } = fc.letrec<{ message: Entry[]; entry: Entry }>((tie) => ({
  message: fc.array(tie('entry'), { maxLength: 6 }),
  entry: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, fc.record({ field: fieldNumber, kind: fc.constant('message' as const), value: tie('message') as fc.Arbitrary<Entry[]> })),
}));

function encode(w: ProtoWriter, message: Entry[]): ProtoWriter {
  for (const e of message) {
    switch (e.kind) {
      case 'uint64': case 'int64': case 'int32': w.int(e.field, e.value); break;
      case 'sint64': case 'sint32': w.sint(e.field, e.value); break;
      case 'fixed64': case 'sfixed64': w.fixed64(e.field, e.value); break;
      case 'fixed32': w.fixed32(e.field, e.value); break;
      case 'sfixed32': w.fixed32(e.field, e.value, true); break;
      case 'float': w.float(e.field, e.value); break;
      case 'double': w.double(e.field, e.value); break;
      case 'bytes': w.blob(e.field, e.value); break;
      case 'string': w.string(e.field, e.value); break;
      case 'packedVarints': w.packedInts(e.field, e.value); break;
      case 'packedFloats': w.packedFloats(e.field, e.value); break;
      case 'message': w.message(e.field, (c) => encode(c, e.value)); break;
    }
  }
  return w;
}

/** What the shape-driven decoder throws when the bytes hold other fields than it expects. */
class ShapeMismatch extends Error {}

/** Decodes `r`'s range expecting exactly the entries of `shape`, in order. */
function decode(r: ProtoReader, shape: Entry[]): Entry[] {
  const out: Entry[] = [];
  for (const e of shape) {
    const field = r.tag();
    if (field !== e.field) throw new ShapeMismatch(`field ${field} where ${e.field} was expected`);
    const f = e.field;
    switch (e.kind) {
      case 'uint64': out.push({ field: f, kind: e.kind, value: r.uint64() }); break;
      case 'int64': out.push({ field: f, kind: e.kind, value: r.int64() }); break;
      case 'sint64': out.push({ field: f, kind: e.kind, value: r.sint64() }); break;
      case 'fixed64': out.push({ field: f, kind: e.kind, value: r.fixed64() }); break;
      case 'sfixed64': out.push({ field: f, kind: e.kind, value: r.sfixed64() }); break;
      case 'int32': out.push({ field: f, kind: e.kind, value: r.int32() }); break;
      case 'sint32': out.push({ field: f, kind: e.kind, value: r.sint32() }); break;
      case 'fixed32': out.push({ field: f, kind: e.kind, value: r.fixed32() }); break;
      case 'sfixed32': out.push({ field: f, kind: e.kind, value: r.sfixed32() }); break;
      case 'float': out.push({ field: f, kind: e.kind, value: r.float() }); break;
      case 'double': out.push({ field: f, kind: e.kind, value: r.double() }); break;
      case 'bytes': out.push({ field: f, kind: e.kind, value: new Uint8Array(r.bytes()) }); break;
      case 'string': out.push({ field: f, kind: e.kind, value: r.string() }); break;
      case 'packedVarints': {
        const value: bigint[] = [];
        r.repeated(0, () => value.push(r.uint64()));
        out.push({ field: f, kind: e.kind, value });
        break;
      }
      case 'packedFloats': {
        const value: number[] = [];
        r.repeated(4, () => value.push(r.float()));
        out.push({ field: f, kind: e.kind, value });
        break;
      }
      case 'message': {
        const outer = r.enter();
        out.push({ field: f, kind: e.kind, value: decode(r, e.value) });
        r.leave(outer);
        break;
      }
    }
  }
  if (!r.done()) throw new ShapeMismatch(`${r.remaining} bytes left over`);
  return out;
}

/** Walks a message knowing no schema, skipping every field; returns the top-level field boundaries. */
function skipAll(bytes: Uint8Array): number[] {
  const r = new ProtoReader(bytes);
  const boundaries = [0];
  while (!r.done()) {
    r.tag();
    r.skip();
    boundaries.push(r.pos);
  }
  return boundaries;
}

function boundariesOf(message: Entry[]): number[] {
  const w = new ProtoWriter();
  const out = [0];
  for (const e of message) out.push(encode(w, [e]).byteLength);
  return out;
}

/** Runs `fn`; a MinnowError CORRUPT_FILE is fine, anything else (TypeError, RangeError ...) fails. */
function corruptOrFine(fn: () => void): 'ok' | 'corrupt' {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (error instanceof MinnowError && error.code === 'CORRUPT_FILE') return 'corrupt';
    throw error;
  }
}

describe('protobuf wire codec', () => {
  it('random messages round-trip: varints to 64 bits, zigzag, fixed32/64, floats, bytes, strings, packed, nested', () => {
    fc.assert(fc.property(arbMessage, (message) => {
      const bytes = encode(new ProtoWriter(), message).finish();
      expect(decode(new ProtoReader(bytes), message)).toEqual(message);
      expect(skipAll(bytes)).toEqual(boundariesOf(message));
    }), runs(6101, 300));
  });

  it('every truncation is CORRUPT_FILE unless it falls on a field boundary', () => {
    fc.assert(fc.property(arbMessage, (message) => {
      const bytes = encode(new ProtoWriter(), message).finish();
      const boundaries = boundariesOf(message);
      for (let cut = 0; cut < bytes.length; cut++) {
        const prefix = bytes.subarray(0, cut);
        const whole = boundaries.filter((b) => b <= cut).length - 1;
        const atBoundary = boundaries.includes(cut);
        expect(corruptOrFine(() => skipAll(prefix))).toBe(atBoundary ? 'ok' : 'corrupt');
        // The schema-aware decoder: the whole entries decode, the torn one is CORRUPT_FILE.
        expect(corruptOrFine(() => decode(new ProtoReader(prefix), message.slice(0, atBoundary ? whole : whole + 1)))).toBe(atBoundary ? 'ok' : 'corrupt');
      }
    }), runs(6102, 60));
  });

  it('corrupted bytes give a result or CORRUPT_FILE, never another error', () => {
    const corruption = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(arbMessage, corruption, (message, edits) => {
      const bytes = encode(new ProtoWriter(), message).finish();
      if (bytes.length === 0) return;
      for (const { at, value } of edits) bytes[at % bytes.length] = value;
      corruptOrFine(() => skipAll(bytes));
      try {
        decode(new ProtoReader(bytes), message);
      } catch (error) {
        // Bytes that still parse but hold other fields than the shape says are fine here too.
        if (!(error instanceof MinnowError && error.code === 'CORRUPT_FILE') && !(error instanceof ShapeMismatch)) throw error;
      }
    }), runs(6103, 300));
  });

  it('refuses a length beyond the bytes that remain before allocating (a 2^40-byte claim)', () => {
    const w = new ProtoWriter().tag(3, 2).varint(2 ** 40);
    const bytes = new Uint8Array([...w.finish(), 1, 2, 3]);
    const r = new ProtoReader(bytes, 'test');
    r.tag();
    expectMinnowError(() => r.bytes(), 'CORRUPT_FILE', 'length 1099511627776 exceeds the 3 bytes that remain', 'at byte 1', '(field test)');
    const big = new ProtoWriter().tag(3, 2).varint(2n ** 63n).finish();
    const r2 = new ProtoReader(big);
    r2.tag();
    expectMinnowError(() => r2.enter(), 'CORRUPT_FILE', 'exceeds the 0 bytes that remain');
  });

  it('refuses varints longer than 10 bytes or beyond 64 bits, groups, wire types 6/7 and field 0', () => {
    const eleven = new ProtoReader(new Uint8Array([...Array(10).fill(0xff), 0x01]));
    expectMinnowError(() => eleven.uint64(), 'CORRUPT_FILE', 'varint longer than 64 bits');
    const overflow = new ProtoReader(new Uint8Array([...Array(9).fill(0xff), 0x02]));
    expectMinnowError(() => overflow.uint64(), 'CORRUPT_FILE', 'varint longer than 64 bits');
    expect(new ProtoReader(new Uint8Array([...Array(9).fill(0xff), 0x01])).uint64()).toBe(2n ** 64n - 1n);
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x0b])).tag(), 'CORRUPT_FILE', 'group (wire type 3)');
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x0c])).tag(), 'CORRUPT_FILE', 'group (wire type 4)');
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x0e])).tag(), 'CORRUPT_FILE', 'invalid wire type 6');
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x0f])).tag(), 'CORRUPT_FILE', 'invalid wire type 7');
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x02, 0x00])).tag(), 'CORRUPT_FILE', 'field number 0');
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x80, 0x80])).uint32(), 'CORRUPT_FILE', 'truncated varint at byte 0');
  });

  it('int64 as a JS number: a safe fast path, and a clear error beyond 2^53', () => {
    const encoded = (v: bigint): ProtoReader => new ProtoReader(new ProtoWriter().varint(v).finish(), 'model.irVersion');
    expect(encoded(2n ** 53n - 1n).uint64Number()).toBe(2 ** 53 - 1);
    expect(encoded(-(2n ** 53n) + 1n).int64Number()).toBe(-(2 ** 53) + 1);
    expect(encoded(-1n).int64Number()).toBe(-1);
    expect(encoded(-1n).int32()).toBe(-1);
    expectMinnowError(() => encoded(2n ** 53n).uint64Number('ir_version'), 'CORRUPT_FILE', 'ir_version 9007199254740992 does not fit a JS number', '(field model.irVersion)');
    expectMinnowError(() => encoded(-(2n ** 60n)).int64Number('dim'), 'CORRUPT_FILE', 'dim -1152921504606846976 does not fit a JS number');
    expectMinnowError(() => encoded(2n ** 63n).int64Number(), 'CORRUPT_FILE', '-9223372036854775808 does not fit');
  });

  it('repeated scalars read packed and unpacked alike; a packed run must hold whole values', () => {
    const unpacked = new ProtoWriter().int(4, 1).int(4, 300).int(4, -2n).finish();
    const packed = new ProtoWriter().packedInts(4, [1, 300, -2n]).finish();
    for (const bytes of [unpacked, packed]) {
      const r = new ProtoReader(bytes);
      const values: bigint[] = [];
      while (!r.done()) {
        r.tag();
        r.repeated(0, () => values.push(r.int64()));
      }
      expect(values).toEqual([1n, 300n, -2n]);
    }
    const torn = new ProtoReader(new Uint8Array([0x22, 0x02, 0x01, 0x80]));
    torn.tag();
    expectMinnowError(() => torn.repeated(0, () => torn.uint64()), 'CORRUPT_FILE', 'truncated varint');
    expect(new ProtoReader(new Uint8Array([0x01, 0x80])).packedVarintCount(1)).toBe(1);
    expectMinnowError(() => new ProtoReader(new Uint8Array([0x01, 0x80])).packedVarintCount(2), 'CORRUPT_FILE', 'end inside a varint');
    const oddFloats = new ProtoReader(new Uint8Array([0x22, 0x03, 0, 0, 0]));
    oddFloats.tag();
    expectMinnowError(() => oddFloats.repeated(4, () => oddFloats.float()), 'CORRUPT_FILE', 'not a multiple of 4');
    const wrongWire = new ProtoReader(new Uint8Array([0x25, 0, 0, 0, 0]));
    wrongWire.tag();
    expectMinnowError(() => wrongWire.repeated(0, () => wrongWire.uint64()), 'CORRUPT_FILE', 'wire type 5');
  });

  it('a nested message must be read to its end, and cannot run past its parent', () => {
    const r = new ProtoReader(new Uint8Array([0x0a, 0x02, 0x08, 0x01, 0x10, 0x05]));
    r.tag();
    const outer = r.enter();
    expect(r.end).toBe(4);
    expectMinnowError(() => r.leave(outer), 'CORRUPT_FILE', 'not read to its end');
    const inner = new ProtoReader(new Uint8Array([0x0a, 0x01, 0x08, 0x01]));
    inner.tag();
    inner.enter();
    inner.tag();
    expectMinnowError(() => inner.uint32(), 'CORRUPT_FILE', 'truncated varint at byte 3');
  });

  it('ProtoWriter refuses field numbers outside 1..2^29-1 and unsafe numbers', () => {
    expectMinnowError(() => new ProtoWriter().tag(0, 0), 'INVALID_ARGUMENT', 'field number 0');
    expectMinnowError(() => new ProtoWriter().tag(2 ** 29, 0), 'INVALID_ARGUMENT');
    expectMinnowError(() => new ProtoWriter().varint(2 ** 53), 'INVALID_ARGUMENT', 'not a safe integer');
  });

  it('large blobs and messages are adopted without a copy until finish()', () => {
    const blob = new Uint8Array(20_000).map((_, i) => i % 251);
    const w = new ProtoWriter().string(1, 'x').message(2, (m) => m.blob(9, blob).int(3, 7));
    const r = new ProtoReader(w.finish());
    expect(r.tag()).toBe(1);
    expect(r.string()).toBe('x');
    expect(r.tag()).toBe(2);
    const outer = r.enter();
    expect(r.tag()).toBe(9);
    expect(r.bytes()).toEqual(blob);
    expect(r.tag()).toBe(3);
    expect(r.uint32()).toBe(7);
    r.leave(outer);
    expect(r.done()).toBe(true);
  });
});
