import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DTYPES, conv2d, fromArray, gather, matmul, matmulInteger, pad, scope, tensor, transpose, zeros, type DType,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  CONTIGUOUS, arbLayout, arbShape, broadcastIndex, expectAll, exactly, expectMinnowError, makeInput, randInt, readValues,
  refBroadcastShape, rng, runs, size, storeAs, unravel, wrapInt, type Layout,
} from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const dim = (max = 5) => fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 6, arbitrary: fc.integer({ min: 2, max }) });

/** Reference batched matmul over logical values; returns values and per-element sum|terms|. */
function refMatmul(aShape: number[], a: number[], bShape: number[], b: number[]): { shape: number[]; values: number[]; mags: number[] } | null {
  const a2 = aShape.length === 1 ? [1, aShape[0]] : aShape;
  const b2 = bShape.length === 1 ? [bShape[0], 1] : bShape;
  const [m, k] = a2.slice(-2);
  const [k2, n] = b2.slice(-2);
  if (k !== k2) return null;
  const batch = refBroadcastShape(a2.slice(0, -2), b2.slice(0, -2));
  if (!batch) return null;
  const values: number[] = [];
  const mags: number[] = [];
  const aBatch = a2.slice(0, -2);
  const bBatch = b2.slice(0, -2);
  for (let bi = 0; bi < size(batch); bi++) {
    const idx = unravel(bi, batch);
    const ao = broadcastIndex(idx, aBatch) * m * k;
    const bo = broadcastIndex(idx, bBatch) * k * n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      let mag = 0;
      for (let p = 0; p < k; p++) {
        const t = a[ao + i * k + p] * b[bo + p * n + j];
        s += t;
        mag += Math.abs(t);
      }
      values.push(s);
      mags.push(mag);
    }
  }
  const shape = [...batch, ...(aShape.length > 1 ? [m] : []), ...(bShape.length > 1 ? [n] : [])];
  return { shape, values, mags };
}

const accTol = (dtype: DType, k: number, mag: number) => (k + 2) * (dtype === 'float32' ? 2 ** -24 : 2 ** -53) * mag;

/** Operand shapes for a batched product: optional 1-D operands, broadcast batch dims. */
const arbMatmulShapes = fc.tuple(dim(), dim(), dim(), arbShape(0, 2, 3), seed).map(([m, k, n, batch, s]) => {
  const rand = rng(s);
  const kind = randInt(rand, 0, 5);
  const aBatch = batch.slice(randInt(rand, 0, batch.length)).map((d) => (rand() < 0.3 ? 1 : d));
  const bBatch = batch.slice(randInt(rand, 0, batch.length)).map((d) => (rand() < 0.3 ? 1 : d));
  const aShape = kind === 0 ? [k] : [...aBatch, m, k];
  const bShape = kind === 1 ? [k] : kind === 2 ? [k] : [...bBatch, k, n];
  if (kind === 2) return { aShape: [k], bShape };
  return { aShape, bShape };
});

