import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError } from '@minnow/core';
import { encodeIdx, parseIdx, type IdxDType } from '@minnow/nn';
import { expectMinnowError, runs } from '../helpers/reference.js';

const VALUE: Record<IdxDType, fc.Arbitrary<number>> = {
  uint8: fc.integer({ min: 0, max: 255 }),
  int8: fc.integer({ min: -128, max: 127 }),
  int16: fc.integer({ min: -32768, max: 32767 }),
  int32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  float32: fc.float(),
  float64: fc.double(),
};

const arbIdx = fc
  .record({
    dtype: fc.constantFrom<IdxDType>('uint8', 'int8', 'int16', 'int32', 'float32', 'float64'),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 }),
  })
  .chain(({ dtype, shape }) =>
    fc.array(VALUE[dtype], { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })
      .map((data) => ({ dtype, shape, data })));

/** parseIdx either returns a consistent array or throws a MinnowError; anything else fails the property. */
function parseOrMinnowError(bytes: Uint8Array): void {
  let result;
  try {
    result = parseIdx(bytes, 'fuzz.idx');
  } catch (error) {
    if (!(error instanceof MinnowError)) throw error;
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toMatch(/fuzz\.idx: .*\(byte offset \d+, file length \d+\)/);
    return;
  }
  expect(result.data.length).toBe(result.shape.reduce((a, b) => a * b, 1));
}

const header = (code: number, dims: number[]): number[] => [
  0, 0, code, dims.length, ...dims.flatMap((d) => [(d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255]),
];

describe('IDX format', () => {
  it('random valid files round-trip', () => {
    fc.assert(fc.property(arbIdx, ({ dtype, shape, data }) => {
      const bytes = encodeIdx({ dtype, shape, data });
      const size = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 }[dtype];
      expect(bytes.length).toBe(4 + 4 * shape.length + size * data.length);
      const parsed = parseIdx(bytes);
      expect(parsed.dtype).toBe(dtype);
      expect(parsed.shape).toEqual(shape);
      const expected = dtype === 'float32' ? data.map(Math.fround) : data;
      expect([...parsed.data]).toEqual(expected);
    }), runs(5201, 200));
  });

  it('is big-endian, as MNIST writes it', () => {
    const parsed = parseIdx(Uint8Array.from([...header(0x0c, [2]), 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]));
    expect([...parsed.data]).toEqual([258, -2]);
    const bytes = Uint8Array.from([7, ...header(0x08, [1, 2]), 9, 10]).subarray(1); // at a byte offset
    expect(parseIdx(bytes)).toMatchObject({ dtype: 'uint8', shape: [1, 2] });
    expect([...parseIdx(bytes).data]).toEqual([9, 10]);
  });

  it('every truncation is a MinnowError naming a byte offset', () => {
    fc.assert(fc.property(arbIdx, fc.nat(), ({ dtype, shape, data }, cut) => {
      const bytes = encodeIdx({ dtype, shape, data });
      const truncated = bytes.subarray(0, cut % bytes.length);
      expect(() => parseIdx(truncated, 'cut.idx')).toThrow(MinnowError);
      expect(() => parseIdx(truncated, 'cut.idx')).toThrow(/cut\.idx: .*byte offset \d+/);
    }), runs(5202, 200));
  });

  it('corrupted bytes give a consistent array or a MinnowError, never a crash', () => {
    fc.assert(fc.property(arbIdx, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: -3, max: 3 }), ({ dtype, shape, data }, edits, resize) => {
      const original = encodeIdx({ dtype, shape, data });
      const bytes = new Uint8Array(Math.max(0, original.length + resize));
      bytes.set(original.subarray(0, bytes.length));
      for (const [at, value] of edits) if (bytes.length > 0) bytes[at % Math.min(bytes.length, 24)] = value; // mostly the header
      parseOrMinnowError(bytes);
    }), runs(5203, 300));
  });

  it('random bytes give a consistent array or a MinnowError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x42), fc.integer({ min: 0, max: 5 }), (tail, code, rank) => {
      parseOrMinnowError(tail);
      parseOrMinnowError(Uint8Array.from([0, 0, code, rank, ...tail]));
    }), runs(5204, 300));
  });

  it('huge dimensions are refused before anything is allocated', () => {
    const max = 0xffffffff;
    const hostile = Uint8Array.from([...header(0x0e, [max, max, max, max]), 1, 2, 3]);
    expectMinnowError(() => parseIdx(hostile, 'huge.idx'), 'CORRUPT_FILE', 'huge.idx', 'truncated data', 'byte offset 20', 'only 3 present');
    // A zero dimension makes the product 0 however large the others are.
    expect(parseIdx(Uint8Array.from(header(0x08, [max, 0, max])))).toMatchObject({ shape: [max, 0, max], data: new Uint8Array(0) });
  });

  it('names the field at fault', () => {
    expectMinnowError(() => parseIdx(new Uint8Array(3)), 'CORRUPT_FILE', 'magic number', 'byte offset 0');
    expectMinnowError(() => parseIdx(Uint8Array.of(0x1f, 0x8b, 8, 0)), 'CORRUPT_FILE', 'gunzip it first');
    expectMinnowError(() => parseIdx(Uint8Array.of(0, 0, 0x0a, 1, 0, 0, 0, 0)), 'CORRUPT_FILE', 'dtype code 0x0a', 'byte offset 2');
    expectMinnowError(() => parseIdx(Uint8Array.of(0, 0, 8, 2, 0, 0, 0, 1)), 'CORRUPT_FILE', 'truncated header', 'byte offset 4');
    expectMinnowError(() => parseIdx(Uint8Array.from([...header(0x0b, [2]), 0, 1, 0, 2, 9])), 'CORRUPT_FILE', '1 trailing bytes', 'byte offset 12');
    expectMinnowError(() => parseIdx([0, 0, 8, 0] as unknown as Uint8Array), 'INVALID_ARGUMENT', 'Uint8Array');
    expect(parseIdx(Uint8Array.from(header(0x08, [0, 5]))).data.length).toBe(0);
  });

  it('encodeIdx refuses what IDX cannot hold', () => {
    expectMinnowError(() => encodeIdx({ dtype: 'uint8', shape: [2], data: [1] }), 'INVALID_SHAPE', '[2]');
    expectMinnowError(() => encodeIdx({ dtype: 'uint8', shape: [2 ** 32], data: [] }), 'INVALID_SHAPE');
    expectMinnowError(() => encodeIdx({ dtype: 'bool' as IdxDType, shape: [0], data: [] }), 'UNSUPPORTED_DTYPE', 'bool');
  });
});
