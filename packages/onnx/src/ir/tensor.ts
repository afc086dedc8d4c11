import { MinnowError, decodeBFloat16, decodeFloat16, formatShape, packedInt4Bytes, unpackInt4 } from '@minnow/core';
import { DataLocation, DataType, type TensorProto } from './types.js';

/** What `tensorValues` returns for each data type. */
export type TensorValues =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array | string[];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder('utf-8');

type Ctor = { new (n: number): TensorValues & ArrayLike<number | bigint>; new (b: ArrayBuffer, o: number, n: number): TensorValues; BYTES_PER_ELEMENT: number };

interface TypeInfo {
  readonly name: string;
  /** Bytes per element in raw_data; 0.5 for the 4-bit types. */
  readonly bytes: number;
  /** The typed field that holds values when raw_data is absent. */
  readonly field: 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData';
}

const INFO: Record<number, TypeInfo> = {
  [DataType.FLOAT]: { name: 'float32', bytes: 4, field: 'floatData' },
  [DataType.UINT8]: { name: 'uint8', bytes: 1, field: 'int32Data' },
  [DataType.INT8]: { name: 'int8', bytes: 1, field: 'int32Data' },
  [DataType.UINT16]: { name: 'uint16', bytes: 2, field: 'int32Data' },
  [DataType.INT16]: { name: 'int16', bytes: 2, field: 'int32Data' },
  [DataType.INT32]: { name: 'int32', bytes: 4, field: 'int32Data' },
  [DataType.INT64]: { name: 'int64', bytes: 8, field: 'int64Data' },
  [DataType.STRING]: { name: 'string', bytes: 0, field: 'stringData' },
  [DataType.BOOL]: { name: 'bool', bytes: 1, field: 'int32Data' },
  [DataType.FLOAT16]: { name: 'float16', bytes: 2, field: 'int32Data' },
  [DataType.DOUBLE]: { name: 'float64', bytes: 8, field: 'doubleData' },
  [DataType.UINT32]: { name: 'uint32', bytes: 4, field: 'uint64Data' },
  [DataType.UINT64]: { name: 'uint64', bytes: 8, field: 'uint64Data' },
  [DataType.COMPLEX64]: { name: 'complex64', bytes: 8, field: 'floatData' },
  [DataType.COMPLEX128]: { name: 'complex128', bytes: 16, field: 'doubleData' },
  [DataType.BFLOAT16]: { name: 'bfloat16', bytes: 2, field: 'int32Data' },
  [DataType.FLOAT8E4M3FN]: { name: 'float8e4m3fn', bytes: 1, field: 'int32Data' },
  [DataType.FLOAT8E4M3FNUZ]: { name: 'float8e4m3fnuz', bytes: 1, field: 'int32Data' },
  [DataType.FLOAT8E5M2]: { name: 'float8e5m2', bytes: 1, field: 'int32Data' },
  [DataType.FLOAT8E5M2FNUZ]: { name: 'float8e5m2fnuz', bytes: 1, field: 'int32Data' },
  [DataType.UINT4]: { name: 'uint4', bytes: 0.5, field: 'int32Data' },
  [DataType.INT4]: { name: 'int4', bytes: 0.5, field: 'int32Data' },
  [DataType.FLOAT4E2M1]: { name: 'float4e2m1', bytes: 0.5, field: 'int32Data' },
  [DataType.FLOAT8E8M0]: { name: 'float8e8m0', bytes: 1, field: 'int32Data' },
};

/** The storage container for raw bytes of each type (before float16/bfloat16/4-bit decoding). */
const RAW: Record<number, Ctor> = {
  [DataType.FLOAT]: Float32Array as unknown as Ctor,
  [DataType.UINT8]: Uint8Array as unknown as Ctor,
  [DataType.INT8]: Int8Array as unknown as Ctor,
  [DataType.UINT16]: Uint16Array as unknown as Ctor,
  [DataType.INT16]: Int16Array as unknown as Ctor,
  [DataType.INT32]: Int32Array as unknown as Ctor,
  [DataType.INT64]: BigInt64Array as unknown as Ctor,
  [DataType.BOOL]: Uint8Array as unknown as Ctor,
  [DataType.FLOAT16]: Uint16Array as unknown as Ctor,
  [DataType.DOUBLE]: Float64Array as unknown as Ctor,
  [DataType.UINT32]: Uint32Array as unknown as Ctor,
  [DataType.UINT64]: BigUint64Array as unknown as Ctor,
  [DataType.COMPLEX64]: Float32Array as unknown as Ctor,
  [DataType.COMPLEX128]: Float64Array as unknown as Ctor,
  [DataType.BFLOAT16]: Uint16Array as unknown as Ctor,
};