describe('matmul', () => {
  itNoLeaks('batched, broadcast batch, 1-D operands, empty dims, non-contiguous views vs float64 reference', () => {
    fc.assert(fc.property(arbMatmulShapes, fc.constantFrom<DType>('float32', 'float64'), arbLayout, arbLayout, seed,
      ({ aShape, bShape }, dtype, la, lb, s) => {
        scope(() => {
          const a = makeInput(aShape, dtype, la, s);
          const b = makeInput(bShape, dtype, lb, s + 1);
          const ref = refMatmul(aShape, a.values, bShape, b.values)!;
          const y = matmul(a.tensor, b.tensor);
          expect([...y.shape], `${JSON.stringify(aShape)} x ${JSON.stringify(bShape)}`).toEqual(ref.shape);
          const k = aShape[aShape.length - 1];
          expectAll(readValues(y), ref.values, (g, e, i) => Math.abs(g - e) <= accTol(dtype, k, ref.mags[i]), `matmul ${dtype} ${JSON.stringify(aShape)} x ${JSON.stringify(bShape)}`);
        });
      }), runs(701, 150));
  });

  itNoLeaks('int32 is exact and wraps to 32 bits', () => {
    fc.assert(fc.property(arbMatmulShapes, arbLayout, arbLayout, seed, ({ aShape, bShape }, la, lb, s) => {
      scope(() => {
        const gen = (rand: () => number, n: number) => Array.from({ length: n }, () => randInt(rand, -(2 ** 20), 2 ** 20));
        const a = makeInput(aShape, 'int32', la, s, gen);
        const b = makeInput(bShape, 'int32', lb, s + 1, gen);
        const ref = refMatmul(aShape, a.values, bShape, b.values)!;
        const y = matmul(a.tensor, b.tensor);
        expect(y.dtype).toBe('int32');
        expectAll(readValues(y), ref.values.map((v) => wrapInt(v, 32, true)), exactly, 'int32 matmul');
      });
    }), runs(702, 100));
  });

  itNoLeaks('1-D x 1-D is a scalar dot product; shapes follow numpy', () => {
    scope(() => {
      const v = tensor([1, 2, 3], { dtype: 'float64' });
      const d = matmul(v, v);
      expect(d.shape).toEqual([]);
      expect(d.itemSync()).toBe(14);
      expect([...matmul(zeros([4, 2, 3]), tensor([1, 1, 1])).shape]).toEqual([4, 2]);
      expect([...matmul(tensor([1, 1]), zeros([4, 2, 3])).shape]).toEqual([4, 3]);
      expect([...matmul(zeros([2, 1, 3, 4]), zeros([5, 4, 2])).shape]).toEqual([2, 5, 3, 2]);
      expect(readValues(matmul(zeros([2, 0]), zeros([0, 3])))).toEqual([0, 0, 0, 0, 0, 0]);
    });
  });

  itNoLeaks('(AB)^T = B^T A^T and (AB)C ~ A(BC)', () => {
    fc.assert(fc.property(dim(6), dim(6), dim(6), dim(6), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), seed, (m, k, n, p, dtype, s) => {
      scope(() => {
        const A = makeInput([m, k], dtype, CONTIGUOUS, s);
        const B = makeInput([k, n], dtype, { expand: false, steps: ['permute'] }, s + 1);
        const C = makeInput([n, p], dtype, CONTIGUOUS, s + 2);
        const ab = matmul(A.tensor, B.tensor);
        const left = readValues(transpose(ab));
        const right = readValues(matmul(transpose(B.tensor), transpose(A.tensor)));
        const refAB = refMatmul([m, k], A.values, [k, n], B.values)!;
        const refT = Array.from({ length: n * m }, (_, f) => refAB.mags[(f % m) * n + Math.floor(f / m)]);
        expectAll(left, right, (x, y, i) => Math.abs(x - y) <= 2 * accTol(dtype, k, refT[i]), '(AB)^T vs B^T A^T');
        const abc = readValues(matmul(ab, C.tensor));
        const a_bc = readValues(matmul(A.tensor, matmul(B.tensor, C.tensor)));
        // both sides are within k*n*eps of the exact value, scaled by sum |a||b||c|
        const absA = A.values.map(Math.abs);
        const absB = B.values.map(Math.abs);
        const absC = C.values.map(Math.abs);
        const m1 = refMatmul([m, k], absA, [k, n], absB)!;
        const mag = refMatmul([m, n], m1.values, [n, p], absC)!;
        expectAll(abc, a_bc, (x, y, i) => Math.abs(x - y) <= 4 * (k + n + 2) * (dtype === 'float32' ? 2 ** -24 : 2 ** -53) * mag.values[i], '(AB)C vs A(BC)');
      });
    }), runs(703, 100));
  });

  itNoLeaks('errors: inner-dim mismatch names both shapes; dtype mismatch; rank 0', () => {
    scope(() => {
      expectMinnowError(() => matmul(zeros([2, 3]), zeros([4, 5])), 'SHAPE_MISMATCH', 'matmul', '[2,3]', '[4,5]');
      expectMinnowError(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 4])), 'SHAPE_MISMATCH', 'matmul');
      expectMinnowError(() => matmul(zeros([2, 3]), zeros([3, 4], { dtype: 'float64' })), 'DTYPE_MISMATCH', 'matmul');
      expectMinnowError(() => matmul(zeros([]), zeros([3])), 'INVALID_SHAPE', 'matmul');
      expectMinnowError(() => matmul(zeros([2, 2], { dtype: 'int8' }), zeros([2, 2], { dtype: 'int8' })), 'UNSUPPORTED_DTYPE', 'matmul', 'int8');
    });
  });
});

