import { describe, expect } from 'vitest';
import { mul, scope, sum, tensor, type DType, type Tensor } from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { SGD, clipGradNorm, clipGradValue } from '@minnow/nn';

/** Parameters whose `.grad` is exactly `grads[i]` (through backward of Σ p·c). */
function withGrads(grads: number[][], dtype: DType = 'float64'): Tensor[] {
  return grads.map((g) => {
    const p = tensor(g.map(() => 0), { dtype, requiresGrad: true });
    scope(() => sum(mul(p, tensor(g, { dtype }))).backward());
    return p;
  });
}

const GRADS = [[3, -4, 0.5], [1, -2], [12]];
const flat = GRADS.flat();
const pNorm = (p: number): number => (p === Infinity ? Math.max(...flat.map(Math.abs)) : flat.reduce((a, x) => a + Math.abs(x) ** p, 0) ** (1 / p));

function expectGrads(params: Tensor[], expected: number[][], rtol: number): void {
  params.forEach((p, i) =>
    Array.from(p.grad!.dataSync()).forEach((g, j) => {
      const want = expected[i][j];
      if (!(Math.abs(g - want) <= rtol * Math.abs(want) + 1e-12)) throw new Error(`grad ${i}[${j}] is ${g}, expected ${want}`);
    }),
  );
}

describe('clipGradNorm', () => {
  for (const normType of [2, 1, 3, Infinity]) {
    itNoLeaks(`normType ${normType}: returns the total norm over all gradients and scales them by maxNorm/(total + 1e-6)`, () => {
      const params = withGrads(GRADS);
      const gradObjects = params.map((p) => p.grad);
      const total = pNorm(normType);
      const maxNorm = total / 4;
      expect(clipGradNorm(params, maxNorm, { normType })).toBeCloseTo(total, 12);
      const coefficient = maxNorm / (total + 1e-6);
      expectGrads(params, GRADS.map((g) => g.map((x) => x * coefficient)), 1e-12);
      params.forEach((p, i) => expect(p.grad).toBe(gradObjects[i])); // scaled in place: the same grad tensors
      // The clipped gradients have (almost exactly) norm maxNorm.
      const clipped = params.flatMap((p) => Array.from(p.grad!.dataSync()));
      const after = normType === Infinity ? Math.max(...clipped.map(Math.abs)) : clipped.reduce((a, x) => a + Math.abs(x) ** normType, 0) ** (1 / normType);
      expect(after).toBeCloseTo(maxNorm, 5);
      for (const p of params) p.dispose();
    });
  }

  itNoLeaks('below maxNorm it is a no-op (values bit for bit), and returns the norm', () => {
    const params = withGrads(GRADS, 'float32');
    const before = params.map((p) => Array.from(p.grad!.dataSync()));
    expect(clipGradNorm(params, 100)).toBeCloseTo(pNorm(2), 5);
    expect(params.map((p) => Array.from(p.grad!.dataSync()))).toEqual(before);
    for (const p of params) p.dispose();
  });

  itNoLeaks('float32 and float64 parameters together; parameters without grads are ignored; a single Tensor works', () => {
    const [a] = withGrads([[3, 4]], 'float32');
    const [b] = withGrads([[12]], 'float64');
    const none = tensor([100, 100], { requiresGrad: true });
    expect(clipGradNorm([a, b, none], 6.5)).toBeCloseTo(13, 5);
    expectGrads([a, b], [[1.5, 2], [6]], 1e-6);
    expect(none.grad).toBeNull();
    expect(clipGradNorm([none], 1)).toBe(0);
    expect(clipGradNorm(b, 1)).toBeCloseTo(6, 5);
    for (const p of [a, b, none]) p.dispose();
  });

  itNoLeaks('a non-finite norm: propagates into the grads as PyTorch, or throws before touching them with errorIfNonfinite', () => {
    const [p] = withGrads([[1, Number.NaN]]);
    expect(() => clipGradNorm([p], 1, { errorIfNonfinite: true })).toThrow(/total 2-norm of the gradients is NaN/);
    expect(p.grad!.dataSync()[0]).toBe(1);
    expect(clipGradNorm([p], 1)).toBeNaN();
    expect(Number.isNaN(p.grad!.dataSync()[0])).toBe(true);
    p.dispose();
  });

  itNoLeaks('refuses bad arguments', () => {
    const [p] = withGrads([[1]]);
    expect(() => clipGradNorm([p], -1)).toThrow(/maxNorm must be a number >= 0/);
    expect(() => clipGradNorm([p], 1, { normType: 0 })).toThrow(/normType must be a number > 0 or Infinity/);
    expect(() => clipGradNorm([p, 3 as unknown as Tensor], 1)).toThrow(/parameter 1 is not a Tensor/);
    expect(() => clipGradNorm(undefined as unknown as Tensor[], 1)).toThrow(/iterable of Tensors/);
    expect(() => clipGradValue([p], Number.NaN)).toThrow(/clipValue must be a number >= 0/);
    p.dispose();
  });

  itNoLeaks('between backward and step: the optimiser sees the clipped gradient', () => {
    const [p] = withGrads([[30, -40]]);
    const opt = new SGD([p], { lr: 1 });
    clipGradNorm([p], 5);
    opt.step();
    const coefficient = 5 / (50 + 1e-6);
    expect(Array.from(p.dataSync())).toEqual([-30 * coefficient, 40 * coefficient]);
    opt.dispose();
    p.dispose();
  });
});

describe('clipGradValue', () => {
  itNoLeaks('clamps every gradient element into [-clip, clip], in place', () => {
    const params = withGrads(GRADS, 'float32');
    const gradObjects = params.map((p) => p.grad);
    clipGradValue(params, 2.5);
    expectGrads(params, GRADS.map((g) => g.map((x) => Math.min(2.5, Math.max(-2.5, x)))), 0);
    params.forEach((p, i) => expect(p.grad).toBe(gradObjects[i]));
    for (const p of params) p.dispose();
  });
});
