import { MinnowError } from '../errors.js';

/**
 * int4/uint4 storage, packed two to a byte as ONNX packs them: element 2i in the low nibble of byte i,
 * element 2i+1 in the high nibble; an odd count leaves the last high nibble zero.
 */

export const INT4_RANGE = { min: -8, max: 7 } as const;
export const UINT4_RANGE = { min: 0, max: 15 } as const;

export function packedInt4Bytes(count: number): number {
  return Math.ceil(count / 2);
}

/** Packs values already in range (int4: -8..7, uint4: 0..15); out-of-range values are an error, not wrapped. */
export function packInt4(values: ArrayLike<number>, signed: boolean): Uint8Array {
  const { min, max } = signed ? INT4_RANGE : UINT4_RANGE;
  const out = new Uint8Array(packedInt4Bytes(values.length));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new MinnowError(
        'OUT_OF_RANGE',
        `packInt4: element ${i} is ${v}, outside the ${signed ? 'int4' : 'uint4'} range ${min}..${max}`,
      );
    }
    const nibble = v & 0x0f;
    out[i >> 1] |= i & 1 ? nibble << 4 : nibble;
  }
  return out;
}

/** Unpacks `count` nibbles; int4 sign-extends into an Int8Array, uint4 fills a Uint8Array. */
export function unpackInt4(bytes: Uint8Array, count: number, signed: true): Int8Array;
export function unpackInt4(bytes: Uint8Array, count: number, signed: false): Uint8Array;
export function unpackInt4(bytes: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array;
export function unpackInt4(bytes: Uint8Array, count: number, signed: boolean): Int8Array | Uint8Array {
  if (bytes.length < packedInt4Bytes(count)) {
    throw new MinnowError(
      'OUT_OF_RANGE',
      `unpackInt4: ${count} elements need ${packedInt4Bytes(count)} bytes, got ${bytes.length}`,
    );
  }
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const byte = bytes[i >> 1];
    const nibble = i & 1 ? byte >> 4 : byte & 0x0f;
    out[i] = signed && nibble & 0x08 ? nibble - 16 : nibble;
  }
  return out;
}