// ------------------------------------------------------------------------------------------------

interface ConvCase {
  n: number; g: number; cg: number; og: number; h: number; w: number; kh: number; kw: number;
  stride: [number, number]; dilation: [number, number]; padding: [number, number, number, number];
}

const arbConv: fc.Arbitrary<ConvCase> = fc.record({
  n: fc.integer({ min: 0, max: 2 }), g: fc.integer({ min: 1, max: 3 }), cg: fc.integer({ min: 0, max: 3 }), og: fc.integer({ min: 0, max: 3 }),
  h: fc.integer({ min: 0, max: 7 }), w: fc.integer({ min: 0, max: 7 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
}).filter((c) => c.h + c.padding[0] + c.padding[2] >= c.dilation[0] * (c.kh - 1) + 1 && c.w + c.padding[1] + c.padding[3] >= c.dilation[1] * (c.kw - 1) + 1);

function refConv(c: ConvCase, x: number[], wt: number[]): { shape: number[]; values: number[]; mags: number[] } {
  const C = c.g * c.cg;
  const O = c.g * c.og;
  const oh = Math.floor((c.h + c.padding[0] + c.padding[2] - c.dilation[0] * (c.kh - 1) - 1) / c.stride[0]) + 1;
  const ow = Math.floor((c.w + c.padding[1] + c.padding[3] - c.dilation[1] * (c.kw - 1) - 1) / c.stride[1]) + 1;
  const values: number[] = [];
  const mags: number[] = [];
  for (let b = 0; b < c.n; b++) for (let o = 0; o < O; o++) for (let y = 0; y < oh; y++) for (let z = 0; z < ow; z++) {
    const group = Math.floor(o / c.og);
    let s = 0;
    let mag = 0;
    for (let ci = 0; ci < c.cg; ci++) for (let i = 0; i < c.kh; i++) for (let j = 0; j < c.kw; j++) {
      const iy = y * c.stride[0] - c.padding[0] + i * c.dilation[0];
      const ix = z * c.stride[1] - c.padding[1] + j * c.dilation[1];
      if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
      const xv = x[((b * C + group * c.cg + ci) * c.h + iy) * c.w + ix];
      const wv = wt[((o * c.cg + ci) * c.kh + i) * c.kw + j];
      s += xv * wv;
      mag += Math.abs(xv * wv);
    }
    values.push(s);
    mags.push(mag);
  }
  return { shape: [c.n, O, oh, ow], values, mags };
}

describe('conv2d', () => {
  itNoLeaks('groups, stride, asymmetric padding, dilation, empty dims and non-contiguous inputs vs direct loops', () => {
    fc.assert(fc.property(arbConv, fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, arbLayout, seed, (c, dtype, lx, lw, s) => {
      scope(() => {
        const x = makeInput([c.n, c.g * c.cg, c.h, c.w], dtype, lx, s);
        const w = makeInput([c.g * c.og, c.cg, c.kh, c.kw], dtype, lw, s + 1);
        const ref = refConv(c, x.values, w.values);
        const y = conv2d(x.tensor, w.tensor, { stride: c.stride, dilation: c.dilation, padding: c.padding, groups: c.g });
        expect([...y.shape], JSON.stringify(c)).toEqual(ref.shape);
        const k = c.cg * c.kh * c.kw;
        expectAll(readValues(y), ref.values, (g, e, i) => Math.abs(g - e) <= accTol(dtype, k, ref.mags[i]), `conv2d ${JSON.stringify(c)}`);
      });
    }), runs(711, 150));
  });

  itNoLeaks('option forms: scalar stride/padding/dilation and [v, h] padding equal the explicit forms', () => {
    scope(() => {
      const x = makeInput([1, 2, 5, 6], 'float64', CONTIGUOUS, 3).tensor;
      const w = makeInput([4, 2, 3, 2], 'float64', CONTIGUOUS, 4).tensor;
      const a = readValues(conv2d(x, w, { stride: 2, padding: 1, dilation: 1 }));
      const b = readValues(conv2d(x, w, { stride: [2, 2], padding: [1, 1, 1, 1], dilation: [1, 1], groups: 1 }));
      expect(a).toEqual(b);
      const c = readValues(conv2d(x, w, { padding: [2, 1] }));
      const d = readValues(conv2d(x, w, { padding: [2, 1, 2, 1] }));
      expect(c).toEqual(d);
      // a 1x1 all-ones kernel over one channel is the identity
      const one = conv2d(makeInput([1, 1, 3, 3], 'float32', CONTIGUOUS, 5).tensor, tensor([[[[1]]]]));
      expect([...one.shape]).toEqual([1, 1, 3, 3]);
    });
  });

  itNoLeaks('errors: group mismatch names both shapes; non-4-D; bad options; dtype mismatch', () => {
    scope(() => {
      expectMinnowError(() => conv2d(zeros([1, 4, 5, 5]), zeros([6, 3, 3, 3]), { groups: 2 }), 'SHAPE_MISMATCH', 'conv2d', '[1,4,5,5]', '[6,3,3,3]', 'groups=2');
      expectMinnowError(() => conv2d(zeros([1, 4, 5, 5]), zeros([3, 2, 3, 3]), { groups: 2 }), 'SHAPE_MISMATCH', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3, 3]), { groups: 2 }), 'SHAPE_MISMATCH', 'conv2d');
      expectMinnowError(() => conv2d(zeros([4, 5, 5]), zeros([2, 4, 3, 3])), 'INVALID_SHAPE', 'conv2d', '[4,5,5]');
      expectMinnowError(() => conv2d(zeros([1, 1, 5, 5]), zeros([1, 1, 3, 3]), { stride: 0 }), 'INVALID_ARGUMENT', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 5, 5]), zeros([1, 1, 3, 3]), { padding: -1 }), 'INVALID_ARGUMENT', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 5, 5]), zeros([1, 1, 3, 3]), { groups: 1.5 }), 'INVALID_ARGUMENT', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 5, 5]), zeros([1, 1, 3, 3], { dtype: 'float64' })), 'DTYPE_MISMATCH', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 4, 4])), 'SHAPE_MISMATCH', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 5, 5], { dtype: 'int32' }), zeros([1, 1, 3, 3], { dtype: 'int32' })), 'UNSUPPORTED_DTYPE', 'conv2d');
    });
  });

  // BUG: conv2d only rejects a kernel larger than the padded input when the computed output size
  // goes negative, so the verdict depends on the stride (ops/primitives.ts conv2d, `outH < 0`):
  // a 4x4 kernel over a 2x2 input throws with stride 1 but returns an empty [1,1,0,0] with stride 2,
  // and a 3x3 kernel over 2x2 returns an empty output instead of the "kernel is larger" error.
  it('a kernel larger than the padded input is SHAPE_MISMATCH whatever the stride', () => {
    scope(() => {
      expectMinnowError(() => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 4, 4]), { stride: 2 }), 'SHAPE_MISMATCH', 'conv2d');
      expectMinnowError(() => conv2d(zeros([1, 1, 2, 2]), zeros([1, 1, 3, 3])), 'SHAPE_MISMATCH', 'conv2d');
    });
  });
});

