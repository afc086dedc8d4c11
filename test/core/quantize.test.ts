import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  dequantize, fromArray, quantize, quantizedRange, scope, tensor, zeros, type DType, type QuantizedType, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  CONTIGUOUS, arbLayout, arbShape, expectAll, exactly, expectMinnowError, makeInput, randInt, readValues, rng, runs, size,
  storeAs, unravel,
} from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const TYPES: QuantizedType[] = ['int8', 'uint8', 'int4', 'uint4'];
const RANGE: Record<QuantizedType, [number, number]> = { int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15] };
const STORAGE: Record<QuantizedType, DType> = { int8: 'int8', uint8: 'uint8', int4: 'int8', uint4: 'uint8' };

/** Nearest integer, ties to even: the ONNX QuantizeLinear rule, written independently. */
function halfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

type Mode = 'tensor' | 'axis' | 'blocked';

interface QCase {
  shape: number[];
  mode: Mode;
  axis: number;
  blockSize: number;
  paramShape: number[];
  /** parameter index for each element of x (row-major) */
  paramIndex: (flat: number) => number;
}

function makeCase(shape: number[], mode: Mode, rand: () => number): QCase {
  const rank = shape.length;
  if (mode === 'tensor' || rank === 0) {
    return { shape, mode: 'tensor', axis: 0, blockSize: 0, paramShape: rand() < 0.5 ? [] : [1], paramIndex: () => 0 };
  }
  const a = randInt(rand, 0, rank - 1);
  const axis = rand() < 0.4 ? a - rank : a;
  if (mode === 'axis') {
    return { shape, mode, axis, blockSize: 0, paramShape: [shape[a]], paramIndex: (f) => unravel(f, shape)[a] };
  }
  const blockSize = randInt(rand, 1, 4);
  const paramShape = shape.map((d, i) => (i === a ? Math.ceil(d / blockSize) : d));
  return {
    shape, mode, axis, blockSize, paramShape,
    paramIndex: (f) => {
      const idx = unravel(f, shape);
      idx[a] = Math.floor(idx[a] / blockSize);
      let p = 0;
      for (let d = 0; d < rank; d++) p = p * paramShape[d] + idx[d];
      return p;
    },
  };
}

const qOptions = (c: QCase) => (c.mode === 'tensor' ? {} : c.mode === 'axis' ? { axis: c.axis } : { axis: c.axis, blockSize: c.blockSize });

/** Scale and zero point, laid out as non-contiguous views unless `plain` (parameters are views too). */
function params(c: QCase, dtype: 'float32' | 'float64', type: QuantizedType, s: number, plain = false): { scale: Tensor; zp: Tensor; scales: number[]; zps: number[] } {
  const [lo, hi] = RANGE[type];
  const layout = plain ? CONTIGUOUS : { expand: false, steps: s % 3 === 0 ? [] : s % 3 === 1 ? ['slice' as const] : ['permute' as const, 'slice' as const] };
  const scaleIn = makeInput(c.paramShape, dtype, layout, s, (rand, n) => Array.from({ length: n }, () => storeAs(dtype, (1 + rand()) * 2 ** randInt(rand, -5, 1))));
  const zpIn = makeInput(c.paramShape, STORAGE[type], layout, s + 1, (rand, n) => Array.from({ length: n }, () => randInt(rand, lo, hi)));
  return { scale: scaleIn.tensor, zp: zpIn.tensor, scales: scaleIn.values, zps: zpIn.values };
}

