import { MinnowError, decodeBFloat16, decodeFloat16, formatShape } from '@minnow/core';
import { dtypeBytes, elementCount, isSafetensorsDtype, whyDtypeUnsupported, type SafetensorsDtype, type SafetensorsTensor } from './dtypes.js';

/** What `safetensorsValues` returns. */
export type SafetensorsValues =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

type TypedArrayCtor = { new (buffer: ArrayBuffer, offset: number, length: number): SafetensorsValues; BYTES_PER_ELEMENT: number };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The array type that holds each dtype's stored form (before float16/bfloat16 decoding). */
const STORAGE: Record<SafetensorsDtype, TypedArrayCtor> = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array,
  F8_E5M2: Uint8Array, F8_E4M3: Uint8Array, F8_E8M0: Uint8Array, F8_E4M3FNUZ: Uint8Array, F8_E5M2FNUZ: Uint8Array,
  I16: Int16Array, U16: Uint16Array, F16: Uint16Array, BF16: Uint16Array,
  I32: Int32Array, U32: Uint32Array, F32: Float32Array, C64: Float32Array,
  F64: Float64Array, I64: BigInt64Array, U64: BigUint64Array,
};

/** Reverses each `size`-byte element: little-endian bytes to the machine's order or back, on a big-endian machine. */
function swapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  return out;
}

/**
 * A tensor's values: F32/F64 and the integer types as their typed arrays, F16 and BF16 decoded to
 * Float32Array, I64/U64 as BigInt64Array/BigUint64Array, BOOL as Uint8Array (0/1), C64 as
 * interleaved (re, im) Float32Array, the float8 types as their raw 8-bit codes. A view on the
 * tensor's bytes when they are aligned (do not modify it), else a copy.
 */
export function safetensorsValues(tensor: SafetensorsTensor): SafetensorsValues {
  const ctor = STORAGE[tensor.dtype];
  const size = ctor.BYTES_PER_ELEMENT;
  let bytes = tensor.data;
  if (!LITTLE_ENDIAN && size > 1) bytes = swapped(bytes, size);
  else if (bytes.byteOffset % size !== 0) bytes = bytes.slice();
  const stored = new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length / size);
  if (tensor.dtype === 'F16') return decodeFloat16(stored as Uint16Array);
  if (tensor.dtype === 'BF16') return decodeBFloat16(stored as Uint16Array);
  return stored;
}

/**
 * A tensor from values already in the dtype's stored form (a Float32Array for F32, a Uint16Array of
 * float16 bits for F16 ...; any typed array of the right byte length works): the bytes are shared,
 * not copied, on a little-endian machine.
 */
export function safetensorsTensor(dtype: SafetensorsDtype, shape: readonly number[], values: ArrayBufferView): SafetensorsTensor {
  if (!isSafetensorsDtype(dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `safetensorsTensor: ${whyDtypeUnsupported(String(dtype))}`);
  const count = elementCount(shape);
  if (count === undefined) throw new MinnowError('INVALID_SHAPE', `safetensorsTensor: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  const size = dtypeBytes(dtype);
  let data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (data.length !== count * size) {
    throw new MinnowError('INVALID_SHAPE', `safetensorsTensor: ${dtype} ${formatShape(shape)} needs ${count * size} bytes, the values hold ${data.length}`);
  }
  // The stored element width decides the byte order (C64 is two float32s per element).
  const width = STORAGE[dtype].BYTES_PER_ELEMENT;
  if (!LITTLE_ENDIAN && width > 1) data = swapped(data, width);
  return { dtype, shape: [...shape], data };
}