// ------------------------------------------------------------------------------------------------

describe('gather', () => {
  itNoLeaks('any axis, negative indices, scalar/empty/multi-dim indices, every dtype, non-contiguous data and indices', () => {
    fc.assert(fc.property(arbShape(1, 3, 5), arbShape(0, 2, 3), fc.constantFrom<DType>(...DTYPES), arbLayout, arbLayout, seed,
      (shape, idxShape, dtype, ld, li, s) => {
        const rand = rng(s);
        const axis = randInt(rand, -shape.length, shape.length - 1);
        const a = axis < 0 ? axis + shape.length : axis;
        const d = shape[a];
        if (d === 0 && size(idxShape) > 0) return;
        scope(() => {
          const data = makeInput(shape, dtype, ld, s);
          const idx = makeInput(idxShape, 'int32', li, s + 1, (r, n) => Array.from({ length: n }, () => randInt(r, -d, d - 1)));
          const y = gather(data.tensor, idx.tensor, axis);
          const outShape = [...shape.slice(0, a), ...idxShape, ...shape.slice(a + 1)];
          expect([...y.shape]).toEqual(outShape);
          expect(y.dtype).toBe(dtype);
          const expected = Array.from({ length: size(outShape) }, (_, f) => {
            const o = unravel(f, outShape);
            const j = idx.values[ravelAt(o.slice(a, a + idxShape.length), idxShape)];
            const src = [...o.slice(0, a), j < 0 ? j + d : j, ...o.slice(a + idxShape.length)];
            return data.values[ravelAt(src, shape)];
          });
          expectAll(readValues(y), expected, exactly, `gather axis ${axis}`);
        });
      }), runs(721, 150));
  });

  itNoLeaks('known values and errors: out-of-range index, non-int32 indices, bad axis', () => {
    scope(() => {
      const x = tensor([[1, 2, 3], [4, 5, 6]]);
      const idx = tensor([-1, 0], { dtype: 'int32' });
      expect(gather(x, idx, 1).arraySync()).toEqual([[3, 1], [6, 4]]);
      expect(gather(x, tensor(-2, { dtype: 'int32' }), 0).arraySync()).toEqual([1, 2, 3]);
      expectMinnowError(() => gather(x, tensor([2], { dtype: 'int32' }), 0), 'OUT_OF_RANGE', 'gather', '2');
      expectMinnowError(() => gather(x, tensor([-4], { dtype: 'int32' }), 1), 'OUT_OF_RANGE', 'gather', '-4');
      expectMinnowError(() => gather(x, tensor([0]), 0), 'UNSUPPORTED_DTYPE', 'gather', 'float32');
      expectMinnowError(() => gather(x, idx, 2), 'OUT_OF_RANGE', 'gather', '[2,3]');
    });
  });
});

