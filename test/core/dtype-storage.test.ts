import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DTYPES, INT4_RANGE, MinnowError, UINT4_RANGE, allocateArray, bfloat16BitsOf, bytesPerElement, decodeBFloat16, decodeFloat16,
  dtypeOfArray, encodeBFloat16, encodeFloat16, float16BitsOf, float16ToNumber, integerRange, isDType, isFloatDType,
  isTypedArray, packInt4, packedInt4Bytes, unpackInt4, viewArray,
} from '@minnow/core';
import { expectMinnowError, runs } from '../helpers/reference.js';

// ------------------------------------------------------------------------------------------------
// independent references

/** binary16 bits to a number, from the IEEE 754 definition. */
function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

/** Positive finite halves in bit order (0x0000..0x7bff are increasing), plus 65536 standing in for inf. */
const HALF_LADDER = Array.from({ length: 0x7c01 }, (_, b) => (b === 0x7c00 ? 65536 : halfValue(b)));

/** Nearest binary16 (ties to even bits), overflow to inf: a reference by search over the ladder. */
function refFloat16Bits(v: number): number {
  if (Number.isNaN(v)) return -1; // any NaN
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity || a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALF_LADDER[mid] <= a) lo = mid;
    else hi = mid;
  }
  // a in [ladder[lo], ladder[hi])
  const dLo = a - HALF_LADDER[lo];
  const dHi = HALF_LADDER[hi] - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

const f32 = new DataView(new ArrayBuffer(4));
function floatFromBits(bits: number): number {
  f32.setUint32(0, bits >>> 0);
  return f32.getFloat32(0);
}
function bitsOfFloat(v: number): number {
  f32.setFloat32(0, v);
  return f32.getUint32(0);
}

/** bfloat16 reference: candidates are the truncated top half and the next one up; nearest, ties even. */
function refBFloat16Bits(v: number): number {
  const bits = bitsOfFloat(v);
  if (Number.isNaN(v)) return -1;
  const lo = bits >>> 16;
  if ((bits & 0xffff) === 0) return lo;
  const hi = lo + 1;
  const vLo = floatFromBits(lo << 16);
  // when the next pattern up is infinity, round as if the exponent were unbounded: it stands for 2^128
  const vHi = (hi & 0x7fff) === 0x7f80 ? (v < 0 ? -(2 ** 128) : 2 ** 128) : floatFromBits(hi << 16);
  const a = Math.fround(v);
  // compare in float64 (exact for these float32 values)
  const dLo = Math.abs(a - vLo);
  const dHi = Math.abs(vHi - a);
  return dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
}

const isHalfNaN = (b: number) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0;
const isBfNaN = (b: number) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;

// ------------------------------------------------------------------------------------------------

