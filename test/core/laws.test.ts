import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  add, dequantize, equal, exp, full, gelu, log, logSoftmax, matmul, max, mean, min, mul, neg, permute, quantize, reshape,
  scope, sigmoid, softmax, sub, sum, transpose, where, type DType,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  CONTIGUOUS, arbLayout, arbShape, expectAll, exactly, makeInput, randInt, readValues, rng, runs, shuffle, size, storeAs,
} from '../helpers/reference.js';

/** Algebraic identities that must hold whatever the layout; a cheap net for kernel regressions. */

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const floatDT = fc.constantFrom<'float32' | 'float64'>('float32', 'float64');
const eps = (d: DType) => (d === 'float32' ? 2 ** -24 : 2 ** -53);

describe('algebraic laws', () => {
  itNoLeaks('a - b == -(b - a) and a + b - b is within one rounding of a', () => {
    fc.assert(fc.property(arbShape(0, 3, 5), floatDT, arbLayout, arbLayout, seed, (shape, dtype, la, lb, s) => {
      scope(() => {
        const a = makeInput(shape, dtype, la, s);
        const b = makeInput(shape, dtype, lb, s + 1);
        expectAll(readValues(sub(a.tensor, b.tensor)), readValues(neg(sub(b.tensor, a.tensor))), (x, y) => x === y, 'a-b vs -(b-a)');
        const back = readValues(sub(add(a.tensor, b.tensor), b.tensor));
        expectAll(back, a.values, (x, e, i) => Math.abs(x - e) <= 2 * eps(dtype) * (Math.abs(a.values[i]) + Math.abs(b.values[i])), '(a+b)-b');
      });
    }), runs(1401, 100));
  });

  itNoLeaks('exp(log(x)) ~ x for x > 0; sigmoid(x) + sigmoid(-x) = 1; gelu(x) - gelu(-x) = x', () => {
    fc.assert(fc.property(arbShape(0, 3, 5), floatDT, arbLayout, seed, (shape, dtype, layout, s) => {
      scope(() => {
        const pos = makeInput(shape, dtype, layout, s, (r, n) => Array.from({ length: n }, () => storeAs(dtype, r() * 100 + 1e-3)));
        expectAll(readValues(exp(log(pos.tensor))), pos.values, (g, e) => Math.abs(g - e) <= 8 * eps(dtype) * e * Math.max(1, Math.abs(Math.log(e))), 'exp(log x)');
        const x = makeInput(shape, dtype, layout, s + 1, (r, n) => Array.from({ length: n }, () => storeAs(dtype, (r() * 2 - 1) * 8)));
        const sig = readValues(add(sigmoid(x.tensor), sigmoid(neg(x.tensor))));
        expectAll(sig, x.values.map(() => 1), (g) => Math.abs(g - 1) <= 4 * eps(dtype), 'sigmoid(x) + sigmoid(-x)');
        const g = readValues(sub(gelu(x.tensor), gelu(neg(x.tensor))));
        expectAll(g, x.values, (v, e) => Math.abs(v - e) <= 8 * eps(dtype) * (Math.abs(e) + 1), 'gelu(x) - gelu(-x)');
      });
    }), runs(1402, 100));
  });

  itNoLeaks('summing over all axes at once equals summing one axis at a time (ints exactly)', () => {
    fc.assert(fc.property(arbShape(1, 4, 5), fc.constantFrom<DType>('float64', 'int32', 'int8'), arbLayout, seed, (shape, dtype, layout, s) => {
      scope(() => {
        const x = makeInput(shape, dtype, layout, s, dtype === 'float64' ? (r, n) => Array.from({ length: n }, () => randInt(r, -1000, 1000) / 8) : undefined);
        const all = sum(x.tensor).itemSync();
        let t = x.tensor;
        // reduce the last axis first, then a random remaining one each time
        const rand = rng(s);
        for (let rank = shape.length; rank > 0; rank--) t = sum(t, { axes: rand() < 0.5 ? rank - 1 : randInt(rand, 0, rank - 1), keepDims: false });
        expect(t.itemSync()).toBe(all);
        // int32 sums wrap, means do not: compare only where no wrap can happen
        if (size(shape) > 0 && dtype !== 'int32') expect(Math.abs(mean(x.tensor).itemSync() * size(shape) - all)).toBeLessThanOrEqual(1e-6 * (Math.abs(all) + size(shape)));
      });
    }), runs(1403, 100));
  });

  itNoLeaks('A(B + C) ~ AB + AC; softmax is shift invariant; logSoftmax = log(softmax)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), floatDT, seed, (m, k, n, dtype, s) => {
      scope(() => {
        const A = makeInput([m, k], dtype, { expand: false, steps: ['slice'] }, s);
        const B = makeInput([k, n], dtype, CONTIGUOUS, s + 1);
        const C = makeInput([k, n], dtype, { expand: false, steps: ['permute'] }, s + 2);
        const lhs = readValues(matmul(A.tensor, add(B.tensor, C.tensor)));
        const rhs = readValues(add(matmul(A.tensor, B.tensor), matmul(A.tensor, C.tensor)));
        expectAll(lhs, rhs, (x, y) => Math.abs(x - y) <= 4 * (k + 2) * eps(dtype) * 36, 'A(B+C) vs AB+AC');
        const sm = readValues(softmax(B.tensor));
        const shifted = readValues(softmax(add(B.tensor, 7.25)));
        expectAll(sm, shifted, (x, y) => Math.abs(x - y) <= 64 * eps(dtype), 'softmax(x + c)');
        const lsm = readValues(logSoftmax(B.tensor));
        expectAll(lsm, sm.map(Math.log), (x, y) => Math.abs(x - y) <= 64 * eps(dtype) * (1 + Math.abs(y)), 'logSoftmax vs log softmax');
      });
    }), runs(1404, 100));
  });

  itNoLeaks('max(x) = -min(-x); where(c, a, b) = where(!c, b, a); permute then inverse permute is the identity', () => {
    fc.assert(fc.property(arbShape(1, 4, 5, false), arbLayout, seed, (shape, layout, s) => {
      scope(() => {
        const x = makeInput(shape, 'float32', layout, s);
        expect(max(x.tensor).itemSync()).toBe(-min(neg(x.tensor)).itemSync());
        const c = makeInput(shape, 'bool', CONTIGUOUS, s + 1);
        const y = makeInput(shape, 'float32', CONTIGUOUS, s + 2);
        const notC = equal(c.tensor, full(shape, 0, { dtype: 'bool' })); // c == false
        expectAll(readValues(where(c.tensor, x.tensor, y.tensor)), readValues(where(notC, y.tensor, x.tensor)), exactly, 'where swap');
        const perm = shuffle(rng(s), [...shape.keys()]);
        const inverse = perm.map((_, i) => perm.indexOf(i));
        expectAll(readValues(permute(permute(x.tensor, perm), inverse)), x.values, exactly, 'permute inverse');
        expectAll(readValues(transpose(transpose(x.tensor))), x.values, exactly, 'double transpose');
        expectAll(readValues(reshape(reshape(x.tensor, [-1]), shape)), x.values, exactly, 'reshape round trip');
      });
    }), runs(1405, 100));
  });

  itNoLeaks('quantize(dequantize(q)) == q for every in-range q (int8 and uint8, per axis)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 6 }), fc.constantFrom<'int8' | 'uint8'>('int8', 'uint8'), floatDT, seed, (rows, cols, type, dtype, s) => {
      scope(() => {
        const q = makeInput([rows, cols], type, { expand: false, steps: ['slice'] }, s);
        const scale = makeInput([rows], dtype, CONTIGUOUS, s + 1, (r, n) => Array.from({ length: n }, () => storeAs(dtype, (1 + r()) * 2 ** randInt(r, -6, 3))));
        const zp = makeInput([rows], type, CONTIGUOUS, s + 2);
        const back = quantize(dequantize(q.tensor, scale.tensor, zp.tensor, { axis: 0 }), scale.tensor, zp.tensor, type, { axis: 0 });
        expectAll(readValues(back), q.values, exactly, 'quantize(dequantize(q))');
        expect(mul(q.tensor, 1).dtype).toBe(type);
      });
    }), runs(1406, 100));
  });
});
