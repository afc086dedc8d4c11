import { describe, expect } from 'vitest';
import { Random, type Tensor } from '@minnow/core';
import {
  Conv2d, Linear, calculateGain, computeFans, kaimingNormal, kaimingUniform, onesInit, uniformInit, xavierNormal, xavierUniform, zerosInit,
} from '@minnow/nn';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError } from '../helpers/reference.js';

/** Reads and disposes. */
function take(t: Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function stats(xs: number[]): { mean: number; std: number; maxAbs: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return { mean, std, maxAbs: Math.max(...xs.map(Math.abs)) };
}

/** The values randomUniform draws from `rng`: low + (high - low) u per element, rounded to float32. */
function uniformDraws(rng: Random, n: number, low: number, high: number): number[] {
  return Array.from({ length: n }, () => Math.fround(low + (high - low) * rng.uniform()));
}

describe('initialisers', () => {
  itNoLeaks('gains and fans as PyTorch computes them', () => {
    expect(calculateGain('linear')).toBe(1);
    expect(calculateGain('sigmoid')).toBe(1);
    expect(calculateGain('tanh')).toBeCloseTo(5 / 3, 15);
    expect(calculateGain('relu')).toBeCloseTo(Math.SQRT2, 15);
    expect(calculateGain('leakyRelu')).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)), 15);
    expect(calculateGain('leakyRelu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 15);
    expect(computeFans([8, 4])).toEqual({ fanIn: 4, fanOut: 8 });
    expect(computeFans([16, 3, 5, 5])).toEqual({ fanIn: 75, fanOut: 400 });
    expectMinnowError(() => computeFans([3]), 'INVALID_SHAPE', '[3]');
    expectMinnowError(() => calculateGain('swish' as 'relu'), 'INVALID_ARGUMENT', 'swish');
  });

  itNoLeaks('kaiming and xavier: bounds and standard deviations (fan in 200, fan out 100 x 3 x 3)', () => {
    const shape = [100, 200, 1, 1];
    const n = 100 * 200;
    const ku = stats(take(kaimingUniform(shape, { seed: 1 })));
    const kuBound = Math.SQRT2 * Math.sqrt(3 / 200);
    expect(ku.maxAbs).toBeLessThanOrEqual(kuBound);
    expect(ku.maxAbs).toBeGreaterThan(kuBound * 0.999);
    expect(ku.std).toBeCloseTo(kuBound / Math.sqrt(3), 3);
    const kn = stats(take(kaimingNormal(shape, { seed: 2, mode: 'fanOut', nonlinearity: 'tanh' })));
    expect(Math.abs(kn.std / ((5 / 3) / Math.sqrt(100)) - 1)).toBeLessThan(0.02);
    expect(Math.abs(kn.mean)).toBeLessThan(0.01);
    const xu = stats(take(xavierUniform(shape, { seed: 3, gain: 2 })));
    const xuBound = 2 * Math.sqrt(6 / 300);
    expect(xu.maxAbs).toBeLessThanOrEqual(xuBound);
    expect(xu.maxAbs).toBeGreaterThan(xuBound * 0.999);
    const xn = stats(take(xavierNormal(shape, { seed: 4, dtype: 'float64' })));
    expect(Math.abs(xn.std / Math.sqrt(2 / 300) - 1)).toBeLessThan(0.02);
    expect(n).toBe(20000);
  });

  itNoLeaks('seeded: the same seed replays, a shared Random continues its stream', () => {
    expect(take(kaimingNormal([4, 3], { seed: 7 }))).toEqual(take(kaimingNormal([4, 3], { seed: 7 })));
    expect(take(xavierUniform([4, 3], { seed: 7 }))).not.toEqual(take(xavierUniform([4, 3], { seed: 8 })));
    const shared = new Random(7);
    const first = take(kaimingUniform([4, 3], { seed: shared }));
    const second = take(kaimingUniform([4, 3], { seed: shared }));
    expect(first).toEqual(take(kaimingUniform([4, 3], { seed: 7 })));
    expect(second).not.toEqual(first);
    expectMinnowError(() => kaimingUniform([4, 3], {} as { seed: number }), 'INVALID_ARGUMENT', 'seed');
    expectMinnowError(() => uniformInit([2], 1, 0, { seed: 1 }), 'INVALID_ARGUMENT', '[1, 0]');
  });

  itNoLeaks('zeros, ones, dtype and backend options', () => {
    const z = zerosInit([2, 2], { dtype: 'float64' });
    expect(z.dtype).toBe('float64');
    expect(take(z)).toEqual([0, 0, 0, 0]);
    expect(take(onesInit([3]))).toEqual([1, 1, 1]);
  });

  itNoLeaks('Linear and Conv2d default to PyTorch\'s init: weight then bias, U(-1/sqrt(fan in), 1/sqrt(fan in))', () => {
    const linear = new Linear(5, 3, { seed: 11 });
    const rng = new Random(11);
    const b = 1 / Math.sqrt(5);
    expect(Array.from(linear.weight.dataSync())).toEqual(uniformDraws(rng, 15, -b, b));
    expect(Array.from(linear.bias!.dataSync())).toEqual(uniformDraws(rng, 3, -b, b));
    linear.dispose();

    const conv = new Conv2d(4, 6, [3, 2], { seed: 12, groups: 2 });
    const crng = new Random(12);
    const cb = 1 / Math.sqrt(2 * 3 * 2);
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    expect(Array.from(conv.weight.dataSync())).toEqual(uniformDraws(crng, 72, -cb, cb));
    expect(Array.from(conv.bias!.dataSync())).toEqual(uniformDraws(crng, 6, -cb, cb));
    conv.dispose();

    const noBias = new Linear(2, 2, { seed: 1, bias: false, dtype: 'float64' });
    expect(noBias.bias).toBeNull();
    expect(noBias.weight.dtype).toBe('float64');
    expect(noBias.namedParameters().map(([n]) => n)).toEqual(['weight']);
    noBias.dispose();
    expectMinnowError(() => new Linear(2, 2, {} as { seed: number }), 'INVALID_ARGUMENT', 'seed');
    expectMinnowError(() => new Linear(0, 2, { seed: 1 }), 'INVALID_ARGUMENT', 'inFeatures');
    expectMinnowError(() => new Conv2d(3, 4, 3, { seed: 1, groups: 2 }), 'INVALID_ARGUMENT', 'groups');
  });
});
