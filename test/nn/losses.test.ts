import { describe, expect } from 'vitest';
import { fromArray, scope, tensor, type Tensor } from '@minnow/core';
import { crossEntropy, klDivergence, mse, oneHot } from '@minnow/nn';
import { itNoLeaks } from '../helpers/leaks.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { close, expectAll, expectMinnowError, rng } from '../helpers/reference.js';

/** Float64 references, row by row over a [N, C] matrix given as nested arrays. */
function logSoftmaxRef(row: number[]): number[] {
  // (v - m) - log(sum): adding m back to the log-sum first would round it away for huge |m|.
  const m = Math.max(...row);
  const logSum = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - m - logSum);
}
const softmaxRef = (row: number[]): number[] => logSoftmaxRef(row).map(Math.exp);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function crossEntropyRef(logits: number[][], target: number[] | number[][], smoothing = 0): number[] {
  return logits.map((row, i) => {
    const c = row.length;
    const t = typeof target[i] === 'number' ? row.map((_, k) => (k === target[i] ? 1 : 0)) : (target[i] as number[]);
    const lp = logSoftmaxRef(row);
    return -t.reduce((acc, tk, k) => {
      const weight = (1 - smoothing) * tk + smoothing / c;
      return weight === 0 ? acc : acc + weight * lp[k];
    }, 0);
  });
}

function klRef(student: number[][], teacher: number[][], temperature: number): number[] {
  return student.map((row, i) => {
    const ls = logSoftmaxRef(row.map((v) => v / temperature));
    const lt = logSoftmaxRef(teacher[i].map((v) => v / temperature));
    return lt.reduce((acc, l, k) => acc + (Math.exp(l) === 0 ? 0 : Math.exp(l) * (l - ls[k])), 0);
  });
}

function matrix(seed: number, n: number, c: number, scale = 3): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: c }, () => (r() * 2 - 1) * scale));
}
const f64 = (rows: number[][]): Tensor => fromArray(Float64Array.from(rows.flat()), [rows.length, rows[0].length]);
const labelsOf = (xs: number[]): Tensor => fromArray(Int32Array.from(xs), [xs.length]);
const values = (t: Tensor): number[] => Array.from(t.dataSync());