/** The data type's name as minnow writes it (`float32`, `int4` ...), or `type N` for one it does not know. */
export function dataTypeName(dataType: number | undefined): string {
  return INFO[dataType ?? 0]?.name ?? `type ${dataType ?? 0}`;
}

function describe(t: TensorProto): string {
  return `tensor '${t.name ?? ''}' (${dataTypeName(t.dataType)} ${formatShape(t.dims)})`;
}

function corrupt(t: TensorProto, why: string): MinnowError {
  return new MinnowError('CORRUPT_FILE', `onnx: ${describe(t)}: ${why}`);
}

/** The element count of the tensor's dims, checked (every dim a non-negative safe integer, the product too). */
export function tensorElementCount(t: TensorProto): number {
  let n = 1;
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw corrupt(t, `dim ${d} is not a non-negative integer`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw corrupt(t, 'element count beyond 2^53');
  return n;
}

function typeInfo(t: TensorProto): TypeInfo {
  const info = INFO[t.dataType ?? 0];
  if (info === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: ${describe(t)}: data type ${t.dataType ?? 0} is not one minnow knows`);
  return info;
}

/** True when the tensor's values are in an external file that has not been loaded (see loadModel). */
export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === DataLocation.EXTERNAL && t.rawData === undefined;
}

/** Bytes the raw_data form of this tensor takes (4-bit types: two per byte). */
export function tensorByteLength(t: TensorProto): number {
  const info = typeInfo(t);
  if (info.bytes === 0) throw new MinnowError('UNSUPPORTED_DTYPE', `onnx: ${describe(t)}: strings have no raw_data form`);
  const n = tensorElementCount(t);
  return info.bytes === 0.5 ? packedInt4Bytes(n) : n * info.bytes;
}

/** Reinterprets little-endian bytes as `ctor` elements: a view when aligned on a little-endian machine, else a copy. */
function fromLittleEndian(bytes: Uint8Array, ctor: Ctor): TensorValues {
  const size = ctor.BYTES_PER_ELEMENT;
  const n = bytes.length / size;
  if (size === 1) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  if (LITTLE_ENDIAN && bytes.byteOffset % size === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  if (LITTLE_ENDIAN) return new ctor(new Uint8Array(bytes).buffer, 0, n);
  const out = new ctor(n) as unknown as { [i: number]: number | bigint };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    const at = i * size;
    if (ctor === (Float32Array as unknown)) out[i] = dv.getFloat32(at, true);
    else if (ctor === (Float64Array as unknown)) out[i] = dv.getFloat64(at, true);
    else if (ctor === (BigInt64Array as unknown)) out[i] = dv.getBigInt64(at, true);
    else if (ctor === (BigUint64Array as unknown)) out[i] = dv.getBigUint64(at, true);
    else if (ctor === (Int32Array as unknown)) out[i] = dv.getInt32(at, true);
    else if (ctor === (Uint32Array as unknown)) out[i] = dv.getUint32(at, true);
    else if (ctor === (Int16Array as unknown)) out[i] = dv.getInt16(at, true);
    else out[i] = dv.getUint16(at, true);
  }
  return out as unknown as TensorValues;
}

/** Values of the storage type from whichever typed field holds them (int32_data for the narrow types). */
function fromTypedField(t: TensorProto, info: TypeInfo, count: number): TensorValues {
  const dataType = t.dataType ?? 0;
  const source = t[info.field as 'floatData'] as ArrayLike<number | bigint> | undefined;
  const have = source?.length ?? 0;
  const packed4 = info.bytes === 0.5;
  const want = packed4 ? packedInt4Bytes(count) : dataType === DataType.COMPLEX64 || dataType === DataType.COMPLEX128 ? count * 2 : count;
  if (have !== want) throw corrupt(t, `${info.field} holds ${have} values, ${want} expected`);
  if (packed4) return Uint8Array.from((source ?? []) as ArrayLike<number>, (v) => v & 0xff);
  const ctor = RAW[dataType] ?? (Uint8Array as unknown as Ctor);
  if (source instanceof (ctor as unknown as typeof Float32Array)) return source as unknown as TensorValues;
  const out = new ctor(want) as unknown as { [i: number]: number | bigint };
  const big = ctor === (BigInt64Array as unknown) || ctor === (BigUint64Array as unknown);
  for (let i = 0; i < want; i++) {
    const v = (source as ArrayLike<number | bigint>)[i];
    out[i] = big ? BigInt(v) : Number(v);
  }
  return out as unknown as TensorValues;
}

/**
 * The tensor's values as a typed array: float32/64 as Float32Array/Float64Array, float16 and
 * bfloat16 decoded to Float32Array, int4/uint4 unpacked to Int8Array/Uint8Array, int64/uint64 as
 * BigInt64Array/BigUint64Array, bool as Uint8Array (0/1), complex as interleaved (re, im) floats,
 * the float8/float4 types as their raw 8-bit codes, strings as string[] (UTF-8).
 *
 * A result read from raw_data may be a view on the file's bytes (when aligned): do not modify it.
 */
export function tensorValues(t: TensorProto): TensorValues {
  const info = typeInfo(t);
  const dataType = t.dataType ?? 0;
  const count = tensorElementCount(t);
  if (dataType === DataType.STRING) {
    if (t.stringData.length !== count) throw corrupt(t, `string_data holds ${t.stringData.length} strings, ${count} expected`);
    return t.stringData.map((s) => utf8.decode(s));
  }
  if (isExternal(t)) {
    const location = t.externalData.find((e) => e.key === 'location')?.value ?? '?';
    throw new MinnowError('INVALID_ARGUMENT', `onnx: ${describe(t)}: its data is in the external file '${location}', not loaded: read the model with loadModel (from '@minnow/onnx/node') or resolveExternalData`);
  }
  let stored: TensorValues;
  if (t.rawData !== undefined) {
    const need = tensorByteLength(t);
    if (t.rawData.length !== need) throw corrupt(t, `raw_data holds ${t.rawData.length} bytes, ${need} expected`);
    if (info.bytes === 0.5) stored = t.rawData;
    else stored = fromLittleEndian(t.rawData, RAW[dataType] ?? (Uint8Array as unknown as Ctor));
  } else stored = fromTypedField(t, info, count);
  switch (dataType) {
    case DataType.FLOAT16: return decodeFloat16(stored as Uint16Array);
    case DataType.BFLOAT16: return decodeBFloat16(stored as Uint16Array);
    case DataType.INT4: return unpackInt4(stored as Uint8Array, count, true);
    case DataType.UINT4:
    case DataType.FLOAT4E2M1: return unpackInt4(stored as Uint8Array, count, false);
    default: return stored;
  }
}

/** int64 values as an Int32Array, each checked to fit (an index or shape tensor, say); `what` names them in the error. */
export function int64ToInt32(values: BigInt64Array | readonly bigint[], what = 'int64 values'): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -2147483648n || v > 2147483647n) throw new MinnowError('OUT_OF_RANGE', `onnx: ${what}: element ${i} is ${v}, outside int32`);
    out[i] = Number(v);
  }
  return out;
}

/**
 * The tensor's values in raw_data form (little-endian, 4-bit types two per byte), whichever field
 * holds them: raw_data itself (no copy) or the typed field re-encoded. Strings have no raw form.
 */
export function tensorRawBytes(t: TensorProto): Uint8Array {
  const need = tensorByteLength(t);
  if (isExternal(t)) tensorValues(t);
  if (t.rawData !== undefined) {
    if (t.rawData.length !== need) throw corrupt(t, `raw_data holds ${t.rawData.length} bytes, ${need} expected`);
    return t.rawData;
  }
  const stored = fromTypedField(t, typeInfo(t), tensorElementCount(t)) as Exclude<TensorValues, string[]>;
  if (stored instanceof Uint8Array || stored instanceof Int8Array) return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  const out = new Uint8Array(need);
  const dv = new DataView(out.buffer);
  const size = stored.BYTES_PER_ELEMENT;
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i];
    if (stored instanceof Float32Array) dv.setFloat32(i * 4, v as number, true);
    else if (stored instanceof Float64Array) dv.setFloat64(i * 8, v as number, true);
    else if (size === 8) dv.setBigUint64(i * 8, BigInt.asUintN(64, v as bigint), true);
    else if (size === 4) dv.setUint32(i * 4, (v as number) >>> 0, true);
    else dv.setUint16(i * 2, (v as number) & 0xffff, true);
  }
  return out;
}

/** A tensor holding `rawData` (little-endian, as ONNX stores it) with the given type and dims. */
export function makeTensor(name: string, dataType: number, dims: readonly number[], rawData: Uint8Array): TensorProto {
  const t: TensorProto = { name, dataType, dims: [...dims], rawData, stringData: [], externalData: [], metadataProps: [] };
  tensorRawBytes(t);
  return t;
}
