import { describe, expect } from 'vitest';
import { fromArray, scope, sum, tensor, type Tensor } from '@minnow/core';
import { AvgPool2d, MaxPool2d, avgPool2d, maxPool2d, type AvgPool2dOptions, type MaxPool2dOptions } from '@minnow/nn';
import { itNoLeaks } from '../helpers/leaks.js';
import { distinctValues, gradcheck } from '../helpers/gradcheck.js';
import { close, expectAll, expectMinnowError } from '../helpers/reference.js';

/**
 * Pooling against plain loops written from PyTorch's definitions: output size floor (or ceil,
 * dropping a last window that starts in the right padding), -inf padding for max, and for average
 * the window clipped to the padded input (countIncludePad) or to the real input.
 */

type Geometry = { k: [number, number]; s: [number, number]; p: [number, number]; d: [number, number]; ceil: boolean };

function outSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const numerator = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(numerator / s) : Math.floor(numerator / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out -= 1;
  return out;
}

function refPool(xs: number[], shape: number[], g: Geometry, kind: 'max' | 'avg', countIncludePad = true): { values: number[]; shape: number[] } {
  const [n, c, h, w] = shape;
  const oh = outSize(h, g.k[0], g.s[0], g.p[0], g.d[0], g.ceil);
  const ow = outSize(w, g.k[1], g.s[1], g.p[1], g.d[1], g.ceil);
  const out: number[] = [];
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let best = -Infinity;
    let total = 0;
    for (let ki = 0; ki < g.k[0]; ki++) for (let kj = 0; kj < g.k[1]; kj++) {
      const y = i * g.s[0] - g.p[0] + ki * g.d[0];
      const x = j * g.s[1] - g.p[1] + kj * g.d[1];
      if (y < 0 || y >= h || x < 0 || x >= w) continue;
      const v = xs[((b * c + ch) * h + y) * w + x];
      best = Math.max(best, v);
      total += v;
    }
    if (kind === 'max') {
      out.push(best);
      continue;
    }
    const y0 = i * g.s[0] - g.p[0];
    const x0 = j * g.s[1] - g.p[1];
    const y1 = Math.min(y0 + g.k[0], h + g.p[0]);
    const x1 = Math.min(x0 + g.k[1], w + g.p[1]);
    const divisor = countIncludePad ? (y1 - y0) * (x1 - x0) : (Math.min(y1, h) - Math.max(y0, 0)) * (Math.min(x1, w) - Math.max(x0, 0));
    out.push(total / divisor);
  }
  return { values: out, shape: [n, c, oh, ow] };
}

const geometry = (k: number | [number, number], o: { s?: number | [number, number]; p?: number | [number, number]; d?: number | [number, number]; ceil?: boolean } = {}): Geometry => {
  const two = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  return { k: two(k), s: two(o.s ?? k), p: two(o.p ?? 0), d: two(o.d ?? 1), ceil: o.ceil ?? false };
};

const CASES: [string, number[], Geometry][] = [
  ['2x2 stride 2 (tiled)', [2, 3, 6, 8], geometry(2)],
  ['2x2 stride 2, odd sizes, floor drops the last row and column', [1, 2, 7, 5], geometry(2)],
  ['2x2 stride 2, odd sizes, ceil keeps a partial window', [1, 2, 7, 5], geometry(2, { ceil: true })],
  ['3x3 stride 3, padding 1, ceil: a last window in the padding is dropped', [1, 1, 5, 7], geometry(3, { p: 1, ceil: true })],
  ['3x3 stride 2 padding 1 (overlapping)', [2, 2, 7, 6], geometry(3, { s: 2, p: 1 })],
  ['3x3 stride 1 padding 1', [1, 2, 4, 5], geometry(3, { s: 1, p: 1 })],
  ['2x2 stride 3 (gaps), padding 1, ceil drops a window', [1, 1, 5, 5], geometry(2, { s: 3, p: 1, ceil: true })],
  ['rectangular 2x3, stride [1, 2], padding [1, 0]', [2, 1, 5, 7], geometry([2, 3], { s: [1, 2], p: [1, 0] })],
];

const values = (t: Tensor): number[] => Array.from(t.dataSync());
const options = (g: Geometry): MaxPool2dOptions => ({ stride: g.s, padding: g.p, dilation: g.d, ceilMode: g.ceil });

