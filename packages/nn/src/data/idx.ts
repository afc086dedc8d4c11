import { MinnowError, formatShape } from '@minnow/core';

/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): two zero bytes,
 * a dtype code, the number of dimensions, then each dimension as a big-endian uint32, then the
 * elements row-major and big-endian. The parser checks every length against the bytes present
 * before it allocates anything, so a corrupt or hostile file costs no memory and gives a
 * MinnowError that names the byte offset at fault.
 */

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly dtype: IdxDType;
  readonly shape: number[];
  /** uint8 and int8 data are views on the input bytes (no copy); wider types are decoded into new arrays. */
  readonly data: IdxData;
}

const CODES: Record<number, { dtype: IdxDType; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

const CODE_OF: Record<IdxDType, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };

const hex = (v: number, digits: number): string => `0x${v.toString(16).padStart(digits, '0')}`;

/**
 * Parses one IDX file. `name` (a path, say) goes into error messages. The data must end exactly
 * where the dimensions say: trailing bytes are an error too, since they mean the header lies.
 */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', `parseIdx: ${name} must be a Uint8Array (or Buffer)`);
  function fail(offset: number, what: string): never {
    throw new MinnowError('CORRUPT_FILE', `parseIdx: ${name}: ${what} (byte offset ${offset}, file length ${bytes.length})`);
  }
  if (bytes.length < 4) fail(0, `truncated: the 4-byte magic number needs bytes 0..3, only ${bytes.length} present`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b ? ' (this is gzip data: gunzip it first)' : '';
    fail(0, `bad magic number: bytes 0..1 must be 0x0000, found ${hex((bytes[0] << 8) | bytes[1], 4)}${gzip}`);
  }
  const type = CODES[bytes[2]] as (typeof CODES)[number] | undefined;
  if (!type) fail(2, `unknown dtype code ${hex(bytes[2], 2)} (expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`);
  const rank = bytes[3];
  const dataStart = 4 + 4 * rank;
  if (bytes.length < dataStart) fail(4, `truncated header: ${rank} dimensions need bytes 4..${dataStart - 1}, only ${bytes.length} bytes present`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const available = bytes.length - dataStart;
  // Multiply with an early exit, so dimensions whose product overflows 2^53 are refused, not mis-sized.
  let count = shape.includes(0) ? 0 : 1;
  for (let d = 0; d <= rank && count > 0; d++) {
    if (d < rank) count *= shape[d];
    const need = count * type.bytes;
    if (need > available) {
      const amount = Number.isSafeInteger(need) ? `${d < rank - 1 ? 'at least ' : ''}${need} bytes` : 'more than 2^53 bytes';
      fail(dataStart, `truncated data: dimensions ${formatShape(shape)} of ${type.dtype} need ${amount} from byte ${dataStart}, only ${available} present`);
    }
  }
  const length = count * type.bytes;
  if (available > length) fail(dataStart + length, `${available - length} trailing bytes after the ${length} data bytes that dimensions ${formatShape(shape)} of ${type.dtype} describe`);

  return { dtype: type.dtype, shape, data: decode(type.dtype, bytes, view, dataStart, count) };
}

function decode(dtype: IdxDType, bytes: Uint8Array, view: DataView, start: number, count: number): IdxData {
  switch (dtype) {
    case 'uint8':
      return bytes.subarray(start, start + count);
    case 'int8':
      return new Int8Array(bytes.buffer, bytes.byteOffset + start, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(start + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(start + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(start + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(start + 8 * i, false);
      return out;
    }
  }
}

/** Writes an IDX file (the inverse of parseIdx). Values are converted as the dtype's typed array would store them. */
export function encodeIdx(array: { readonly dtype: IdxDType; readonly shape: readonly number[]; readonly data: ArrayLike<number> }): Uint8Array {
  const { dtype, shape, data } = array;
  const code = CODE_OF[dtype];
  if (code === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `encodeIdx: dtype ${String(dtype)} has no IDX code`);
  if (shape.length > 255) throw new MinnowError('INVALID_SHAPE', `encodeIdx: IDX holds at most 255 dimensions, got ${shape.length}`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffffffff)) {
    throw new MinnowError('INVALID_SHAPE', `encodeIdx: dimensions ${formatShape(shape)} must be integers in [0, 2^32)`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new MinnowError('INVALID_SHAPE', `encodeIdx: ${data.length} values do not fill shape ${formatShape(shape)} (${count} elements)`);
  const size = CODES[code].bytes;
  const start = 4 + 4 * shape.length;
  const out = new Uint8Array(start + count * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const v = data[i];
    const at = start + i * size;
    switch (dtype) {
      case 'uint8': view.setUint8(at, v); break;
      case 'int8': view.setInt8(at, v); break;
      case 'int16': view.setInt16(at, v, false); break;
      case 'int32': view.setInt32(at, v, false); break;
      case 'float32': view.setFloat32(at, v, false); break;
      case 'float64': view.setFloat64(at, v, false); break;
    }
  }
  return out;
}
