import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  dequantize, fakeQuantize, fromArray, init, mul, noGrad, quantize, quantizedRange, scope, sum, tensor, type DType,
  type QuantizedType, type Tensor,
} from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectAll, expectMinnowError, randInt, readValues, rng, runs, sameValue, size, unravel } from '../helpers/reference.js';

/**
 * fakeQuantize: the forward pass is dequantize(quantize(x)) bit for bit; the clipped
 * straight-through gradient is 1 inside the representable range and 0 outside; LSQ's gradients
 * match the formulas of Esser et al. 2019 (arXiv:1902.08153), section 2.
 */

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const TYPES: QuantizedType[] = ['int8', 'uint8', 'int4', 'uint4'];
const STORAGE: Record<QuantizedType, DType> = { int8: 'int8', uint8: 'uint8', int4: 'int8', uint4: 'uint8' };

type Mode = 'tensor' | 'axis' | 'block';

/** A random quantization layout over a random shape, with the parameter index of every element. */
interface Case {
  shape: number[];
  options: { axis?: number; blockSize?: number };
  paramShape: number[];
  paramOf: (flat: number) => number;
  type: QuantizedType;
  scales: number[];
  zeros: number[] | null;
}

function makeCase(rand: () => number, mode: Mode): Case {
  const rank = randInt(rand, 1, 3);
  const shape = Array.from({ length: rank }, () => randInt(rand, 1, 7));
  const type = TYPES[randInt(rand, 0, 3)];
  const axis = randInt(rand, 0, rank - 1);
  let options: Case['options'] = {};
  let paramShape: number[] = [];
  let paramOf: (flat: number) => number = () => 0;
  if (mode === 'axis') {
    options = { axis };
    paramShape = [shape[axis]];
    paramOf = (f) => unravel(f, shape)[axis];
  } else if (mode === 'block') {
    const blockSize = randInt(rand, 1, 4);
    options = { axis, blockSize };
    paramShape = shape.map((d, i) => (i === axis ? Math.ceil(d / blockSize) : d));
    paramOf = (f) => {
      const idx = unravel(f, shape);
      idx[axis] = Math.floor(idx[axis] / blockSize);
      return idx.reduce((p, v, d) => p * paramShape[d] + v, 0);
    };
  }
  const count = size(paramShape);
  const scales = Array.from({ length: count }, () => Math.fround(0.01 + rand() * 0.5));
  const { min, max } = quantizedRange(type);
  const zeros = rand() < 0.5 ? null : Array.from({ length: count }, () => randInt(rand, min, max));
  return { shape, options, paramShape, paramOf, type, scales, zeros };
}

/** Values spread over and beyond the representable range, some exactly on a bound or a rounding tie. */
function valuesFor(rand: () => number, c: Case, dtype: 'float32' | 'float64'): number[] {
  const { min, max } = quantizedRange(c.type);
  const narrow = dtype === 'float32' ? Math.fround : (v: number) => v;
  return Array.from({ length: size(c.shape) }, (_, f) => {
    const p = c.paramOf(f);
    const s = c.scales[p];
    const z = c.zeros?.[p] ?? 0;
    const pick = rand();
    if (pick < 0.1) return narrow((min - z) * s);
    if (pick < 0.2) return narrow((max - z) * s);
    if (pick < 0.3) return narrow((randInt(rand, min, max) - z + 0.5) * s);
    return narrow((min - z - 3 + rand() * (max - min + 6)) * s);
  });
}

function paramTensors(c: Case, dtype: 'float32' | 'float64', requiresGrad = false): { scale: Tensor; zero: Tensor | undefined } {
  const scale = fromArray(dtype === 'float32' ? Float32Array.from(c.scales) : Float64Array.from(c.scales), c.paramShape, { requiresGrad });
  const zero = c.zeros ? tensorOf(c.zeros, c.paramShape, STORAGE[c.type]) : undefined;
  return { scale, zero };
}

const MODES: Mode[] = ['tensor', 'axis', 'block'];

const tensorOf = (values: number[], shape: number[], dtype: DType, backend?: string): Tensor =>
  fromArray(dtype === 'int8' ? Int8Array.from(values) : Uint8Array.from(values), shape, { backend });

