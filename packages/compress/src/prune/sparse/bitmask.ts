import { MinnowError, formatShape } from '@minnow/core';

/**
 * Bitmask plus values: one bit per element saying whether it is stored, then the stored values in
 * row-major order. It costs size/8 + 4 nnz bytes against CSR's 8 nnz + 4 (rows + 1), so it is the
 * smaller of the two while more than about 1 element in 32 is kept (sparsity below ~97%); CSR is
 * what the sparse kernel runs on. Any rank. As for CSR, zeros of either sign are not stored.
 */
export interface BitmaskArrays {
  /** The dense shape. */
  readonly shape: readonly number[];
  /** ceil(size / 8) bytes; bit (i % 8) of byte floor(i / 8) is set when element i is stored (trailing bits 0). */
  readonly mask: Uint8Array;
  /** The stored elements in row-major order: [popcount(mask)]. */
  readonly values: Float32Array;
}

function sizeOfShape(op: string, shape: readonly number[]): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new MinnowError('INVALID_SHAPE', `${op}: shape must be non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape.reduce((a, b) => a * b, 1);
}

/** The bitmask form of row-major `data` of `shape`. */
export function denseToBitmask(data: Float32Array, shape: readonly number[]): BitmaskArrays {
  const size = sizeOfShape('denseToBitmask', shape);
  if (!(data instanceof Float32Array)) throw new MinnowError('UNSUPPORTED_DTYPE', 'denseToBitmask: data must be a Float32Array');
  if (data.length !== size) throw new MinnowError('INVALID_ARGUMENT', `denseToBitmask: ${data.length} values for shape ${formatShape(shape)} (${size} elements)`);
  const mask = new Uint8Array(Math.ceil(size / 8));
  let nnz = 0;
  for (let i = 0; i < size; i++) {
    if (data[i] !== 0) {
      mask[i >> 3] |= 1 << (i & 7);
      nnz++;
    }
  }
  const values = new Float32Array(nnz);
  let p = 0;
  for (let i = 0; i < size; i++) if (data[i] !== 0) values[p++] = data[i];
  return { shape: [...shape], mask, values };
}

/** Set bits in a byte, for every byte value. */
const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v; v >>= 1) n += v & 1;
  return n;
});

/** Checks the mask length, its trailing bits, and that it sets one bit per value (INVALID_ARGUMENT otherwise). */
export function checkBitmaskArrays(op: string, b: BitmaskArrays): void {
  const size = sizeOfShape(op, b.shape);
  if (!(b.mask instanceof Uint8Array) || !(b.values instanceof Float32Array)) throw new MinnowError('INVALID_ARGUMENT', `${op}: mask must be a Uint8Array and values a Float32Array`);
  if (b.mask.length !== Math.ceil(size / 8)) throw new MinnowError('INVALID_ARGUMENT', `${op}: mask has ${b.mask.length} bytes; ${size} elements need ${Math.ceil(size / 8)}`);
  if (size % 8 !== 0 && b.mask[b.mask.length - 1] >> (size % 8) !== 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: mask sets bits past element ${size - 1}`);
  let set = 0;
  for (const byte of b.mask) set += POPCOUNT[byte];
  if (set !== b.values.length) throw new MinnowError('INVALID_ARGUMENT', `${op}: mask sets ${set} bits but there are ${b.values.length} values`);
}

/** The dense row-major array a bitmask form holds. */
export function bitmaskToDense(b: BitmaskArrays): Float32Array {
  checkBitmaskArrays('bitmaskToDense', b);
  const size = b.shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(size);
  let p = 0;
  for (let i = 0; i < size; i++) if ((b.mask[i >> 3] >> (i & 7)) & 1) out[i] = b.values[p++];
  return out;
}

/** Bytes the bitmask form takes: the mask plus 4 per value. */
export function bitmaskByteSize(b: BitmaskArrays): number {
  return b.mask.byteLength + b.values.byteLength;
}

/** Fraction of elements stored (0 for an empty tensor). */
export function bitmaskDensity(b: BitmaskArrays): number {
  const size = b.shape.reduce((x, y) => x * y, 1);
  return size === 0 ? 0 : b.values.length / size;
}
