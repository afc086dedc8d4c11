import { MinnowError } from './errors.js';

/**
 * Compute dtypes: what tensors hold and kernels run on. float16, bfloat16 and int4/uint4 are storage
 * formats only (see float16.ts, int4.ts): they are converted to a compute dtype when loaded.
 */
export type DType = 'float32' | 'float64' | 'int32' | 'int8' | 'uint8' | 'bool';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int8', 'uint8', 'bool'];

export type TypedArray = Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array;

/** The typed array that holds each dtype; bool is one byte per element, 0 or 1. */
export interface DTypeArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

type TypedArrayConstructor = {
  new (length: number): TypedArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

const CONSTRUCTORS: Record<DType, TypedArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64'];
export const INT_DTYPES: readonly DType[] = ['int32', 'int8', 'uint8'];
export const NUMERIC_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int8', 'uint8'];
export const SIGNED_DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'int8'];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function bytesPerElement(dtype: DType): number {
  return CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
}

export function allocateArray<D extends DType>(dtype: D, length: number): DTypeArrayMap[D] {
  return new CONSTRUCTORS[dtype](length) as DTypeArrayMap[D];
}

/** A typed array of `dtype` viewing `buffer` (no copy). */
export function viewArray<D extends DType>(
  dtype: D,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
): DTypeArrayMap[D] {
  return new CONSTRUCTORS[dtype](buffer, byteOffset, length) as DTypeArrayMap[D];
}

/** The dtype a typed array holds natively (Uint8Array reads as uint8, never bool). */
export function dtypeOfArray(array: TypedArray): DType {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof Int8Array) return 'int8';
  if (array instanceof Uint8Array) return 'uint8';
  throw new MinnowError('UNSUPPORTED_DTYPE', `unsupported typed array ${Object.prototype.toString.call(array)}`);
}

export function isTypedArray(value: unknown): value is TypedArray {
  return (
    value instanceof Float32Array ||
    value instanceof Float64Array ||
    value instanceof Int32Array ||
    value instanceof Int8Array ||
    value instanceof Uint8Array
  );
}

/** Throws UNSUPPORTED_DTYPE unless `dtype` is one of `allowed`; `what` names the op or argument. */
export function assertDType(what: string, dtype: DType, allowed: readonly DType[]): void {
  if (!allowed.includes(dtype)) {
    throw new MinnowError(
      'UNSUPPORTED_DTYPE',
      `${what}: dtype ${dtype} is not supported (expected one of ${allowed.join(', ')})`,
    );
  }
}

/** The representable range of an integer dtype, used for saturation. */
export function integerRange(dtype: DType): { min: number; max: number } {
  switch (dtype) {
    case 'int8':
      return { min: -128, max: 127 };
    case 'uint8':
      return { min: 0, max: 255 };
    case 'int32':
      return { min: -2147483648, max: 2147483647 };
    case 'bool':
      return { min: 0, max: 1 };
    default:
      throw new MinnowError('UNSUPPORTED_DTYPE', `integerRange: ${dtype} is not an integer dtype`);
  }
}
