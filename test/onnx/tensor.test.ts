import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBFloat16, encodeBFloat16, encodeFloat16, packInt4 } from '@minnow/core';
import {
  DataLocation, DataType, diffTensors, int64ToInt32, makeTensor, readTensor, tensorRawBytes, tensorValues, writeTensor,
  type TensorProto,
} from '@minnow/onnx';
import { expectMinnowError, runs } from '../helpers/reference.js';

function tensor(dataType: number, dims: number[], fields: Partial<TensorProto>): TensorProto {
  return { name: 't', dataType, dims, stringData: [], externalData: [], metadataProps: [], ...fields };
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** `bytes` placed at an odd offset of a larger buffer, so a typed view cannot be taken in place. */
function unaligned(bytes: Uint8Array): Uint8Array {
  const host = new Uint8Array(bytes.length + 1);
  host.set(bytes, 1);
  return host.subarray(1);
}

describe('tensorValues', () => {
  // Each case: the data type, raw_data bytes, the typed field that can hold the same values, and the values expected.
  const cases: [string, number, Uint8Array, Partial<TensorProto>, ArrayLike<unknown>][] = [
    ['float32', DataType.FLOAT, bytesOf(new Float32Array([1.5, -0, Number.NaN])), { floatData: new Float32Array([1.5, -0, Number.NaN]) }, new Float32Array([1.5, -0, Number.NaN])],
    ['float64', DataType.DOUBLE, bytesOf(new Float64Array([0.1, -3, 1e300])), { doubleData: new Float64Array([0.1, -3, 1e300]) }, new Float64Array([0.1, -3, 1e300])],
    ['int8', DataType.INT8, bytesOf(new Int8Array([-128, 127, 0])), { int32Data: new Int32Array([-128, 127, 0]) }, new Int8Array([-128, 127, 0])],
    ['uint8', DataType.UINT8, new Uint8Array([0, 255, 7]), { int32Data: new Int32Array([0, 255, 7]) }, new Uint8Array([0, 255, 7])],
    ['int16', DataType.INT16, bytesOf(new Int16Array([-32768, 5, 32767])), { int32Data: new Int32Array([-32768, 5, 32767]) }, new Int16Array([-32768, 5, 32767])],
    ['uint16', DataType.UINT16, bytesOf(new Uint16Array([65535, 1, 0])), { int32Data: new Int32Array([65535, 1, 0]) }, new Uint16Array([65535, 1, 0])],
    ['int32', DataType.INT32, bytesOf(new Int32Array([-(2 ** 31), 2 ** 31 - 1, 3])), { int32Data: new Int32Array([-(2 ** 31), 2 ** 31 - 1, 3]) }, new Int32Array([-(2 ** 31), 2 ** 31 - 1, 3])],
    ['int64', DataType.INT64, bytesOf(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 1n])), { int64Data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 1n]) }, new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 1n])],
    ['uint32', DataType.UINT32, bytesOf(new Uint32Array([2 ** 32 - 1, 0, 9])), { uint64Data: new BigUint64Array([2n ** 32n - 1n, 0n, 9n]) }, new Uint32Array([2 ** 32 - 1, 0, 9])],
    ['uint64', DataType.UINT64, bytesOf(new BigUint64Array([2n ** 64n - 1n, 0n, 2n])), { uint64Data: new BigUint64Array([2n ** 64n - 1n, 0n, 2n]) }, new BigUint64Array([2n ** 64n - 1n, 0n, 2n])],
    ['bool', DataType.BOOL, new Uint8Array([1, 0, 1]), { int32Data: new Int32Array([1, 0, 1]) }, new Uint8Array([1, 0, 1])],
    ['float16', DataType.FLOAT16, bytesOf(encodeFloat16([1, -2.5, 65504])), { int32Data: Int32Array.from(encodeFloat16([1, -2.5, 65504])) }, new Float32Array([1, -2.5, 65504])],
    ['bfloat16', DataType.BFLOAT16, bytesOf(encodeBFloat16([1, -2.5, 3e38])), { int32Data: Int32Array.from(encodeBFloat16([1, -2.5, 3e38])) }, decodeBFloat16(encodeBFloat16([1, -2.5, 3e38]))],
    ['int4', DataType.INT4, packInt4([-8, 7, -1], true), { int32Data: Int32Array.from(packInt4([-8, 7, -1], true)) }, new Int8Array([-8, 7, -1])],
    ['uint4', DataType.UINT4, packInt4([15, 0, 9], false), { int32Data: Int32Array.from(packInt4([15, 0, 9], false)) }, new Uint8Array([15, 0, 9])],
    ['float8e4m3fn', DataType.FLOAT8E4M3FN, new Uint8Array([0x38, 0xc0, 0x7e]), { int32Data: new Int32Array([0x38, 0xc0, 0x7e]) }, new Uint8Array([0x38, 0xc0, 0x7e])],
  ];
  for (const [name, dataType, raw, typed, expected] of cases) {
    it(`${name}: raw_data (aligned and not) and the typed field give the same values`, () => {
      const fromRaw = tensorValues(tensor(dataType, [3], { rawData: raw }));
      expect(fromRaw).toEqual(expected);
      expect(tensorValues(tensor(dataType, [3], { rawData: unaligned(raw) }))).toEqual(expected);
      const fromTyped = tensor(dataType, [3], typed);
      expect(tensorValues(fromTyped)).toEqual(expected);
      // The typed field re-encoded as raw_data is the raw form exactly.
      expect(tensorRawBytes(fromTyped)).toEqual(raw);
      expect(diffTensors(fromTyped, tensor(dataType, [3], { rawData: raw }))).toBeUndefined();
      // And both survive a write and read.
      expect(diffTensors(readTensor(writeTensor(fromTyped)), fromTyped)).toBeUndefined();
    });
  }

  it('complex64/128 as interleaved (re, im); strings as UTF-8 string[]', () => {
    expect(tensorValues(tensor(DataType.COMPLEX64, [2], { floatData: new Float32Array([1, 2, 3, 4]) }))).toEqual(new Float32Array([1, 2, 3, 4]));
    expect(tensorValues(tensor(DataType.COMPLEX128, [1], { rawData: bytesOf(new Float64Array([5, -6])) }))).toEqual(new Float64Array([5, -6]));
    const utf8 = new TextEncoder();
    const strings = tensor(DataType.STRING, [2, 1], { stringData: [utf8.encode('héllo'), utf8.encode('')] });
    expect(tensorValues(strings)).toEqual(['héllo', '']);
    expect(diffTensors(readTensor(writeTensor(strings)), strings)).toBeUndefined();
    expectMinnowError(() => tensorRawBytes(strings), 'UNSUPPORTED_DTYPE', 'no raw_data form');
  });

  it('a raw_data view is zero-copy when aligned', () => {
    const raw = bytesOf(new Float32Array([1, 2]));
    const values = tensorValues(tensor(DataType.FLOAT, [2], { rawData: raw })) as Float32Array;
    expect(values.buffer).toBe(raw.buffer);
    expect((tensorValues(tensor(DataType.FLOAT, [2], { rawData: unaligned(raw) })) as Float32Array).buffer).not.toBe(raw.buffer);
  });

  it('refuses data that does not fit the dims, unknown types, and external data not loaded', () => {
    expectMinnowError(() => tensorValues(tensor(DataType.FLOAT, [2, 3], { rawData: new Uint8Array(20) })), 'CORRUPT_FILE', "tensor 't' (float32 [2,3])", 'raw_data holds 20 bytes, 24 expected');
    expectMinnowError(() => tensorValues(tensor(DataType.INT64, [2], { int64Data: new BigInt64Array(3) })), 'CORRUPT_FILE', 'int64Data holds 3 values, 2 expected');
    expectMinnowError(() => tensorValues(tensor(DataType.FLOAT, [2], {})), 'CORRUPT_FILE', 'floatData holds 0 values, 2 expected');
    expectMinnowError(() => tensorValues(tensor(DataType.FLOAT, [-1], { rawData: new Uint8Array(0) })), 'CORRUPT_FILE', 'dim -1');
    expectMinnowError(() => tensorValues(tensor(99, [1], { rawData: new Uint8Array(1) })), 'UNSUPPORTED_DTYPE', 'data type 99');
    const external = tensor(DataType.FLOAT, [1], { dataLocation: DataLocation.EXTERNAL, externalData: [{ key: 'location', value: 'w.bin' }] });
    expectMinnowError(() => tensorValues(external), 'INVALID_ARGUMENT', "external file 'w.bin', not loaded");
  });

  it('an empty tensor and a scalar', () => {
    expect(tensorValues(tensor(DataType.FLOAT, [0, 4], { rawData: new Uint8Array(0) }))).toEqual(new Float32Array(0));
    expect(tensorValues(tensor(DataType.INT32, [], { int32Data: new Int32Array([7]) }))).toEqual(new Int32Array([7]));
    expect(tensorValues(tensor(DataType.INT4, [0], {}))).toEqual(new Int8Array(0));
  });

  it('int64ToInt32 converts, and refuses values beyond int32', () => {
    expect(int64ToInt32(new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n]))).toEqual(new Int32Array([-(2 ** 31), 2 ** 31 - 1]));
    expectMinnowError(() => int64ToInt32([0n, 2n ** 31n], 'Reshape shape'), 'OUT_OF_RANGE', 'Reshape shape: element 1 is 2147483648, outside int32');
  });

  it('random float32 tensors: makeTensor, write, read, same values', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (dims, seed) => {
      const n = dims.reduce((a, b) => a * b, 1);
      const values = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i) * 1e3));
      const t = makeTensor('r', DataType.FLOAT, dims, bytesOf(values));
      const back = readTensor(writeTensor(t));
      expect(back.dims).toEqual(dims);
      expect(tensorValues(back)).toEqual(values);
    }), runs(6301, 100));
  });
});