describe('crossEntropy', () => {
  itNoLeaks('int32 labels: mean, sum and none against float64; label smoothing; probability targets', () => {
    const logits = matrix(1, 5, 4);
    const labels = [0, 3, 1, 1, 2];
    const probs = matrix(2, 5, 4, 1).map(softmaxRef);
    const x = f64(logits);
    const y = labelsOf(labels);
    const p = f64(probs);
    const perSample = crossEntropyRef(logits, labels);
    const cases: [Tensor, number[]][] = [
      [crossEntropy(x, y, { reduction: 'none' }), perSample],
      [crossEntropy(x, y), [mean(perSample)]],
      [crossEntropy(x, y, { reduction: 'sum' }), [perSample.reduce((a, b) => a + b, 0)]],
      [crossEntropy(x, y, { labelSmoothing: 0.1, reduction: 'none' }), crossEntropyRef(logits, labels, 0.1)],
      [crossEntropy(x, p, { reduction: 'none' }), crossEntropyRef(logits, probs)],
      [crossEntropy(x, p, { labelSmoothing: 0.2 }), [mean(crossEntropyRef(logits, probs, 0.2))]],
    ];
    for (const [got, want] of cases) {
      expectAll(values(got), want, close(1e-13, 1e-14), 'cross-entropy');
      got.dispose();
    }
    const oneHotLabels = oneHot(y, 4, { dtype: 'float64' });
    const viaProbs = crossEntropy(x, oneHotLabels, { reduction: 'none' });
    expectAll(values(viaProbs), perSample, close(1e-13), 'one-hot probabilities equal labels');
    for (const t of [x, y, p, oneHotLabels, viaProbs]) t.dispose();
  });

  itNoLeaks('gradients by finite differences: labels, smoothing, probability targets (both inputs)', () => {
    const labels = labelsOf([2, 0, 1]);
    gradcheck((x) => crossEntropy(x, labels), [{ shape: [3, 4] }], { what: 'crossEntropy labels' });
    gradcheck((x) => crossEntropy(x, labels, { labelSmoothing: 0.3, reduction: 'sum' }), [{ shape: [3, 4] }], { what: 'crossEntropy smoothing' });
    gradcheck((x, t) => crossEntropy(x, t, { reduction: 'none' }), [{ shape: [3, 4] }, { shape: [3, 4] }], { what: 'crossEntropy probabilities' });
    labels.dispose();
  });

  itNoLeaks('[B, T, C] logits with [B, T] labels: the class axis is the last', () => {
    const logits = matrix(3, 6, 5);
    const labels = [4, 0, 2, 2, 1, 3];
    const x = fromArray(Float64Array.from(logits.flat()), [2, 3, 5]);
    const y = fromArray(Int32Array.from(labels), [2, 3]);
    const none = crossEntropy(x, y, { reduction: 'none' });
    expect(none.shape).toEqual([2, 3]);
    expectAll(values(none), crossEntropyRef(logits, labels), close(1e-13), 'sequence cross-entropy');
    for (const t of [x, y, none]) t.dispose();
  });

  itNoLeaks('extreme logits (float32): finite losses equal to float64, gradients softmax - target with no NaN', () => {
    const logits = [[1e4, -1e4, 0], [-1e38, 1e38, 0], [88, 89, -104], [-1e30, -1e30, -1e30], [1e4, 1e4, 0]];
    const labels = [1, 0, 2, 0, 0];
    const x = fromArray(Float32Array.from(logits.flat()), [5, 3], { requiresGrad: true });
    const y = labelsOf(labels);
    const fl = logits.map((r) => r.map(Math.fround));
    const none = crossEntropy(x, y, { reduction: 'none' });
    expectAll(values(none), crossEntropyRef(fl, labels), close(1e-6, 1e-6), 'extreme cross-entropy');
    const loss = crossEntropy(x, y);
    loss.backward();
    const expectedGrad = fl.flatMap((row, i) => softmaxRef(row).map((s, k) => (s - (k === labels[i] ? 1 : 0)) / 5));
    expectAll(values(x.grad!), expectedGrad, close(1e-5, 1e-7), 'extreme cross-entropy gradient');
    // log 3 and log 2 survive next to logits of -1e30 and 1e4, which x - (m + log sum) would round
    // away (entirely, or to float32's 1e-3 resolution at 1e4).
    expect(values(none)[3]).toBeCloseTo(Math.log(3), 6);
    expect(values(none)[4]).toBeCloseTo(Math.log(2), 6);
    for (const t of [x, y, none, loss]) t.dispose();
  });

  itNoLeaks('a -Infinity logit in another class (a mask) gives a finite loss and gradient', () => {
    const x = tensor([[-Infinity, 1, 2], [0, -Infinity, 3]], { requiresGrad: true });
    const y = labelsOf([1, 2]);
    const loss = crossEntropy(x, y);
    expect(loss.itemSync()).toBeCloseTo(mean(crossEntropyRef([[-Infinity, 1, 2], [0, -Infinity, 3]], [1, 2])), 5);
    loss.backward();
    expect(values(x.grad!).every(Number.isFinite)).toBe(true);
    for (const t of [x, y, loss]) t.dispose();
  });

  itNoLeaks('errors name the shapes, dtypes and options at fault', () => {
    const x = f64(matrix(1, 2, 3));
    const short = labelsOf([0]);
    const floatLabels = fromArray(new Float32Array([0, 1]), [2]);
    const probs32 = fromArray(new Float32Array(6), [2, 3]);
    const labels = labelsOf([0, 1]);
    expectMinnowError(() => crossEntropy(x, short), 'SHAPE_MISMATCH', 'int32[1]', '[2,3]');
    expectMinnowError(() => crossEntropy(x, floatLabels), 'SHAPE_MISMATCH', 'float32[2]');
    expectMinnowError(() => crossEntropy(x, probs32), 'DTYPE_MISMATCH', 'float32', 'float64');
    expectMinnowError(() => crossEntropy(x, labels, { labelSmoothing: 2 }), 'INVALID_ARGUMENT', 'labelSmoothing');
    expectMinnowError(() => crossEntropy(x, labels, { reduction: 'avg' as 'mean' }), 'INVALID_ARGUMENT', 'avg');
    expectMinnowError(() => crossEntropy(labels, labels), 'UNSUPPORTED_DTYPE', 'int32');
    expectMinnowError(() => oneHot(floatLabels, 3), 'UNSUPPORTED_DTYPE', 'float32');
    for (const t of [x, short, floatLabels, probs32, labels]) t.dispose();
  });

  itNoLeaks('oneHot: rows of zeros outside [0, C)', () => {
    const y = fromArray(Int32Array.from([2, 0, 5, -1]), [4]);
    const h = oneHot(y, 3);
    expect(h.shape).toEqual([4, 3]);
    expect(values(h)).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (const t of [y, h]) t.dispose();
  });
});