describe('quantize / dequantize', () => {
  itNoLeaks('quantize per tensor / per axis / blocked for int8, uint8, int4, uint4 vs reference (saturating, half to even)', () => {
    fc.assert(fc.property(arbShape(0, 4, 6), fc.constantFrom<Mode>('tensor', 'axis', 'blocked'), fc.constantFrom(...TYPES),
      fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, seed, (shape, mode, type, dtype, layout, s) => {
        scope(() => {
          const c = makeCase(shape, mode, rng(s));
          const p = params(c, dtype, type, s + 2);
          // values in scale units, with exact halves and far out-of-range values mixed in
          const x = makeInput(shape, dtype, layout, s, (rand, n) => Array.from({ length: n }, () => {
            const pick = rand();
            const mag = pick < 0.2 ? randInt(rand, -300, 300) + 0.5 : pick < 0.3 ? (rand() * 2 - 1) * 1e4 : (rand() * 2 - 1) * 200;
            return storeAs(dtype, mag * 2 ** -3);
          }));
          const q = quantize(x.tensor, p.scale, p.zp, type, qOptions(c));
          expect(q.dtype).toBe(STORAGE[type]);
          expect([...q.shape]).toEqual(shape);
          const [lo, hi] = RANGE[type];
          const expected = x.values.map((v, f) => {
            const k = c.paramIndex(f);
            const ratio = dtype === 'float32' ? Math.fround(v / p.scales[k]) : v / p.scales[k];
            return Math.min(hi, Math.max(lo, halfEven(ratio) + p.zps[k]));
          });
          expectAll(readValues(q), expected, exactly, `quantize ${type} ${mode} ${dtype}`);
        });
      }), runs(801, 200));
  });

  itNoLeaks('dequantize per tensor / per axis / blocked vs reference, from non-contiguous int8/uint8/int32 inputs', () => {
    fc.assert(fc.property(arbShape(0, 4, 6), fc.constantFrom<Mode>('tensor', 'axis', 'blocked'), fc.constantFrom<DType>('int8', 'uint8', 'int32'),
      fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, seed, (shape, mode, qdtype, dtype, layout, s) => {
        scope(() => {
          const c = makeCase(shape, mode, rng(s));
          const type: QuantizedType = qdtype === 'uint8' ? 'uint8' : 'int8';
          const base = params(c, dtype, type, s + 2);
          const zp = qdtype === 'int32' ? makeInput(c.paramShape, 'int32', CONTIGUOUS, s + 3, (r, n) => Array.from({ length: n }, () => randInt(r, -1000, 1000))) : null;
          const zps = zp ? zp.values : base.zps;
          const q = makeInput(shape, qdtype, layout, s, qdtype === 'int32' ? (r, n) => Array.from({ length: n }, () => randInt(r, -1e6, 1e6)) : undefined);
          const y = dequantize(q.tensor, base.scale, zp ? zp.tensor : base.zp, qOptions(c));
          expect(y.dtype).toBe(dtype);
          const expected = q.values.map((v, f) => storeAs(dtype, (v - zps[c.paramIndex(f)]) * base.scales[c.paramIndex(f)]));
          expectAll(readValues(y), expected, exactly, `dequantize ${qdtype} ${mode} ${dtype}`);
        });
      }), runs(802, 200));
  });

  itNoLeaks('round trip: |dequantize(quantize(x)) - x| <= scale/2 for x inside the representable range', () => {
    fc.assert(fc.property(arbShape(0, 3, 6), fc.constantFrom<Mode>('tensor', 'axis', 'blocked'), fc.constantFrom(...TYPES),
      fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, seed, (shape, mode, type, dtype, layout, s) => {
        scope(() => {
          const c = makeCase(shape, mode, rng(s));
          const p = params(c, dtype, type, s + 2);
          const [lo, hi] = RANGE[type];
          // x uniformly inside [(lo - zp) * scale, (hi - zp) * scale] for its own parameters
          const x = makeInput(shape, dtype, { ...layout, expand: false }, s, (rand, n) => Array.from({ length: n }, (_, f) => {
            const k = c.paramIndex(f);
            return storeAs(dtype, (lo - p.zps[k] + rand() * (hi - lo)) * p.scales[k]);
          }));
          const back = readValues(dequantize(quantize(x.tensor, p.scale, p.zp, type, qOptions(c)), p.scale, p.zp, qOptions(c)));
          back.forEach((v, f) => {
            const scale = p.scales[c.paramIndex(f)];
            const slack = dtype === 'float32' ? 4 * 2 ** -24 * (Math.abs(x.values[f]) + scale) : 0;
            expect(Math.abs(v - x.values[f]), `element ${f}: x=${x.values[f]} scale=${scale} back=${v}`).toBeLessThanOrEqual(scale / 2 + slack);
          });
        });
      }), runs(803, 150));
  });

  itNoLeaks('saturates at both ends of every type', () => {
    scope(() => {
      const x = tensor([-1e9, -1000, 1000, 1e9, Infinity, -Infinity]);
      for (const type of TYPES) {
        const [lo, hi] = RANGE[type];
        expect(quantizedRange(type)).toEqual({ min: lo, max: hi });
        const q = readValues(quantize(x, tensor(1), undefined, type));
        expect(q, type).toEqual([lo, lo, hi, hi, hi, lo]);
      }
      // zero point shifts where saturation happens
      const q = readValues(quantize(tensor([-5, 250, 251]), tensor(1), fromArray(new Uint8Array([5]), []), 'uint8'));
      expect(q).toEqual([0, 255, 255]);
    });
  });

  itNoLeaks('ONNX rounding is half to even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2, 0.5 -> 0; NaN maps to the zero point', () => {
    scope(() => {
      const x = tensor([2.5, 3.5, -2.5, 0.5, -0.5, 1.5, 2.4999998, NaN]);
      expect(readValues(quantize(x, tensor(1), undefined, 'int8'))).toEqual([2, 4, -2, 0, 0, 2, 2, 0]);
      expect(readValues(quantize(x, tensor(1), fromArray(new Int8Array([3]), []), 'int8'))).toEqual([5, 7, 1, 3, 3, 5, 5, 3]);
      // with a scale: 5 / 2 = 2.5 -> 2
      expect(readValues(quantize(tensor([5, 7, -5], { dtype: 'float64' }), tensor(2, { dtype: 'float64' }), undefined, 'int4'))).toEqual([2, 4, -2]);
    });
  });

  itNoLeaks('blocked quantization with a last partial block uses the last block\'s parameters', () => {
    scope(() => {
      // 7 elements along axis 1, block 3: blocks [0..2], [3..5], [6] (partial)
      const x = tensor([[1, 2, 3, 4, 5, 6, 7], [-1, -2, -3, -4, -5, -6, -7]]);
      const scale = tensor([[1, 2, 4], [1, 0.5, 0.25]]);
      const zp = fromArray(new Int8Array([0, 0, 10, 0, 1, -1]), [2, 3]);
      const q = quantize(x, scale, zp, 'int8', { axis: 1, blockSize: 3 });
      expect(q.arraySync()).toEqual([[1, 2, 3, 2, 2, 3, 12], [-1, -2, -3, -7, -9, -11, -29]]);
      const back = dequantize(q, scale, zp, { axis: -1, blockSize: 3 });
      expect(back.arraySync()).toEqual([[1, 2, 3, 4, 4, 6, 8], [-1, -2, -3, -4, -5, -6, -7]]);
    });
  });

  itNoLeaks('per-axis quantization along axis 0 and -1 of a matrix', () => {
    scope(() => {
      const x = tensor([[1, 2], [3, 4], [5, 6]]);
      expect(quantize(x, tensor([1, 2, 4]), undefined, 'int8', { axis: 0 }).arraySync()).toEqual([[1, 2], [2, 2], [1, 2]]);
      expect(quantize(x, tensor([1, 4]), fromArray(new Int8Array([0, 1]), [2]), 'int8', { axis: -1 }).arraySync()).toEqual([[1, 1], [3, 2], [5, 3]]);
    });
  });

  itNoLeaks('errors: parameter shapes, dtypes and types', () => {
    scope(() => {
      const x = zeros([2, 6]);
      expectMinnowError(() => quantize(x, tensor([1, 2]), undefined, 'int8'), 'SHAPE_MISMATCH', 'quantize', '[2]');
      expectMinnowError(() => quantize(x, tensor([1, 2, 3]), undefined, 'int8', { axis: 1 }), 'SHAPE_MISMATCH', 'quantize', '[6]', '[3]');
      expectMinnowError(() => quantize(x, zeros([2, 3]), undefined, 'int8', { axis: 1, blockSize: 4 }), 'SHAPE_MISMATCH', 'quantize', '[2,2]', '[2,3]');
      expectMinnowError(() => quantize(x, zeros([2, 3]), undefined, 'int8', { axis: 1, blockSize: 1.5 }), 'INVALID_ARGUMENT', 'quantize');
      expectMinnowError(() => quantize(x, tensor(1), fromArray(new Uint8Array([0]), []), 'int8'), 'DTYPE_MISMATCH', 'quantize');
      expectMinnowError(() => quantize(x, tensor(1, { dtype: 'float64' }), undefined, 'int8'), 'DTYPE_MISMATCH', 'quantize');
      expectMinnowError(() => quantize(x, tensor([1, 1]), fromArray(new Int8Array([0]), [1]), 'int8', { axis: 0 }), 'SHAPE_MISMATCH', 'quantize');
      expectMinnowError(() => quantize(zeros([2], { dtype: 'int32' }), tensor(1), undefined, 'int8'), 'UNSUPPORTED_DTYPE', 'quantize');
      expectMinnowError(() => quantize(x, tensor(1), undefined, 'int2' as QuantizedType), 'UNSUPPORTED_DTYPE', 'quantize');
      expectMinnowError(() => quantize(x, tensor(1), undefined, 'int8', { axis: 2 }), 'OUT_OF_RANGE', 'quantize', '[2,6]');
      expectMinnowError(() => dequantize(zeros([2]), tensor(1), undefined), 'UNSUPPORTED_DTYPE', 'dequantize');
      expectMinnowError(() => dequantize(zeros([2], { dtype: 'int8' }), tensor(1, { dtype: 'int32' }), undefined), 'UNSUPPORTED_DTYPE', 'dequantize');
      expectMinnowError(() => dequantize(zeros([2], { dtype: 'int8' }), tensor(1), fromArray(new Uint8Array([0]), [])), 'DTYPE_MISMATCH', 'dequantize');
    });
  });
});

void size;