describe('maxPool2d', () => {
  for (const [name, shape, g] of [...CASES, ['3x3 dilation 2, stride 1, padding 2', [1, 2, 7, 6], geometry(3, { s: 1, p: 2, d: 2 })] as [string, number[], Geometry]]) {
    itNoLeaks(`${name}: values, and gradients by finite differences`, () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const xs = distinctValues(shape.reduce((a, b) => a + b, 0), size);
      const x = fromArray(Float64Array.from(xs), shape);
      const ref = refPool(xs, shape, g, 'max');
      const y = maxPool2d(x, g.k, options(g));
      expect(y.shape).toEqual(ref.shape);
      expect(values(y)).toEqual(ref.values);
      for (const t of [x, y]) t.dispose();
      gradcheck((input) => maxPool2d(input, g.k, options(g)), [{ shape, values: xs }], { what: `maxPool2d ${name}` });
    });
  }

  itNoLeaks('ties share the gradient equally in tiled windows; -Infinity inputs stay -Infinity', () => {
    const x = tensor([[[[1, 1, 5, 2], [1, 1, 5, 5]]]], { requiresGrad: true });
    const y = maxPool2d(x, 2);
    expect(values(y)).toEqual([1, 5]);
    const loss = scope(() => sum(y));
    loss.backward();
    expect(values(x.grad!)).toEqual([0.25, 0.25, 1 / 3, 0, 0.25, 0.25, 1 / 3, 1 / 3].map(Math.fround));
    const inf = tensor([[[[-Infinity, -Infinity], [-Infinity, -Infinity]]]]);
    const z = maxPool2d(inf, 2, { padding: 1, stride: 1 });
    expect(values(z).every((v) => v === -Infinity)).toBe(true);
    for (const t of [x, y, loss, inf, z]) t.dispose();
  });

  itNoLeaks('the MaxPool2d module is the function', () => {
    const x = fromArray(Float32Array.from(distinctValues(3, 2 * 3 * 5 * 5)), [2, 3, 5, 5]);
    const a = new MaxPool2d(3, { stride: 2, padding: 1 }).forward(x);
    const b = maxPool2d(x, 3, { stride: 2, padding: 1 });
    expect(a.shape).toEqual([2, 3, 3, 3]);
    expect(values(a)).toEqual(values(b));
    for (const t of [x, a, b]) t.dispose();
  });
});

describe('avgPool2d', () => {
  for (const [name, shape, g] of CASES) {
    for (const countIncludePad of [true, false]) {
      itNoLeaks(`${name}, countIncludePad ${countIncludePad}: values and gradients`, () => {
        const size = shape.reduce((a, b) => a * b, 1);
        const xs = distinctValues(size, size);
        const x = fromArray(Float64Array.from(xs), shape);
        const ref = refPool(xs, shape, g, 'avg', countIncludePad);
        const opts: AvgPool2dOptions = { stride: g.s, padding: g.p, ceilMode: g.ceil, countIncludePad };
        const y = avgPool2d(x, g.k, opts);
        expect(y.shape).toEqual(ref.shape);
        expectAll(values(y), ref.values, close(1e-14, 1e-15), `avgPool2d ${name}`);
        for (const t of [x, y]) t.dispose();
        gradcheck((input) => avgPool2d(input, g.k, opts), [{ shape }], { what: `avgPool2d ${name}` });
      });
    }
  }

  itNoLeaks('the AvgPool2d module is the function; float32 stays float32', () => {
    const x = fromArray(Float32Array.from(distinctValues(4, 1 * 2 * 4 * 4)), [1, 2, 4, 4]);
    const a = new AvgPool2d(2).forward(x);
    const b = avgPool2d(x, 2);
    expect(a.dtype).toBe('float32');
    expect(values(a)).toEqual(values(b));
    for (const t of [x, a, b]) t.dispose();
  });
});

describe('pooling errors', () => {
  itNoLeaks('rank, dtype, padding beyond half the kernel, a kernel larger than the input, bad sizes', () => {
    const x = fromArray(new Float32Array(16), [1, 1, 4, 4]);
    const flat = fromArray(new Float32Array(16), [4, 4]);
    const ints = fromArray(new Int32Array(16), [1, 1, 4, 4]);
    expectMinnowError(() => maxPool2d(flat, 2), 'INVALID_SHAPE', 'NCHW', '[4,4]');
    expectMinnowError(() => avgPool2d(ints, 2), 'UNSUPPORTED_DTYPE', 'int32');
    expectMinnowError(() => maxPool2d(x, 2, { padding: 2 }), 'INVALID_ARGUMENT', 'at most half');
    expectMinnowError(() => avgPool2d(x, 5), 'SHAPE_MISMATCH', 'larger than the padded input');
    expectMinnowError(() => maxPool2d(x, 0), 'INVALID_ARGUMENT', 'kernelSize');
    expectMinnowError(() => maxPool2d(x, 2, { stride: [1, 0] }), 'INVALID_ARGUMENT', 'stride');
    for (const t of [x, flat, ints]) t.dispose();
  });
});
