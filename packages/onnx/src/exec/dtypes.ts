import { MinnowError, type DType } from '@minnow/core';
import { DataType } from '../ir/types.js';
import { dataTypeName } from '../ir/tensor.js';

/**
 * How ONNX element types are computed on minnow's engine. minnow's compute dtypes are float32,
 * float64, int32, int8, uint8 and bool; the other ONNX types ride on the nearest one, and the value
 * keeps its ONNX type so outputs, Cast and type-dependent ops still see what the model declared:
 *
 * - float16 and bfloat16 compute in float32 (results are rounded back to the type at Cast and at
 *   the graph's outputs).
 * - int64, uint32, uint64, int16 and uint16 compute in int32. Values are checked when they enter
 *   the engine: one outside int32 is an error (PRECISION_LIMIT), except that shape-like inputs
 *   (Slice bounds, Reshape shapes, axes ...) are read on the host as exact numbers and never
 *   squeezed. Integer arithmetic then wraps at 32 bits, not at the declared width.
 * - int4 and uint4 compute in int8 and uint8.
 * - strings, complex numbers and the float8/float4 types are not computed: an op that meets one
 *   fails with UNSUPPORTED_DTYPE naming the node.
 */
const COMPUTE: Partial<Record<number, DType>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float32',
  [DataType.BFLOAT16]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int32',
  [DataType.UINT32]: 'int32',
  [DataType.UINT64]: 'int32',
  [DataType.INT16]: 'int32',
  [DataType.UINT16]: 'int32',
  [DataType.INT8]: 'int8',
  [DataType.INT4]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.UINT4]: 'uint8',
  [DataType.BOOL]: 'bool',
};

/** The ONNX type each compute dtype stands for when nothing else says. */
const NATURAL: Record<DType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int32: DataType.INT32,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

export function isComputable(elemType: number): boolean {
  return COMPUTE[elemType] !== undefined;
}

/** The compute dtype of an ONNX element type; `where` names the value for the error. */
export function computeDType(elemType: number, where: string): DType {
  const dtype = COMPUTE[elemType];
  if (dtype === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: ${where}: element type ${dataTypeName(elemType)} is not computed by minnow`);
  return dtype;
}

export function naturalType(dtype: DType): number {
  return NATURAL[dtype];
}

/** Integer range an ONNX type holds exactly, for the types minnow narrows (undefined: no check needed). */
export function exactIntegerRange(elemType: number): readonly [number, number] | undefined {
  switch (elemType) {
    case DataType.INT16: return [-32768, 32767];
    case DataType.UINT16: return [0, 65535];
    case DataType.INT4: return [-8, 7];
    case DataType.UINT4: return [0, 15];
    default: return undefined;
  }
}

export const isFloatType = (elemType: number): boolean =>
  elemType === DataType.FLOAT || elemType === DataType.DOUBLE || elemType === DataType.FLOAT16 || elemType === DataType.BFLOAT16;

export const isIntegerType = (elemType: number): boolean => {
  const dtype = COMPUTE[elemType];
  return dtype === 'int32' || dtype === 'int8' || dtype === 'uint8';
};

export const isUnsignedType = (elemType: number): boolean =>
  elemType === DataType.UINT8 || elemType === DataType.UINT16 || elemType === DataType.UINT32 || elemType === DataType.UINT64 || elemType === DataType.UINT4;
