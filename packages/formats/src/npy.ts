import { MinnowError, formatShape } from '@minnow/core';

/**
 * NumPy's .npy format (numpy.lib.format, versions 1.0, 2.0 and 3.0): a magic string, a version, a
 * header length, a Python-literal dict header {'descr', 'fortran_order', 'shape'}, then the data.
 * minnow reads the little-endian numeric and bool dtypes, C order (Fortran order is transposed on
 * read), and writes version 1.0 (2.0 when the header needs it).
 */

export type NpyDType = 'float16' | 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';

export type NpyData = Uint16Array | Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint32Array | BigUint64Array;

export interface NpyArray {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  /** The values in C order; float16 as raw bits (Uint16Array). */
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER = 1 << 20;

const DESCRS: Record<string, { dtype: NpyDType; bytes: number; ctor: new (b: ArrayBuffer, o: number, n: number) => NpyData }> = {
  '<f2': { dtype: 'float16', bytes: 2, ctor: Uint16Array },
  '<f4': { dtype: 'float32', bytes: 4, ctor: Float32Array },
  '<f8': { dtype: 'float64', bytes: 8, ctor: Float64Array },
  '|i1': { dtype: 'int8', bytes: 1, ctor: Int8Array },
  '<i2': { dtype: 'int16', bytes: 2, ctor: Int16Array },
  '<i4': { dtype: 'int32', bytes: 4, ctor: Int32Array },
  '<i8': { dtype: 'int64', bytes: 8, ctor: BigInt64Array },
  '|u1': { dtype: 'uint8', bytes: 1, ctor: Uint8Array },
  '<u2': { dtype: 'uint16', bytes: 2, ctor: Uint16Array },
  '<u4': { dtype: 'uint32', bytes: 4, ctor: Uint32Array },
  '<u8': { dtype: 'uint64', bytes: 8, ctor: BigUint64Array },
  '|b1': { dtype: 'bool', bytes: 1, ctor: Uint8Array },
};
// numpy also writes single-byte types with '<' or '>' and bool as '?'.
const ALIASES: Record<string, string> = { '<i1': '|i1', '>i1': '|i1', '<u1': '|u1', '>u1': '|u1', '<b1': '|b1', '?': '|b1', '|?': '|b1' };

const corrupt = (name: string, why: string): MinnowError => new MinnowError('CORRUPT_FILE', `npy '${name}': ${why}`);

/** Parses .npy bytes; `name` labels errors. The data is copied (aligned), so the input may be reused. */
export function parseNpy(bytes: Uint8Array, name = 'array'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw corrupt(name, 'not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw corrupt(name, `format version ${major}.${bytes[7]} is not 1, 2 or 3`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw corrupt(name, 'truncated header length');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = 8 + lengthBytes + headerLength;
  if (headerLength > MAX_HEADER) throw corrupt(name, `header of ${headerLength} bytes is over the ${MAX_HEADER}-byte cap`);
  if (dataStart > bytes.length) throw corrupt(name, `header of ${headerLength} bytes runs past the end of the file (${bytes.length} bytes)`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataStart));
  const descrMatch = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const orderMatch = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrMatch || !orderMatch || !shapeMatch) throw corrupt(name, `header ${JSON.stringify(header.trim())} lacks descr, fortran_order or shape`);
  const descr = ALIASES[descrMatch[1]] ?? descrMatch[1];
  const info = DESCRS[descr];
  if (info === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `npy '${name}': dtype '${descrMatch[1]}' is not supported (little-endian numbers and bool only)`);
  const shape = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const d = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(d) || d < 0) throw corrupt(name, `shape entry '${s}' is not a non-negative integer`);
    return d;
  });
  const count = shape.reduce((a, b) => a * b, 1);
  const need = count * info.bytes;
  if (!Number.isSafeInteger(need) || bytes.length - dataStart !== need) {
    throw corrupt(name, `shape ${formatShape(shape)} of ${descr} needs ${need} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // A fresh, aligned copy (Buffer.slice would be a view on Node's shared pool, not a copy).
  const copy = new Uint8Array(need);
  copy.set(bytes.subarray(dataStart, dataStart + need));
  let data = new info.ctor(copy.buffer, 0, count);
  if (orderMatch[1] === 'True') data = fortranToC(data, shape);
  return { dtype: info.dtype, shape, data };
}

function fortranToC(data: NpyData, shape: readonly number[]): NpyData {
  const out = new (data.constructor as new (n: number) => NpyData)(data.length) as { [i: number]: number | bigint };
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    for (let d = rank - 1; d >= 0; d--) f = f * shape[d] + index[d];
    out[c] = data[f];
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out as unknown as NpyData;
}

/** Serialises an array as .npy (C order). */
export function serializeNpy(array: NpyArray): Uint8Array {
  const descr = Object.entries(DESCRS).find(([, v]) => v.dtype === array.dtype)?.[0];
  if (descr === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `npy: dtype '${array.dtype}' cannot be written`);
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== count) throw new MinnowError('INVALID_SHAPE', `npy: shape ${formatShape(array.shape)} holds ${count} values, given ${array.data.length}`);
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const major = header.length + 11 > 65535 ? 2 : 1;
  const prefix = major === 1 ? 10 : 12;
  // The data starts on a 64-byte boundary; the header ends with a newline.
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = header.padEnd(total - prefix - 1, ' ') + '\n';
  const body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(total + body.length);
  out.set(MAGIC);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(body, total);
  return out;
}