describe('fakeQuantize forward', () => {
  itNoLeaks('is dequantize(quantize(x)) bit for bit, with and without a tape, for every type and layout', () => {
    fc.assert(fc.property(seed, fc.constantFrom(...MODES), fc.constantFrom('clipped' as const, 'lsq' as const), fc.boolean(), (s, mode, ste, tracked) => {
      scope(() => {
        const rand = rng(s);
        const c = makeCase(rand, mode);
        const values = valuesFor(rand, c, 'float32');
        const x = fromArray(Float32Array.from(values), c.shape, { requiresGrad: tracked });
        const { scale, zero } = paramTensors(c, 'float32', tracked && ste === 'lsq');
        const expected = readValues(dequantize(quantize(x.detach(), scale.detach(), zero, c.type, c.options), scale.detach(), zero, c.options));
        const actual = readValues(fakeQuantize(x, scale, zero, { type: c.type, ste, ...c.options }));
        // +0 and -0 are the same code; everything else must agree exactly.
        expectAll(actual, expected, (a, e) => a === e || sameValue(a, e), `${mode} ${c.type} ${ste}`);
      });
    }), runs(11, 150));
  });

  itNoLeaks('maps NaN to 0 (the zero point) and saturates infinities, as quantize does, with gradient 0 there', () => {
    scope(() => {
      const step = Math.fround(0.1);
      for (const ste of ['clipped', 'lsq'] as const) {
        for (const tracked of [true, false]) {
          const x = tensor([NaN, Infinity, -Infinity, 0.3], { requiresGrad: tracked });
          const y = fakeQuantize(x, tensor([0.1]), tensor([0], { dtype: 'int8' }), { type: 'int8', ste });
          expect(readValues(y)).toEqual([0, Math.fround(127 * step), Math.fround(-128 * step), Math.fround(3 * step)]);
          if (!tracked) continue;
          sum(y).backward();
          expect(readValues(x.grad!)).toEqual([0, 0, 0, 1]);
        }
      }
    });
  });
});

describe('fakeQuantize clipped straight-through gradient', () => {
  itNoLeaks('dL/dx = dL/dy inside [(qmin - z) s, (qmax - z) s] (bounds included), 0 outside; none to scale', () => {
    fc.assert(fc.property(seed, fc.constantFrom(...MODES), fc.constantFrom('float32' as const, 'float64' as const), (s, mode, dtype) => {
      scope(() => {
        const rand = rng(s);
        const c = makeCase(rand, mode);
        const values = valuesFor(rand, c, dtype);
        const upstream = values.map(() => rand() * 2 - 1);
        const floats = (v: number[]) => (dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v));
        const x = fromArray(floats(values), c.shape, { requiresGrad: true });
        const { scale, zero } = paramTensors(c, dtype, true);
        const r = fromArray(floats(upstream), c.shape);
        sum(mul(fakeQuantize(x, scale, zero, { type: c.type, ...c.options }), r)).backward();
        const { min, max } = quantizedRange(c.type);
        const narrow = dtype === 'float32' ? Math.fround : (v: number) => v;
        const expected = values.map((v, f) => {
          const p = c.paramOf(f);
          const z = c.zeros?.[p] ?? 0;
          const inside = v >= narrow((min - z) * c.scales[p]) && v <= narrow((max - z) * c.scales[p]);
          return inside ? narrow(upstream[f]) : 0;
        });
        expectAll(readValues(x.grad!), expected, (a, e) => a === e, `${mode} ${c.type} ${dtype}`);
        expect(scale.grad).toBeNull();
      });
    }), runs(12, 150));
  });

  itNoLeaks('records nothing under noGrad or for an x that needs no gradient', () => {
    scope(() => {
      const x = tensor([0.1, 5], { requiresGrad: true });
      expect(noGrad(() => fakeQuantize(x, tensor([0.5]), undefined, { type: 'int4' })).requiresGrad).toBe(false);
      expect(fakeQuantize(tensor([0.1, 5]), tensor([0.5]), undefined, { type: 'int4' }).requiresGrad).toBe(false);
    });
  });
});

