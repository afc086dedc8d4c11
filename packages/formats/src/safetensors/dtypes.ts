import { DataType } from '@minnow/onnx';

/**
 * The safetensors element types minnow reads and writes. Every one is a whole number of bytes per
 * element; the float8 types and C64 are carried as raw bytes (minnow does not compute on them, but
 * copies them faithfully, and maps each onto the ONNX type of the same encoding).
 */
export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ'
  | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'C64' | 'F64' | 'I64' | 'U64';

/** One tensor of a safetensors file: `data` holds its little-endian, row-major bytes. */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** The tensor's bytes. From parseSafetensors, a view on the file's bytes (not a copy): do not modify it. */
  readonly data: Uint8Array;
}

/** A parsed safetensors file: tensors in data-offset order, and the `__metadata__` map (empty when absent). */
export interface SafetensorsFile {
  readonly tensors: Map<string, SafetensorsTensor>;
  readonly metadata: Record<string, string>;
}

interface DtypeInfo {
  readonly bytes: number;
  /**
   * The reference implementation's order of its Dtype enum (sub-byte types included, so the ranks
   * match it): it writes tensors by descending rank, then name, so wide types come first and stay
   * aligned.
   */
  readonly rank: number;
  readonly onnx: number;
}

const INFO: Record<SafetensorsDtype, DtypeInfo> = {
  BOOL: { bytes: 1, rank: 0, onnx: DataType.BOOL },
  U8: { bytes: 1, rank: 4, onnx: DataType.UINT8 },
  I8: { bytes: 1, rank: 5, onnx: DataType.INT8 },
  F8_E5M2: { bytes: 1, rank: 6, onnx: DataType.FLOAT8E5M2 },
  F8_E4M3: { bytes: 1, rank: 7, onnx: DataType.FLOAT8E4M3FN },
  F8_E8M0: { bytes: 1, rank: 8, onnx: DataType.FLOAT8E8M0 },
  F8_E4M3FNUZ: { bytes: 1, rank: 9, onnx: DataType.FLOAT8E4M3FNUZ },
  F8_E5M2FNUZ: { bytes: 1, rank: 10, onnx: DataType.FLOAT8E5M2FNUZ },
  I16: { bytes: 2, rank: 11, onnx: DataType.INT16 },
  U16: { bytes: 2, rank: 12, onnx: DataType.UINT16 },
  F16: { bytes: 2, rank: 13, onnx: DataType.FLOAT16 },
  BF16: { bytes: 2, rank: 14, onnx: DataType.BFLOAT16 },
  I32: { bytes: 4, rank: 15, onnx: DataType.INT32 },
  U32: { bytes: 4, rank: 16, onnx: DataType.UINT32 },
  F32: { bytes: 4, rank: 17, onnx: DataType.FLOAT },
  C64: { bytes: 8, rank: 18, onnx: DataType.COMPLEX64 },
  F64: { bytes: 8, rank: 19, onnx: DataType.DOUBLE },
  I64: { bytes: 8, rank: 20, onnx: DataType.INT64 },
  U64: { bytes: 8, rank: 21, onnx: DataType.UINT64 },
};

/** Types the format defines that pack several elements into a byte; minnow refuses them by name. */
const SUB_BYTE = new Set(['F4', 'F6_E2M3', 'F6_E3M2']);

export const SAFETENSORS_DTYPES = Object.keys(INFO) as SafetensorsDtype[];

export function isSafetensorsDtype(name: string): name is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(INFO, name);
}

/** Why a dtype name is refused, for the error message. */
export function whyDtypeUnsupported(name: string): string {
  if (SUB_BYTE.has(name)) return `${name} packs several elements per byte, which minnow does not read`;
  return `'${name}' is not a safetensors dtype minnow knows (known: ${SAFETENSORS_DTYPES.join(', ')})`;
}

export function dtypeBytes(dtype: SafetensorsDtype): number {
  return INFO[dtype].bytes;
}

export function dtypeRank(dtype: SafetensorsDtype): number {
  return INFO[dtype].rank;
}

/** The ONNX TensorProto.DataType with the same encoding. */
export function onnxDataTypeOf(dtype: SafetensorsDtype): number {
  return INFO[dtype].onnx;
}

/** The safetensors dtype with the same encoding as an ONNX data type, or undefined (string, int4, float4, complex128 ...). */
export function safetensorsDtypeOf(onnxDataType: number): SafetensorsDtype | undefined {
  return SAFETENSORS_DTYPES.find((d) => INFO[d].onnx === onnxDataType);
}

/** The element count of a shape; undefined when a dim is not a non-negative safe integer or the product passes 2^53. */
export function elementCount(shape: readonly unknown[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return undefined;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}
