import { MinnowError, sizeOf as sizeOfShape } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import { dataTypeName } from '../../../ir/tensor.js';
import type { HostData } from '../../value.js';

/**
 * Host arrays in the form values keep them (what `tensorValues` gives: int64 as BigInt64Array,
 * float16 decoded to Float32Array, bool as 0/1 bytes), and the index arithmetic the movement ops
 * share between host and device: a row-major layout, and strided walks over it.
 */

export { sizeOf as sizeOfShape, contiguousStrides as rowMajorStrides } from '@minnow/core';

/** The flat positions a strided view (shape, strides and offset in elements) reads, in row-major order of `shape`. */
export function stridedPositions(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const out = new Int32Array(sizeOfShape(shape));
  if (out.length === 0) return out;
  const rank = shape.length;
  const counter = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = at;
    for (let d = rank - 1; d >= 0; d--) {
      at += strides[d];
      if (++counter[d] < shape[d]) break;
      at -= strides[d] * shape[d];
      counter[d] = 0;
    }
  }
  return out;
}

type HostConstructor = new (length: number) => HostData;

const CONSTRUCTORS: Partial<Record<number, HostConstructor>> = {
  [DataType.FLOAT]: Float32Array,
  [DataType.FLOAT16]: Float32Array,
  [DataType.BFLOAT16]: Float32Array,
  [DataType.DOUBLE]: Float64Array,
  [DataType.INT64]: BigInt64Array,
  [DataType.UINT64]: BigUint64Array,
  [DataType.INT32]: Int32Array,
  [DataType.UINT32]: Uint32Array,
  [DataType.INT16]: Int16Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT8]: Int8Array,
  [DataType.INT4]: Int8Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.UINT4]: Uint8Array,
  [DataType.BOOL]: Uint8Array,
};

/** A zeroed host array for `length` elements of ONNX type `elemType`; `where` names the value for the error. */
export function allocateHost(elemType: number, length: number, where: string): HostData {
  const ctor = CONSTRUCTORS[elemType];
  if (ctor === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: ${where}: element type ${dataTypeName(elemType)} is not computed by minnow`);
  return new ctor(length);
}

/** A host array of `elemType` filled with `value` (a number; int64 and uint64 take it as a BigInt). */
export function filledHost(elemType: number, length: number, value: number | bigint, where: string): HostData {
  const out = allocateHost(elemType, length, where);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) out.fill(BigInt(value));
  else (out as Float64Array).fill(Number(value));
  return out;
}

const isBigArray = (a: HostData): a is BigInt64Array | BigUint64Array => a instanceof BigInt64Array || a instanceof BigUint64Array;

/** `fill` in the element form of `like` (BigInt for 64-bit integer arrays). */
function elementOf(like: HostData, fill: number): number | bigint {
  return isBigArray(like) ? BigInt(Math.trunc(fill)) : fill;
}

/** out[i] = data[positions[i]], or `fill` where the position is negative. */
export function takeHost(data: HostData, positions: Int32Array, fill = 0): HostData {
  const out = new (data.constructor as HostConstructor)(positions.length) as unknown as { [i: number]: number | bigint };
  const src = data as unknown as { [i: number]: number | bigint };
  const filler = elementOf(data, fill);
  for (let i = 0; i < positions.length; i++) out[i] = positions[i] < 0 ? filler : src[positions[i]];
  return out as unknown as HostData;
}