describe('fakeQuantize LSQ gradient', () => {
  /** LSQ's derivatives, in float64: dy/dx and dy/ds per element (before the factor g and the sum per scale). */
  function lsqReference(v: number, bounds: { lo: number; hi: number }): { dx: number; ds: number } {
    if (v < bounds.lo) return { dx: 0, ds: bounds.lo };
    if (v > bounds.hi) return { dx: 0, ds: bounds.hi };
    const r = Math.round(v);
    const halfEven = Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
    return { dx: 1, ds: halfEven - v };
  }

  itNoLeaks('matches Esser et al.: dx 1 inside, 0 outside; ds = g (round(v) - v) inside, g * bound outside, summed per scale', () => {
    fc.assert(fc.property(seed, fc.constantFrom(...MODES), fc.boolean(), (s, mode, defaultG) => {
      scope(() => {
        const rand = rng(s);
        const c = makeCase(rand, mode);
        // Off the bounds and ties: there LSQ's formula and any float evaluation of it may pick differently.
        const values = valuesFor(rand, c, 'float64').map((v) => v * (1 + 1e-9));
        const upstream = values.map(() => rand() * 2 - 1);
        const x = fromArray(Float64Array.from(values), c.shape, { requiresGrad: true });
        const { scale, zero } = paramTensors(c, 'float64', true);
        const { min, max } = quantizedRange(c.type);
        const g = defaultG ? 1 / Math.sqrt((size(c.shape) / size(c.paramShape)) * max) : 0.37;
        const y = fakeQuantize(x, scale, zero, { type: c.type, ste: 'lsq', ...c.options, ...(defaultG ? {} : { gradScale: g }) });
        sum(mul(y, fromArray(Float64Array.from(upstream), c.shape))).backward();
        const dx: number[] = [];
        const ds = new Array<number>(size(c.paramShape)).fill(0);
        values.forEach((value, f) => {
          const p = c.paramOf(f);
          const z = c.zeros?.[p] ?? 0;
          const ref = lsqReference(value / c.scales[p], { lo: min - z, hi: max - z });
          dx.push(upstream[f] * ref.dx);
          ds[p] += upstream[f] * ref.ds * g;
        });
        expectAll(readValues(x.grad!), dx, (a, e) => Math.abs(a - e) <= 1e-12 * (1 + Math.abs(e)), `dx ${mode} ${c.type}`);
        expectAll(readValues(scale.grad!), ds, (a, e) => Math.abs(a - e) <= 1e-9 * (1 + Math.abs(e)), `ds ${mode} ${c.type}`);
      });
    }), runs(13, 150));
  });
});

describe('fakeQuantize arguments', () => {
  itNoLeaks('names the fault: scale shapes, dtypes, ste, gradScale, non-tensors', () => {
    scope(() => {
      const x = tensor([[1, 2, 3], [4, 5, 6]]);
      expectMinnowError(() => fakeQuantize(x, tensor([0.1, 0.2]), undefined, { type: 'int8' }), 'SHAPE_MISMATCH', 'per-tensor');
      expectMinnowError(() => fakeQuantize(x, tensor([0.1, 0.2]), undefined, { type: 'int8', axis: 1 }), 'SHAPE_MISMATCH', '[3]');
      expectMinnowError(() => fakeQuantize(x, tensor([0.1, 0.2]), undefined, { type: 'int8', axis: 1, blockSize: 2, ste: 'lsq' }), 'SHAPE_MISMATCH', '[2,2]');
      expectMinnowError(() => fakeQuantize(x, tensor([0.1]), undefined, { type: 'int8', ste: 'nearest' as 'lsq' }), 'INVALID_ARGUMENT', 'ste');
      expectMinnowError(() => fakeQuantize(x, tensor([0.1]), undefined, { type: 'int8', ste: 'lsq', gradScale: -1 }), 'INVALID_ARGUMENT', 'gradScale');
      expectMinnowError(() => fakeQuantize(x, tensor([0.1], { dtype: 'float64' }), undefined, { type: 'int8', ste: 'lsq' }), 'DTYPE_MISMATCH', 'float64');
      expectMinnowError(() => fakeQuantize([1, 2] as unknown as Tensor, tensor([0.1]), undefined, { type: 'int8' }), 'INVALID_ARGUMENT', 'x must be a Tensor');
    });
  });
});

describe('fakeQuantize on backend-wasm', () => {
  it('gives the values and gradients of backend-js', async () => {
    await init(wasmBackend);
    const rand = rng(5);
    const c = makeCase(rand, 'block');
    const values = valuesFor(rand, c, 'float32');
    const run = (backend: string, ste: 'clipped' | 'lsq'): number[][] => scope(() => {
      const x = fromArray(Float32Array.from(values), c.shape, { requiresGrad: true, backend });
      const scale = fromArray(Float32Array.from(c.scales), c.paramShape, { requiresGrad: true, backend });
      const zero = c.zeros ? tensorOf(c.zeros, c.paramShape, STORAGE[c.type], backend) : undefined;
      const y = fakeQuantize(x, scale, zero, { type: c.type, ste, ...c.options });
      sum(y).backward();
      return [readValues(y), readValues(x.grad!), scale.grad ? readValues(scale.grad) : []];
    });
    for (const ste of ['clipped', 'lsq'] as const) {
      const [js, wasm] = [run('js', ste), run('wasm', ste)];
      expect(wasm[0]).toEqual(js[0]);
      expect(wasm[1]).toEqual(js[1]);
      expectAll(wasm[2], js[2], (a, e) => Math.abs(a - e) <= 1e-5 * (1 + Math.abs(e)), `scale grad ${ste}`);
    }
  });
});
