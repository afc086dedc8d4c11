import { MinnowError, encodeFloat16 } from '@minnow/core';
import { DataType, dataTypeName, makeTensor, type HostData, type TensorProto } from '@minnow/onnx';
import type { NpyArray, NpyData, NpyDType } from './npy.js';

/** .npy arrays as ONNX tensors and back: the form `minnow run` feeds and writes. */

const TO_ONNX: Record<NpyDType, number> = {
  float16: DataType.FLOAT16, float32: DataType.FLOAT, float64: DataType.DOUBLE,
  int8: DataType.INT8, int16: DataType.INT16, int32: DataType.INT32, int64: DataType.INT64,
  uint8: DataType.UINT8, uint16: DataType.UINT16, uint32: DataType.UINT32, uint64: DataType.UINT64, bool: DataType.BOOL,
};

export function npyToTensorProto(array: NpyArray, name: string): TensorProto {
  const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return makeTensor(name, TO_ONNX[array.dtype], array.shape, bytes);
}

/** Values of an ONNX element type (as `Value.hostData()` or `tensorValues` give them) as a .npy array. */
export function valuesToNpy(elemType: number, shape: readonly number[], values: HostData): NpyArray {
  const dtype = (Object.entries(TO_ONNX).find(([, t]) => t === elemType)?.[0] as NpyDType | undefined)
    ?? (elemType === DataType.BFLOAT16 ? 'float32' : undefined);
  if (dtype === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `npy: ${dataTypeName(elemType)} values have no .npy form`);
  let data: NpyData;
  switch (dtype) {
    case 'float16': data = encodeFloat16(values as Float32Array); break;
    case 'float32': data = Float32Array.from(values as ArrayLike<number>); break;
    case 'float64': data = Float64Array.from(values as ArrayLike<number>); break;
    case 'int8': data = Int8Array.from(values as ArrayLike<number>); break;
    case 'int16': data = Int16Array.from(values as ArrayLike<number>); break;
    case 'int32': data = Int32Array.from(values as ArrayLike<number>); break;
    case 'int64': data = BigInt64Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v)); break;
    case 'uint8': case 'bool': data = Uint8Array.from(values as ArrayLike<number>); break;
    case 'uint16': data = Uint16Array.from(values as ArrayLike<number>); break;
    case 'uint32': data = Uint32Array.from(values as ArrayLike<number>); break;
    case 'uint64': data = BigUint64Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v)); break;
  }
  return { dtype, shape, data };
}
