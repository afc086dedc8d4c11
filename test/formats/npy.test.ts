import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinnowError } from '@minnow/core';
import { parseNpy, serializeNpy, type NpyArray } from '@minnow/formats';
import { runs } from '../helpers/reference.js';

/** A .npy file as numpy writes it, header text given. */
function npyWith(header: string, data: Uint8Array): Uint8Array {
  const prefix = 10;
  const padded = header.padEnd(Math.ceil((prefix + header.length + 1) / 64) * 64 - prefix - 1, ' ') + '\n';
  const out = new Uint8Array(prefix + padded.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), prefix);
  out.set(data, prefix + padded.length);
  return out;
}

describe('.npy', () => {
  it('round-trips every dtype and shape, including from a Node Buffer at an odd offset', () => {
    const arrays: NpyArray[] = [
      { dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, Number.NaN, Infinity, 0) },
      { dtype: 'float64', shape: [], data: Float64Array.of(Math.PI) },
      { dtype: 'int64', shape: [3], data: BigInt64Array.of(-1n, 2n ** 40n, 0n) },
      { dtype: 'uint8', shape: [0, 4], data: new Uint8Array(0) },
      { dtype: 'bool', shape: [2], data: Uint8Array.of(1, 0) },
      { dtype: 'int8', shape: [1, 1, 2], data: Int8Array.of(-128, 127) },
      { dtype: 'float16', shape: [1], data: Uint16Array.of(0x3c00) },
    ];
    for (const a of arrays) {
      const bytes = serializeNpy(a);
      const buffer = Buffer.concat([Buffer.from([7]), Buffer.from(bytes)]).subarray(1);
      const back = parseNpy(buffer);
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(Array.from(back.data as ArrayLike<unknown>)).toEqual(Array.from(a.data as ArrayLike<unknown>));
    }
  });

  it('reads numpy\'s own headers: Fortran order is transposed to C order; "<i1" and "?" aliases', () => {
    const f = npyWith("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", new Uint8Array(Float32Array.of(1, 4, 2, 5, 3, 6).buffer));
    expect(Array.from(parseNpy(f).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(parseNpy(npyWith("{'descr': '?', 'fortran_order': False, 'shape': (2,), }", Uint8Array.of(1, 0))).dtype).toBe('bool');
  });

  it('refuses bad files with a MinnowError naming the file and the fault', () => {
    const bad: [Uint8Array, string][] = [
      [new TextEncoder().encode('not numpy at all'), 'not a .npy file'],
      [npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", new Uint8Array(8)), 'needs 12 data bytes, the file has 8'],
      [npyWith("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), "dtype '>f4' is not supported"],
      [npyWith("{'descr': '<f4', 'shape': (1,), }", new Uint8Array(4)), 'lacks descr, fortran_order or shape'],
      [npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", new Uint8Array(4)), "shape entry '-1'"],
    ];
    for (const [bytes, message] of bad) expect(() => parseNpy(bytes, 'x.npy')).toThrow(message);
  });

  it('mutated files give an array or a MinnowError, never a crash', () => {
    const good = serializeNpy({ dtype: 'float32', shape: [4, 5], data: new Float32Array(20) });
    fc.assert(fc.property(fc.array(fc.record({ at: fc.nat(good.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }), fc.nat(good.length), (edits, cut) => {
      const copy = good.slice(0, cut);
      for (const { at, value } of edits) if (at < copy.length) copy[at] = value;
      try {
        parseNpy(copy);
      } catch (error) {
        expect(error).toBeInstanceOf(MinnowError);
      }
    }), runs(31, 300));
  });
});