describe('mse', () => {
  itNoLeaks('values for each reduction; gradients for both inputs; shape mismatches are errors', () => {
    const a = f64(matrix(4, 3, 2));
    const b = f64(matrix(5, 3, 2));
    const diffs = values(a).map((v, i) => (v - values(b)[i]) ** 2);
    const none = mse(a, b, { reduction: 'none' });
    const total = mse(a, b, { reduction: 'sum' });
    const avg = mse(a, b);
    expectAll(values(none), diffs, close(1e-14), 'mse none');
    expect(total.itemSync()).toBeCloseTo(diffs.reduce((x, y) => x + y, 0), 12);
    expect(avg.itemSync()).toBeCloseTo(mean(diffs), 12);
    gradcheck((p, t) => mse(p, t), [{ shape: [3, 2] }, { shape: [3, 2] }], { what: 'mse' });
    const wrong = f64(matrix(1, 2, 3));
    expectMinnowError(() => mse(a, wrong), 'SHAPE_MISMATCH', '[3,2]', '[2,3]');
    for (const t of [a, b, none, total, avg, wrong]) t.dispose();
  });
});

describe('klDivergence', () => {
  itNoLeaks('KL(softmax(teacher/T) || softmax(student/T)) per sample, batch mean, sum; T^2 is not applied', () => {
    const s = matrix(6, 4, 5);
    const t = matrix(7, 4, 5);
    const student = f64(s);
    const teacher = f64(t);
    for (const temperature of [1, 2.5, 4]) {
      const ref = klRef(s, t, temperature);
      const none = klDivergence(student, teacher, { temperature, reduction: 'none' });
      const batch = klDivergence(student, teacher, { temperature });
      const total = klDivergence(student, teacher, { temperature, reduction: 'sum' });
      expectAll(values(none), ref, close(1e-12, 1e-15), `kl none T=${temperature}`);
      expect(batch.itemSync()).toBeCloseTo(mean(ref), 13);
      expect(total.itemSync()).toBeCloseTo(ref.reduce((a, b) => a + b, 0), 12);
      for (const x of [none, batch, total]) x.dispose();
    }
    const self = klDivergence(student, student, { temperature: 3 });
    expect(Math.abs(self.itemSync())).toBeLessThan(1e-15);
    for (const x of [student, teacher, self]) x.dispose();
  });

  itNoLeaks('gradients by finite differences, both inputs, with temperature', () => {
    gradcheck((s, t) => klDivergence(s, t, { temperature: 2 }), [{ shape: [3, 4] }, { shape: [3, 4] }], { what: 'klDivergence T=2' });
    gradcheck((s, t) => klDivergence(s, t, { reduction: 'none' }), [{ shape: [2, 5] }, { shape: [2, 5] }], { what: 'klDivergence none' });
  });

  itNoLeaks('extreme logits (float32) stay finite; a teacher with zero-probability classes adds 0', () => {
    const s = [[1e4, -1e4, 0], [50, -50, 20]];
    const t = [[-1e4, 1e4, 0], [-1e30, 1e30, 0]];
    const student = fromArray(Float32Array.from(s.flat()), [2, 3], { requiresGrad: true });
    const teacher = fromArray(Float32Array.from(t.flat()), [2, 3], { requiresGrad: true });
    const kl = klDivergence(student, teacher, { temperature: 2, reduction: 'none' });
    const ref = klRef(s.map((r) => r.map(Math.fround)), t.map((r) => r.map(Math.fround)), 2);
    expectAll(values(kl), ref, close(1e-6), 'extreme kl');
    const loss = scope(() => klDivergence(student, teacher, { temperature: 2 }));
    loss.backward();
    expect(values(student.grad!).every(Number.isFinite)).toBe(true);
    expect(values(teacher.grad!).every(Number.isFinite)).toBe(true);
    for (const x of [student, teacher, kl, loss]) x.dispose();
  });

  itNoLeaks('errors: shapes, dtypes, temperature, reduction', () => {
    const a = f64(matrix(1, 2, 3));
    const b = f64(matrix(2, 3, 2));
    const c = fromArray(new Float32Array(6), [2, 3]);
    expectMinnowError(() => klDivergence(a, b), 'SHAPE_MISMATCH', '[2,3]', '[3,2]');
    expectMinnowError(() => klDivergence(a, c), 'DTYPE_MISMATCH', 'float64', 'float32');
    expectMinnowError(() => klDivergence(a, a, { temperature: 0 }), 'INVALID_ARGUMENT', 'temperature');
    expectMinnowError(() => klDivergence(a, a, { reduction: 'mean' as 'sum' }), 'INVALID_ARGUMENT', 'mean');
    for (const x of [a, b, c]) x.dispose();
  });
});