function ravelAt(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + idx[d];
  return f;
}

// ------------------------------------------------------------------------------------------------

describe('matmulInteger', () => {
  type ZP = 'none' | 'tensor' | 'tensor1' | 'vector';
  itNoLeaks('int8/uint8 with per-tensor, per-row and per-column zero points, batched, non-contiguous: exact int32', () => {
    fc.assert(fc.property(dim(), dim(), dim(), arbShape(0, 2, 3), fc.constantFrom<DType>('int8', 'uint8'), fc.constantFrom<DType>('int8', 'uint8'),
      fc.constantFrom<ZP>('none', 'tensor', 'tensor1', 'vector'), fc.constantFrom<ZP>('none', 'tensor', 'tensor1', 'vector'), arbLayout, arbLayout, seed,
      (m, k, n, batch, da, db, za, zb, la: Layout, lb: Layout, s) => {
        scope(() => {
          const rand = rng(s);
          const aShape = [...batch.slice(randInt(rand, 0, batch.length)), m, k];
          const bShape = [...batch.slice(randInt(rand, 0, batch.length)), k, n];
          const a = makeInput(aShape, da, la, s);
          const b = makeInput(bShape, db, lb, s + 1);
          const zero = (kind: ZP, dtype: DType, len: number) => {
            if (kind === 'none') return { t: undefined, v: Array(len).fill(0) };
            const r = makeInput(kind === 'vector' ? [len] : kind === 'tensor1' ? [1] : [], dtype, { expand: false, steps: s % 2 ? ['slice'] : [] }, s + len + 7);
            return { t: r.tensor, v: kind === 'vector' ? r.values : Array(len).fill(r.values[0]) };
          };
          const zA = zero(za, da, m);
          const zB = zero(zb, db, n);
          const y = matmulInteger(a.tensor, b.tensor, zA.t, zB.t);
          expect(y.dtype).toBe('int32');
          const ref = refMatmul(aShape, a.values.map((v, f) => v - zA.v[Math.floor(f / k) % Math.max(1, m)]), bShape, b.values.map((v, f) => v - zB.v[f % Math.max(1, n)]))!;
          expect([...y.shape]).toEqual(ref.shape);
          expectAll(readValues(y), ref.values, exactly, `matmulInteger ${da}x${db} zp ${za}/${zb}`);
        });
      }), runs(731, 150));
  });

  itNoLeaks('known value: ONNX MatMulInteger example', () => {
    scope(() => {
      // onnx/backend/test/case/node/matmulinteger.py
      const A = fromArray(new Uint8Array([11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0]), [4, 3]);
      const B = fromArray(new Uint8Array([1, 4, 2, 5, 3, 6]), [3, 2]);
      const y = matmulInteger(A, B, fromArray(new Uint8Array([12]), []), fromArray(new Uint8Array([0]), []));
      expect(y.arraySync()).toEqual([[-38, -83], [-44, -98], [-50, -113], [-56, -128]]);
    });
  });

  itNoLeaks('errors: zero point of the wrong dtype or length; float operands; inner mismatch', () => {
    scope(() => {
      const a = zeros([2, 3], { dtype: 'int8' });
      const b = zeros([3, 4], { dtype: 'uint8' });
      expectMinnowError(() => matmulInteger(a, b, zeros([], { dtype: 'uint8' })), 'DTYPE_MISMATCH', 'matmulInteger');
      expectMinnowError(() => matmulInteger(a, b, zeros([3], { dtype: 'int8' })), 'SHAPE_MISMATCH', 'matmulInteger', '[3]');
      expectMinnowError(() => matmulInteger(a, b, undefined, zeros([3], { dtype: 'uint8' })), 'SHAPE_MISMATCH', 'matmulInteger');
      expectMinnowError(() => matmulInteger(zeros([2, 3]), b), 'UNSUPPORTED_DTYPE', 'matmulInteger');
      expectMinnowError(() => matmulInteger(a, zeros([4, 4], { dtype: 'uint8' })), 'SHAPE_MISMATCH', 'matmulInteger', '[2,3]', '[4,4]');
    });
  });
});

