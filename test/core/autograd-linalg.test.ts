import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  concat, conv2d, dequantize, erf, fromArray, gather, gelu, layerNorm, leakyRelu, linear, logSoftmax, logsumexp, matmul, mul, permute,
  sigmoid, silu, slice, softmax, softplus, sum, tensor, transpose, type Conv2dOptions,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { backprop, distinctValues, gradcheck } from '../helpers/gradcheck.js';
import { arbLayout, randInt, rng, runs } from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

describe('autograd: matmul', () => {
  itNoLeaks('1-D and 2-D operands, transposed (non-contiguous) operands', () => {
    gradcheck(matmul, [{ shape: [3] }, { shape: [3, 2] }], { what: 'vec x mat' });
    gradcheck(matmul, [{ shape: [2, 3] }, { shape: [3] }], { what: 'mat x vec' });
    gradcheck(matmul, [{ shape: [4] }, { shape: [4] }], { what: 'dot' });
    gradcheck((a, b) => matmul(transpose(a), b), [{ shape: [3, 2] }, { shape: [3, 4] }], { what: 'aT b' });
  });

  itNoLeaks('broadcast batch dims on either side, any layout', () => {
    fc.assert(fc.property(arbLayout, arbLayout, seed, (la, lb, s) => {
      const rand = rng(s);
      const [m, k, n] = [randInt(rand, 1, 3), randInt(rand, 1, 3), randInt(rand, 1, 3)];
      const batch = Array.from({ length: randInt(rand, 0, 2) }, () => randInt(rand, 1, 3));
      const cut = () => batch.slice(randInt(rand, 0, batch.length)).map((d) => (rand() < 0.4 ? 1 : d));
      gradcheck(matmul, [{ shape: [...cut(), m, k], layout: la }, { shape: [...cut(), k, n], layout: lb }], { seed: s, what: 'batched matmul' });
    }), runs(1501, 40));
    gradcheck(matmul, [{ shape: [2, 1, 3, 4] }, { shape: [5, 4, 2] }], { what: '[2,1,3,4] x [5,4,2]' });
  });
});

describe('autograd: conv2d (gradients composed from conv2d itself)', () => {
  const configs: [string, number[], number[], Conv2dOptions][] = [
    ['plain', [2, 3, 5, 5], [4, 3, 3, 3], {}],
    ['stride 2', [1, 2, 6, 7], [3, 2, 3, 2], { stride: 2 }],
    ['stride [2,3], padding 1', [2, 2, 7, 8], [2, 2, 3, 3], { stride: [2, 3], padding: 1 }],
    ['asymmetric padding', [1, 2, 4, 5], [2, 2, 2, 3], { padding: [2, 0, 1, 3] }],
    ['padding beyond the kernel', [1, 1, 3, 3], [1, 1, 2, 2], { padding: 3, stride: 2 }],
    ['dilation 2', [1, 2, 7, 7], [2, 2, 3, 3], { dilation: 2 }],
    ['dilation [2,1] with stride and padding', [2, 2, 8, 6], [3, 2, 2, 3], { dilation: [2, 1], stride: [2, 1], padding: [1, 2] }],
    ['groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2 }],
    ['depthwise', [1, 3, 5, 4], [3, 1, 3, 3], { groups: 3, padding: 1 }],
    ['groups, stride, dilation, padding together', [2, 4, 9, 8], [4, 2, 2, 3], { groups: 2, stride: [2, 3], dilation: [3, 2], padding: [1, 0, 2, 1] }],
    ['1x1 kernel, stride 3', [2, 3, 7, 5], [2, 3, 1, 1], { stride: 3 }],
  ];
  for (const [name, xs, ws, options] of configs) {
    itNoLeaks(name, () => {
      gradcheck((x, w) => conv2d(x, w, options), [{ shape: xs }, { shape: ws }], { what: `conv2d ${name}` });
    });
  }

  itNoLeaks('random configurations, non-contiguous input', () => {
    fc.assert(fc.property(arbLayout, seed, (layout, s) => {
      const rand = rng(s);
      const groups = randInt(rand, 1, 2);
      const [cg, og] = [randInt(rand, 1, 2), randInt(rand, 1, 2)];
      const [kh, kw] = [randInt(rand, 1, 3), randInt(rand, 1, 3)];
      const stride: [number, number] = [randInt(rand, 1, 3), randInt(rand, 1, 3)];
      const dilation: [number, number] = [randInt(rand, 1, 2), randInt(rand, 1, 2)];
      const padding: [number, number, number, number] = [randInt(rand, 0, 2), randInt(rand, 0, 2), randInt(rand, 0, 2), randInt(rand, 0, 2)];
      const h = Math.max(1, dilation[0] * (kh - 1) + 1 - padding[0] - padding[2]) + randInt(rand, 0, 4);
      const w = Math.max(1, dilation[1] * (kw - 1) + 1 - padding[1] - padding[3]) + randInt(rand, 0, 4);
      const options = { stride, dilation, padding, groups };
      gradcheck((x, wt) => conv2d(x, wt, options), [{ shape: [randInt(rand, 1, 2), cg * groups, h, w], layout }, { shape: [og * groups, cg, kh, kw] }], {
        seed: s, what: `conv2d ${JSON.stringify(options)} h ${h} w ${w}`,
      });
    }), runs(1601, 40));
  });
});

describe('autograd: gather (scatter-add composed from a one-hot product)', () => {
  itNoLeaks('repeated and negative indices, on every axis, multi-dim indices', () => {
    const cases: [number[], number[], number[], number][] = [
      [[5, 3], [1, 1, -1, 4, -5, 0], [6], 0],
      [[2, 4, 3], [[3, -1], [0, 3], [2, 2]].flat(), [3, 2], 1],
      [[2, 3, 4], [0, -1, 0, 2], [4], -1],
      [[3], [2, 2, 2], [3], 0],
      [[4, 2], [1], [], 0],
    ];
    for (const [shape, indices, indexShape, axis] of cases) {
      const idx = fromArray(Int32Array.from(indices), indexShape);
      try {
        gradcheck((x) => gather(x, idx, axis), [{ shape }], { what: `gather ${JSON.stringify([shape, indices, axis])}` });
      } finally {
        idx.dispose();
      }
    }
  });

  itNoLeaks('repeated indices add up', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'float64', requiresGrad: true });
    const idx = tensor([2, -1, 0, 2], { dtype: 'int32' });
    backprop(() => sum(gather(x, idx, 0)));
    expect(x.grad!.arraySync()).toEqual([[1, 1], [0, 0], [3, 3]]);
    x.dispose();
    idx.dispose();
  });
});

