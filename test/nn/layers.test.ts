import { describe, expect } from 'vitest';
import {
  Random, add, conv2d, fromArray, gelu, liveTensors, randomNormal, reshape, scope, sigmoid, sum, tanh, tensor, type Tensor,
} from '@minnow/core';
import {
  BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh, dropout,
} from '@minnow/nn';
import { itNoLeaks } from '../helpers/leaks.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { close, expectAll, expectMinnowError } from '../helpers/reference.js';

const values = (t: Tensor): number[] => Array.from(t.dataSync());
const randn = (shape: number[], seed: number, dtype: 'float32' | 'float64' = 'float64'): Tensor => randomNormal(shape, { seed, dtype });

/** Overwrites a parameter's values (assign never records on the tape). */
function setValues(t: Tensor, v: number[]): void {
  const value = fromArray(Float64Array.from(v), t.shape, { dtype: t.dtype });
  t.assign(value);
  value.dispose();
}

describe('Linear', () => {
  itNoLeaks('y = x W^T + b against a float64 loop, for [N, in] and [B, T, in] inputs; gradients of W and b', () => {
    const layer = new Linear(4, 3, { seed: 1, dtype: 'float64' });
    const w = values(layer.weight);
    const b = values(layer.bias!);
    for (const shape of [[5, 4], [2, 3, 4]]) {
      const x = randn(shape, 2);
      const xs = values(x);
      const rows = xs.length / 4;
      const expected: number[] = [];
      for (let r = 0; r < rows; r++) for (let o = 0; o < 3; o++) {
        let acc = b[o];
        for (let i = 0; i < 4; i++) acc += xs[r * 4 + i] * w[o * 4 + i];
        expected.push(acc);
      }
      const y = layer.forward(x);
      expect(y.shape).toEqual([...shape.slice(0, -1), 3]);
      expectAll(values(y), expected, close(1e-12, 1e-12), `linear ${shape}`);
      // d sum(y) / dW[o, i] = sum over rows of x[r, i]; d/db[o] = rows.
      const loss = scope(() => sum(y));
      loss.backward();
      const gw = values(layer.weight.grad!);
      for (let o = 0; o < 3; o++) for (let i = 0; i < 4; i++) {
        let acc = 0;
        for (let r = 0; r < rows; r++) acc += xs[r * 4 + i];
        expect(gw[o * 4 + i]).toBeCloseTo(acc, 10);
      }
      expect(values(layer.bias!.grad!)).toEqual([rows, rows, rows]);
      layer.zeroGrad();
      for (const t of [x, y, loss]) t.dispose();
    }
    gradcheck((x) => layer.forward(x), [{ shape: [3, 4] }], { what: 'Linear input gradient' });
    layer.dispose();
  });
});

describe('Conv2d', () => {
  itNoLeaks('matches core conv2d plus a per-channel bias, with stride, padding, dilation and groups', () => {
    const layer = new Conv2d(4, 6, [3, 2], { seed: 3, stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2, dtype: 'float64' });
    const x = randn([2, 4, 7, 6], 4);
    const y = layer.forward(x);
    const expected = scope(() => add(conv2d(x, layer.weight, { stride: [2, 1], padding: [1, 0, 2, 1], dilation: [1, 2], groups: 2 }), reshape(layer.bias!, [6, 1, 1])));
    expect(y.shape).toEqual(expected.shape);
    expectAll(values(y), values(expected), close(1e-14, 1e-14), 'conv2d layer');
    const wrong = randn([1, 3, 5, 5], 1);
    expectMinnowError(() => layer.forward(wrong), 'SHAPE_MISMATCH', '[N, 4, H, W]', '[1,3,5,5]');
    gradcheck((input) => layer.forward(input), [{ shape: [1, 4, 5, 4] }], { what: 'Conv2d input gradient' });
    for (const t of [x, y, expected, wrong]) t.dispose();
    layer.dispose();
  });
});