// ------------------------------------------------------------------------------------------------

describe('pad', () => {
  itNoLeaks('positive and negative (cropping) pads with a fill value, every dtype, non-contiguous input', () => {
    fc.assert(fc.property(arbShape(0, 4, 5), fc.constantFrom<DType>(...DTYPES), arbLayout, seed, (shape, dtype, layout, s) => {
      const rand = rng(s);
      const pads = shape.map((d) => {
        let before = randInt(rand, -2, 2);
        let after = randInt(rand, -2, 2);
        if (-Math.min(0, before) - Math.min(0, after) > d) { before = Math.max(before, 0); after = Math.max(after, 0); }
        return [before, after] as [number, number];
      });
      const value = storeAs(dtype, dtype === 'bool' ? randInt(rand, 0, 1) : randInt(rand, -5, 5) + (dtype.startsWith('float') ? 0.25 : 0));
      scope(() => {
        const x = makeInput(shape, dtype, layout, s);
        const y = pad(x.tensor, pads, value);
        const out = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
        expect([...y.shape]).toEqual(out);
        expect(y.dtype).toBe(dtype);
        const expected = Array.from({ length: size(out) }, (_, f) => {
          const src = unravel(f, out).map((k, d) => k - pads[d][0]);
          return src.every((k, d) => k >= 0 && k < shape[d]) ? x.values[ravelAt(src, shape)] : value;
        });
        expectAll(readValues(y), expected, exactly, `pad ${JSON.stringify(pads)}`);
      });
    }), runs(741, 150));
  });

  itNoLeaks('errors: wrong number of pairs, non-integers, cropping more than the dim', () => {
    scope(() => {
      const x = zeros([2, 3]);
      expectMinnowError(() => pad(x, [[1, 1]]), 'INVALID_ARGUMENT', 'pad', '[2,3]');
      expectMinnowError(() => pad(x, [[1, 1], [0.5, 0]]), 'INVALID_ARGUMENT', 'pad');
      expectMinnowError(() => pad(x, [[-2, -1], [0, 0]]), 'OUT_OF_RANGE', 'pad', '[2,3]');
      expect([...pad(x, [[-1, -1], [0, 0]]).shape]).toEqual([0, 3]);
    });
  });
});

it('linalg file sanity: reference matmul agrees with a hand computation', () => {
  const r = refMatmul([2, 2], [1, 2, 3, 4], [2, 2], [5, 6, 7, 8])!;
  expect(r.values).toEqual([19, 22, 43, 50]);
});