describe('autograd: dequantize (gradient wrt the scale only)', () => {
  itNoLeaks('per tensor, per axis and blocked scales', () => {
    const x = tensor([[3, -7, 0, 12, 5], [-1, 2, 9, -4, 6]], { dtype: 'int8' });
    const zp = tensor(2, { dtype: 'int8' });
    const zpAxis = tensor([1, -2], { dtype: 'int8' });
    const zpBlocked = tensor([[0, 1], [2, -1]], { dtype: 'int8' });
    try {
      gradcheck((s) => dequantize(x, s, zp), [{ shape: [], values: [0.3] }], { what: 'per tensor' });
      gradcheck((s) => dequantize(x, s, zpAxis, { axis: 0 }), [{ shape: [2], values: [0.3, 0.7] }], { what: 'per axis' });
      gradcheck((s) => dequantize(x, s, zpBlocked, { axis: 1, blockSize: 3 }), [{ shape: [2, 2], values: [0.3, 0.7, 1.1, 0.2] }], { what: 'blocked' });
      gradcheck((s) => dequantize(x, s, undefined, { axis: -1 }), [{ shape: [5], values: [0.1, 0.2, 0.3, 0.4, 0.5] }], { what: 'per last axis' });
    } finally {
      for (const t of [x, zp, zpAxis, zpBlocked]) t.dispose();
    }
  });
});

describe('autograd: composed ops differentiate through their primitives', () => {
  itNoLeaks('softmax, logSoftmax, logsumexp on every axis', () => {
    for (const axis of [0, 1, -1]) {
      gradcheck((x) => softmax(x, axis), [{ shape: [3, 4] }], { what: `softmax ${axis}` });
      gradcheck((x) => logSoftmax(x, axis), [{ shape: [3, 4] }], { what: `logSoftmax ${axis}` });
      gradcheck((x) => logsumexp(x, { axes: axis }), [{ shape: [3, 4] }], { what: `logsumexp ${axis}` });
    }
    gradcheck((x) => logSoftmax(x), [{ shape: [2, 3], values: [100, 101, 99, -50, 0, 50] }], { what: 'logSoftmax large' });
  });

  itNoLeaks('layerNorm with weight and bias, over one and two dims', () => {
    gradcheck((x, w, b) => layerNorm(x, { weight: w, bias: b }), [{ shape: [3, 4] }, { shape: [4] }, { shape: [4] }], { what: 'layerNorm' });
    gradcheck((x, w) => layerNorm(permute(x, [1, 0, 2]), { normalizedDims: 2, weight: w }), [{ shape: [3, 2, 4] }, { shape: [3, 4] }], { what: 'layerNorm 2 dims' });
  });

  itNoLeaks('gelu (exact and tanh), erf, sigmoid, silu, softplus, leakyRelu', () => {
    const values = distinctValues(7, 12, -3, 3, 1e-2).map((v) => (Math.abs(v) < 0.02 ? v + 0.05 : v));
    const spec = [{ shape: [3, 4], values }];
    gradcheck((x) => gelu(x), spec, { what: 'gelu' });
    gradcheck((x) => gelu(x, 'tanh'), spec, { what: 'gelu tanh' });
    gradcheck(erf, spec, { what: 'erf' });
    gradcheck(sigmoid, spec, { what: 'sigmoid' });
    gradcheck(silu, spec, { what: 'silu' });
    gradcheck(softplus, spec, { what: 'softplus' });
    gradcheck((x) => leakyRelu(x, 0.1), spec, { what: 'leakyRelu' });
  });

  itNoLeaks('linear, concat, and a small network end to end', () => {
    gradcheck((x, w, b) => linear(x, w, b), [{ shape: [5, 3] }, { shape: [2, 3] }, { shape: [2] }], { what: 'linear' });
    gradcheck((a, b) => concat([a, b, a], 1), [{ shape: [2, 1] }, { shape: [2, 3] }], { what: 'concat' });
    const labels = fromArray(Int32Array.from([0, 2, 1, 2]), [4]);
    const oneHot = fromArray(Float64Array.from([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]), [4, 3]);
    try {
      gradcheck(
        (x, w1, w2) => {
          const h = softplus(matmul(x, w1));
          const logits = slice(matmul(h, w2), [0, 0], [4, 3]);
          return mul(sum(mul(logSoftmax(logits), oneHot)), -1 / 4);
        },
        [{ shape: [4, 2] }, { shape: [2, 5] }, { shape: [5, 3] }],
        { what: 'mlp cross-entropy' },
      );
    } finally {
      labels.dispose();
      oneHot.dispose();
    }
  });
});