/** Per-channel batch statistics of NC... data in float64: mean, biased and unbiased variance. */
function channelStats(xs: number[], shape: number[]): { mean: number[]; biased: number[]; unbiased: number[]; count: number } {
  const [n, c] = shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const count = n * inner;
  const mean = new Array<number>(c).fill(0);
  const sq = new Array<number>(c).fill(0);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let k = 0; k < inner; k++) mean[ch] += xs[(i * c + ch) * inner + k] / count;
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let k = 0; k < inner; k++) sq[ch] += (xs[(i * c + ch) * inner + k] - mean[ch]) ** 2;
  return { mean, biased: sq.map((s) => s / count), unbiased: sq.map((s) => s / (count - 1)), count };
}

describe('BatchNorm', () => {
  itNoLeaks('BatchNorm2d train: batch statistics, affine, running stats updated with momentum 0.1 and the unbiased variance', () => {
    const bn = new BatchNorm2d(3, { dtype: 'float64' });
    expect(bn.namedBuffers().map(([n]) => n)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    setValues(bn.weight!, [1, 2, -0.5]);
    setValues(bn.bias!, [0, 1, 3]);
    const shape = [4, 3, 2, 3];
    const inner = 6;
    let runningMean = [0, 0, 0];
    let runningVar = [1, 1, 1];
    for (let step = 0; step < 2; step++) {
      const x = randomNormal(shape, { seed: 10 + step, dtype: 'float64', mean: step + 1, std: 2 });
      const xs = values(x);
      const s = channelStats(xs, shape);
      const out = bn.forward(x);
      const y = values(out);
      out.dispose();
      const [w, b] = [[1, 2, -0.5], [0, 1, 3]];
      const expected = xs.map((v, i) => {
        const ch = Math.floor(i / inner) % 3;
        return ((v - s.mean[ch]) / Math.sqrt(s.biased[ch] + 1e-5)) * w[ch] + b[ch];
      });
      expectAll(y, expected, close(1e-12, 1e-12), `batchnorm2d step ${step}`);
      runningMean = runningMean.map((r, ch) => 0.9 * r + 0.1 * s.mean[ch]);
      runningVar = runningVar.map((r, ch) => 0.9 * r + 0.1 * s.unbiased[ch]);
      expectAll(values(bn.runningMean!), runningMean, close(1e-12, 1e-14), 'running mean');
      expectAll(values(bn.runningVar!), runningVar, close(1e-12, 1e-14), 'running var');
      x.dispose();
    }
    expect(values(bn.stateDict().get('num_batches_tracked')!)).toEqual([2]);

    // Eval: the running statistics, and no more updates.
    bn.eval();
    const x = randn([2, 3, 2, 2], 20);
    const xs = values(x);
    const y = bn.forward(x);
    const w = [1, 2, -0.5];
    const b = [0, 1, 3];
    const expected = xs.map((v, i) => {
      const ch = Math.floor(i / 4) % 3;
      return ((v - runningMean[ch]) / Math.sqrt(runningVar[ch] + 1e-5)) * w[ch] + b[ch];
    });
    expectAll(values(y), expected, close(1e-12, 1e-12), 'batchnorm2d eval');
    expectAll(values(bn.runningMean!), runningMean, close(1e-12, 1e-14), 'running mean unchanged in eval');
    for (const t of [x, y]) t.dispose();
    bn.dispose();
  });

  itNoLeaks('BatchNorm1d over [N, C] and [N, C, L]; gradients by finite differences in train and eval mode', () => {
    const bn = new BatchNorm1d(3, { dtype: 'float64', momentum: 0.5, eps: 1e-3 });
    setValues(bn.weight!, [0.5, -1, 2]);
    for (const shape of [[5, 3], [2, 3, 4]]) {
      const x = randn(shape, shape.length);
      const xs = values(x);
      const s = channelStats(xs, shape);
      const inner = shape[2] ?? 1;
      const y = bn.forward(x);
      const expected = xs.map((v, i) => ((v - s.mean[Math.floor(i / inner) % 3]) / Math.sqrt(s.biased[Math.floor(i / inner) % 3] + 1e-3)) * [0.5, -1, 2][Math.floor(i / inner) % 3]);
      expectAll(values(y), expected, close(1e-12, 1e-12), `batchnorm1d ${shape}`);
      for (const t of [x, y]) t.dispose();
      gradcheck((input) => bn.forward(input), [{ shape }], { what: `BatchNorm1d train ${shape}` });
    }
    bn.eval();
    gradcheck((input) => bn.forward(input), [{ shape: [4, 3] }], { what: 'BatchNorm1d eval' });
    const [narrow, single] = [randn([4, 2], 1), randn([1, 3], 1)];
    expectMinnowError(() => bn.forward(narrow), 'SHAPE_MISMATCH', 'BatchNorm1d', '[N, 3] or [N, 3, L]', '[4,2]');
    const evalSingle = bn.forward(single); // one value per channel is fine with running statistics
    bn.train();
    expectMinnowError(() => bn.forward(single), 'INVALID_SHAPE', 'more than one value per channel');
    for (const t of [narrow, single, evalSingle]) t.dispose();
    bn.dispose();
  });

  itNoLeaks('without affine or running stats: no parameters, batch statistics in eval mode too', () => {
    const bn = new BatchNorm1d(2, { affine: false, trackRunningStats: false, dtype: 'float64' });
    expect(bn.stateDict().size).toBe(0);
    bn.eval();
    const x = tensor([[1, 10], [3, 30]], { dtype: 'float64' });
    const y = bn.forward(x);
    const r = 1 / Math.sqrt(1 + 1e-5);
    expectAll(values(y), [-r, -Math.sqrt(100 / (100 + 1e-5)), r, Math.sqrt(100 / (100 + 1e-5))], close(1e-12), 'batch stats in eval');
    for (const t of [x, y]) t.dispose();
    bn.dispose();
  });
});

describe('LayerNorm', () => {
  itNoLeaks('normalises the trailing dims with biased variance, then weight and bias; gradients', () => {
    const ln = new LayerNorm([2, 3], { dtype: 'float64', eps: 1e-4 });
    setValues(ln.weight!, [1, 2, 3, -1, 0.5, 1]);
    setValues(ln.bias!, [0, 0, 1, 1, -1, 2]);
    const x = randn([4, 2, 3], 5);
    const xs = values(x);
    const w = [1, 2, 3, -1, 0.5, 1];
    const b = [0, 0, 1, 1, -1, 2];
    const expected: number[] = [];
    for (let r = 0; r < 4; r++) {
      const row = xs.slice(r * 6, r * 6 + 6);
      const m = row.reduce((a, c) => a + c, 0) / 6;
      const v = row.reduce((a, c) => a + (c - m) ** 2, 0) / 6;
      row.forEach((c, i) => expected.push(((c - m) / Math.sqrt(v + 1e-4)) * w[i] + b[i]));
    }
    const y = ln.forward(x);
    expectAll(values(y), expected, close(1e-12, 1e-12), 'layer norm');
    gradcheck((input) => ln.forward(input), [{ shape: [2, 2, 3] }], { what: 'LayerNorm' });
    const wrong = randn([2, 3, 2], 1);
    expectMinnowError(() => ln.forward(wrong), 'SHAPE_MISMATCH', '[2,3,2]', 'normalizedShape [2,3]');
    for (const t of [x, y, wrong]) t.dispose();
    ln.dispose();
    const plain = new LayerNorm(4, { elementwiseAffine: false });
    expect(plain.parameterCount()).toBe(0);
    plain.dispose();
  });
});

describe('Dropout', () => {
  itNoLeaks('train: seeded mask, survivors scaled by 1/(1-p), about p dropped; eval: the identity', () => {
    const shape = [40, 50];
    const x = fromArray(Float32Array.from({ length: 2000 }, (_, i) => 1 + (i % 7)), shape);
    const xs = values(x);
    const a = new Dropout(0.3, { seed: 9 });
    const b = new Dropout(0.3, { seed: 9 });
    const first = a.forward(x);
    const again = b.forward(x);
    const second = a.forward(x);
    const fv = values(first);
    expect(values(again)).toEqual(fv); // same seed, same mask
    expect(values(second)).not.toEqual(fv); // the stream moved on
    // The mask is u < p for one uniform per element (row-major) from the seeded stream, as float32.
    const stream = new Random(9);
    const scale = Math.fround(1 / 0.7);
    const expected = xs.map((v) => (Math.fround(stream.uniform()) < Math.fround(0.3) ? 0 : Math.fround(v * scale)));
    expectAll(fv, expected, close(1e-7), 'dropout mask and scale');
    const dropped = fv.filter((v) => v === 0).length / fv.length;
    expect(Math.abs(dropped - 0.3)).toBeLessThan(0.04);
    a.eval();
    const identity = a.forward(x);
    expect(identity).not.toBe(x);
    expect(values(identity)).toEqual(xs);
    for (const t of [x, first, again, second, identity]) t.dispose();
  });

  itNoLeaks('functional dropout: p = 0 and training: false are identities, p = 1 zeroes; the gradient is the scaled mask', () => {
    const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const kept = dropout(x, 0, { seed: 1 });
    const evalMode = dropout(x, 0.5, { seed: 1, training: false });
    const all = dropout(x, 1, { seed: 1 });
    expect(values(kept)).toEqual([1, 2, 3, 4]);
    expect(values(evalMode)).toEqual([1, 2, 3, 4]);
    expect(values(all)).toEqual([0, 0, 0, 0]);
    const half = dropout(x, 0.5, { seed: 3 });
    const loss = scope(() => sum(half));
    loss.backward();
    expect(values(x.grad!)).toEqual(values(half).map((v) => (v === 0 ? 0 : 2)));
    expectMinnowError(() => dropout(x, 1.5, { seed: 1 }), 'INVALID_ARGUMENT', '1.5');
    expectMinnowError(() => new Dropout(-0.1, { seed: 1 }), 'INVALID_ARGUMENT', '-0.1');
    for (const t of [x, kept, evalMode, all, half, loss]) t.dispose();
  });
});

describe('activations, Flatten, Sequential', () => {
  itNoLeaks('activation modules are core\'s ops', () => {
    const x = tensor([-2, -0.5, 0, 0.5, 3]);
    const checks: [Tensor, Tensor][] = [
      [new ReLU().forward(x), tensor([0, 0, 0, 0.5, 3])],
      [new LeakyReLU(0.1).forward(x), tensor([-0.2, -0.05, 0, 0.5, 3])],
      [new GELU().forward(x), gelu(x)],
      [new GELU('tanh').forward(x), gelu(x, 'tanh')],
      [new Sigmoid().forward(x), sigmoid(x)],
      [new Tanh().forward(x), tanh(x)],
    ];
    for (const [got, want] of checks) {
      expectAll(values(got), values(want), close(1e-6, 1e-7), 'activation');
      got.dispose();
      want.dispose();
    }
    x.dispose();
  });

  itNoLeaks('Flatten keeps the batch dim by default; start and end dims', () => {
    const x = randn([2, 3, 4, 5], 1);
    const cases: [Flatten, number[]][] = [[new Flatten(), [2, 60]], [new Flatten(0), [120]], [new Flatten(1, 2), [2, 12, 5]], [new Flatten(-2), [2, 3, 20]]];
    for (const [f, shape] of cases) {
      const y = f.forward(x);
      expect(y.shape).toEqual(shape);
      expect(values(y)).toEqual(values(x));
      y.dispose();
    }
    expectMinnowError(() => new Flatten(2, 1).forward(x), 'OUT_OF_RANGE');
    x.dispose();
  });

  itNoLeaks('Sequential chains, frees intermediates, and indexes its layers', () => {
    const before = liveTensors();
    const first = new Linear(3, 4, { seed: 1 });
    const model = new Sequential(first, new ReLU(), new Linear(4, 2, { seed: 2 }));
    expect(model.length).toBe(3);
    expect(model.at(0)).toBe(first);
    expect(model.at(-1)).toBe(model.layers[2]);
    const x = tensor([[1, 2, 3]]);
    const live = liveTensors();
    const y = model.forward(x);
    expect(y.requiresGrad).toBe(true);
    const manual = scope(() => model.layers[2].forward(new ReLU().forward(first.forward(x))));
    expect(values(y)).toEqual(values(manual));
    const empty = new Sequential();
    const same = empty.forward(x);
    expect(values(same)).toEqual([1, 2, 3]);
    for (const t of [y, manual, same]) t.dispose();
    // Disposing the outputs frees the tape (intermediates and what it saved): nothing else stays.
    expect(liveTensors()).toBe(live);
    x.dispose();
    model.dispose();
    expect(liveTensors()).toBe(before);
  });
});