describe('float16', () => {
  it('decodes every one of the 65536 bit patterns as IEEE binary16 says', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const decoded = decodeFloat16(bits);
    for (let b = 0; b < 65536; b++) {
      const want = halfValue(b);
      if (Number.isNaN(want)) {
        if (!Number.isNaN(decoded[b])) throw new Error(`0x${b.toString(16)}: got ${decoded[b]}, expected NaN`);
        if (!Number.isNaN(float16ToNumber(b))) throw new Error(`float16ToNumber(0x${b.toString(16)}) not NaN`);
      } else if (!Object.is(decoded[b], want) || !Object.is(float16ToNumber(b), want)) {
        throw new Error(`0x${b.toString(16)}: got ${decoded[b]}, expected ${want}`);
      }
    }
  });

  it('round-trips all 65536 bit patterns exactly (NaNs stay NaN)', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = encodeFloat16(decodeFloat16(bits));
    let nans = 0;
    for (let b = 0; b < 65536; b++) {
      if (isHalfNaN(b)) {
        nans++;
        if (!isHalfNaN(back[b])) throw new Error(`NaN 0x${b.toString(16)} became 0x${back[b].toString(16)}`);
      } else if (back[b] !== b) {
        throw new Error(`0x${b.toString(16)} -> ${halfValue(b)} -> 0x${back[b].toString(16)}`);
      }
    }
    expect(nans).toBe(2 * 1023);
  });

  it('rounds every midpoint between adjacent halves to the even neighbour', () => {
    for (let b = 0; b < 0x7bff; b++) {
      const mid = (halfValue(b) + halfValue(b + 1)) / 2; // exact in float32 (12 significant bits)
      if (Math.fround(mid) !== mid) throw new Error(`midpoint ${mid} is not a float32`);
      const want = b % 2 === 0 ? b : b + 1;
      if (float16BitsOf(mid) !== want) throw new Error(`midpoint of 0x${b.toString(16)}: got 0x${float16BitsOf(mid).toString(16)}, want 0x${want.toString(16)}`);
      if (float16BitsOf(-mid) !== (want | 0x8000)) throw new Error(`negative midpoint of 0x${b.toString(16)}`);
    }
  });

  it('matches a search-based reference on random float32 bit patterns', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (raw) => {
      const v = floatFromBits(raw);
      const got = float16BitsOf(v);
      const want = refFloat16Bits(v);
      if (want === -1) expect(isHalfNaN(got)).toBe(true);
      else expect(got, `value ${v}`).toBe(want);
    }), runs(1001, 20000));
  });

  it('matches the reference on values near the half range (subnormals, overflow edge, near ties)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x7bff }), fc.integer({ min: -3, max: 3 }), fc.boolean(), (b, nudge, negative) => {
      // a float32 a few ulps from a half value or a midpoint
      const base = b % 2 ? (HALF_LADDER[b] + HALF_LADDER[b + 1]) / 2 : HALF_LADDER[b];
      const v = floatFromBits(Math.max(0, bitsOfFloat(base) + nudge)) * (negative ? -1 : 1);
      const want = refFloat16Bits(v);
      expect(float16BitsOf(v), `value ${v}`).toBe(want);
    }), runs(1002, 20000));
  });

  it('overflows to infinity at 65520, keeps 65504, produces subnormals and signed zeros', () => {
    expect(float16BitsOf(65504)).toBe(0x7bff);
    expect(float16BitsOf(65519.99)).toBe(0x7bff);
    expect(float16BitsOf(65520)).toBe(0x7c00);
    expect(float16BitsOf(1e10)).toBe(0x7c00);
    expect(float16BitsOf(-1e10)).toBe(0xfc00);
    expect(float16BitsOf(Infinity)).toBe(0x7c00);
    expect(float16BitsOf(2 ** -24)).toBe(0x0001);
    expect(float16BitsOf(2 ** -25)).toBe(0x0000); // tie to even: 0
    expect(float16BitsOf(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float16BitsOf(3 * 2 ** -25)).toBe(0x0002); // 1.5 ulp: tie to even (2)
    expect(float16BitsOf(2 ** -14 - 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(float16BitsOf(-0)).toBe(0x8000);
    expect(float16BitsOf(1e-30)).toBe(0x0000);
    expect(float16BitsOf(-1e-30)).toBe(0x8000);
    expect(isHalfNaN(float16BitsOf(NaN))).toBe(true);
    expect(float16BitsOf(1 / 3)).toBe(0x3555);
  });

  it('encodes float64 inputs by rounding to float32 first (documented contract)', () => {
    fc.assert(fc.property(fc.double({ min: -70000, max: 70000, noNaN: true }), (v) => {
      expect(float16BitsOf(v)).toBe(float16BitsOf(Math.fround(v)));
    }), runs(1003, 2000));
  });
});

describe('bfloat16', () => {
  it('round-trips all 65536 bit patterns exactly (NaNs stay NaN)', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const decoded = decodeBFloat16(bits);
    const back = encodeBFloat16(decoded);
    for (let b = 0; b < 65536; b++) {
      if (isBfNaN(b)) {
        if (!Number.isNaN(decoded[b]) || !isBfNaN(back[b])) throw new Error(`NaN 0x${b.toString(16)} not kept`);
      } else {
        if (!Object.is(decoded[b], floatFromBits(b << 16))) throw new Error(`decode 0x${b.toString(16)}`);
        if (back[b] !== b) throw new Error(`0x${b.toString(16)} -> 0x${back[b].toString(16)}`);
      }
    }
  });

  it('rounds to nearest even against a candidate reference on random float32 bit patterns', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (raw) => {
      const v = floatFromBits(raw);
      const want = refBFloat16Bits(v);
      const got = bfloat16BitsOf(v);
      if (want === -1) expect(isBfNaN(got)).toBe(true);
      else expect(got, `value ${v} (0x${raw.toString(16)})`).toBe(want);
    }), runs(1004, 20000));
  });

  it('ties go to even, and overflow goes to infinity', () => {
    expect(bfloat16BitsOf(floatFromBits(0x3f808000))).toBe(0x3f80); // tie, even below
    expect(bfloat16BitsOf(floatFromBits(0x3f818000))).toBe(0x3f82); // tie, odd below -> up
    expect(bfloat16BitsOf(floatFromBits(0x3f808001))).toBe(0x3f81);
    expect(bfloat16BitsOf(floatFromBits(0x7f7fffff))).toBe(0x7f80); // float32 max rounds to inf
    expect(bfloat16BitsOf(-Infinity)).toBe(0xff80);
    expect(bfloat16BitsOf(-0)).toBe(0x8000);
    expect(isBfNaN(bfloat16BitsOf(NaN))).toBe(true);
    expect(isBfNaN(bfloat16BitsOf(floatFromBits(0x7f800001)))).toBe(true); // signalling NaN stays NaN
    // every exact tie (low half 0x8000) over all finite upper halves goes to the even neighbour
    for (let upper = 0; upper < 0x10000; upper++) {
      if ((upper & 0x7f80) === 0x7f80) continue;
      const got = bfloat16BitsOf(floatFromBits((upper << 16) | 0x8000));
      const want = upper % 2 === 0 ? upper : upper + 1;
      if (got !== want) throw new Error(`tie above 0x${upper.toString(16)}: got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    }
  });
});

// ------------------------------------------------------------------------------------------------

describe('int4 packing', () => {
  it('round-trips any count (odd included) for int4 and uint4', () => {
    fc.assert(fc.property(fc.boolean(), fc.integer({ min: 0, max: 65 }), fc.integer(), (signed, count, s) => {
      const { min, max } = signed ? INT4_RANGE : UINT4_RANGE;
      let x = s;
      const values = Array.from({ length: count }, () => { x = (Math.imul(x, 1103515245) + 12345) | 0; return min + (((x >>> 8) % (max - min + 1)) + (max - min + 1)) % (max - min + 1); });
      const packed = packInt4(values, signed);
      expect(packed.length).toBe(Math.ceil(count / 2));
      expect(packedInt4Bytes(count)).toBe(Math.ceil(count / 2));
      const back = unpackInt4(packed, count, signed);
      expect(back).toBeInstanceOf(signed ? Int8Array : Uint8Array);
      expect(Array.from(back)).toEqual(values);
      // layout: element 2i in the low nibble, 2i+1 in the high nibble, odd tail leaves high nibble 0
      values.forEach((v, i) => expect((packed[i >> 1] >> (i & 1 ? 4 : 0)) & 0xf).toBe(v & 0xf));
      if (count % 2) expect(packed[packed.length - 1] >> 4).toBe(0);
    }), runs(1005, 300));
  });

  it('packs known bytes: [1, -1, 7, -8, 3] -> 0xf1, 0x87, 0x03', () => {
    expect(Array.from(packInt4([1, -1, 7, -8, 3], true))).toEqual([0xf1, 0x87, 0x03]);
    expect(Array.from(packInt4([15, 0, 9], false))).toEqual([0x0f, 0x09]);
    expect(Array.from(unpackInt4(new Uint8Array([0xf1, 0x87]), 4, true))).toEqual([1, -1, 7, -8]);
    expect(Array.from(unpackInt4(new Uint8Array([0xf1, 0x87]), 3, false))).toEqual([1, 15, 7]);
  });

  it('out-of-range or non-integer values throw MinnowError OUT_OF_RANGE naming the element', () => {
    for (const [values, signed] of [[[0, 8], true], [[-9], true], [[16], false], [[-1], false], [[1.5], true], [[NaN], false]] as const) {
      expectMinnowError(() => packInt4(values, signed), 'OUT_OF_RANGE', 'packInt4', String(values[values.length - 1]));
    }
    expectMinnowError(() => unpackInt4(new Uint8Array(2), 5, true), 'OUT_OF_RANGE', 'unpackInt4', '5');
  });
});

describe('dtype helpers', () => {
  it('sizes, ranges, predicates and typed-array mapping', () => {
    expect(DTYPES.map(bytesPerElement)).toEqual([4, 8, 4, 1, 1, 1]);
    expect(integerRange('int8')).toEqual({ min: -128, max: 127 });
    expect(integerRange('uint8')).toEqual({ min: 0, max: 255 });
    expect(integerRange('int32')).toEqual({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    expect(integerRange('bool')).toEqual({ min: 0, max: 1 });
    expect(() => integerRange('float32')).toThrow(MinnowError);
    expect(DTYPES.every(isDType)).toBe(true);
    expect(isDType('float16')).toBe(false);
    expect(isDType(3)).toBe(false);
    expect(DTYPES.filter(isFloatDType)).toEqual(['float32', 'float64']);
    expect(dtypeOfArray(new Uint8Array(1))).toBe('uint8');
    expect(dtypeOfArray(new Int8Array(1))).toBe('int8');
    expect(dtypeOfArray(new Float64Array(1))).toBe('float64');
    expectMinnowError(() => dtypeOfArray(new Uint16Array(1) as unknown as Uint8Array), 'UNSUPPORTED_DTYPE');
    expect(isTypedArray(new Int32Array(1))).toBe(true);
    expect(isTypedArray([1])).toBe(false);
    expect(isTypedArray(new Uint16Array(1))).toBe(false);
    for (const d of DTYPES) {
      const a = allocateArray(d, 3);
      expect(a.length).toBe(3);
      expect(Array.from(a)).toEqual([0, 0, 0]);
    }
    const buf = new ArrayBuffer(16);
    const v = viewArray('int32', buf, 4, 2);
    v[0] = 7;
    expect(new Int32Array(buf)[1]).toBe(7);
  });
});
