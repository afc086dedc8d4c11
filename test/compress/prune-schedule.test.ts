import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { iterative, oneShot, polynomialDecay, type SparsitySchedule } from '@minnow/compress';
import { expectMinnowError, runs } from '../helpers/reference.js';

/**
 * Pruning schedules as pure functions of the step: Zhu and Gupta's cubic (TF-MOT's
 * PolynomialDecay) against its formula, the final sparsity exactly at the end step, never
 * decreasing, iterative rounds, one-shot, and refused settings.
 */

/** Zhu and Gupta, eq. 1: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3. */
const zhuGupta = (t: number, si: number, sf: number, t0: number, end: number, power = 3): number => sf + (si - sf) * (1 - (t - t0) / (end - t0)) ** power;

function expectMonotone(schedule: SparsitySchedule, upTo: number): void {
  let previous = 0;
  for (let t = 0; t <= upTo; t++) {
    const s = schedule.sparsityAt(t);
    expect(s).toBeGreaterThanOrEqual(previous);
    expect(s).toBeLessThan(1);
    previous = s;
  }
}

describe('polynomialDecay', () => {
  it("follows Zhu and Gupta's formula at t0 + k dt, holds between pruning steps, and ends at s_f exactly", () => {
    const s = polynomialDecay({ initialSparsity: 0.1, finalSparsity: 0.9, beginStep: 100, endStep: 1100, frequency: 100 });
    expect(s.pruningSteps()).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100]);
    for (let k = 0; k <= 10; k++) {
      const t = 100 + 100 * k;
      expect(s.isPruningStep(t)).toBe(true);
      expect(s.sparsityAt(t)).toBeCloseTo(zhuGupta(t, 0.1, 0.9, 100, 1100), 14);
      expect(s.sparsityAt(t + 99)).toBe(s.sparsityAt(t));
      expect(s.isPruningStep(t + 1)).toBe(false);
    }
    expect(s.sparsityAt(99)).toBe(0);
    expect(s.sparsityAt(1100)).toBe(0.9);
    expect(s.sparsityAt(10 ** 9)).toBe(0.9);
    expect(s.endStep).toBe(1100);
    expect(s.finalSparsity).toBe(0.9);
    // Half way, the cubic has pruned 7/8 of the way from s_i to s_f.
    expect(s.sparsityAt(600)).toBeCloseTo(0.1 + 0.8 * (7 / 8), 14);
  });

  it('reaches s_f exactly at the end step and never decreases, for any settings (also when the span is not a multiple of the frequency)', () => {
    fc.assert(fc.property(
      fc.double({ min: 0, max: 0.999, noNaN: true }), fc.double({ min: 0, max: 0.999, noNaN: true }),
      fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 70 }), fc.constantFrom(1, 2, 3, 4.5),
      (a, b, begin, span, frequency, power) => {
        const [initialSparsity, finalSparsity] = a <= b ? [a, b] : [b, a];
        const s = polynomialDecay({ initialSparsity, finalSparsity, beginStep: begin, endStep: begin + span, frequency, power });
        expect(s.sparsityAt(begin + span)).toBe(finalSparsity);
        expect(s.isPruningStep(begin + span)).toBe(true);
        const steps = s.pruningSteps();
        expect(steps[0]).toBe(begin);
        expect(steps.every((t, i) => i === steps.length - 1 || (t - begin) % frequency === 0)).toBe(true);
        if (span > 0) expect(s.sparsityAt(begin)).toBeCloseTo(initialSparsity, 14);
        expectMonotone(s, begin + span + 5);
      },
    ), runs(31, 200));
  });

  it('defaults: initial 0, begin 0, frequency 100, power 3', () => {
    const s = polynomialDecay({ finalSparsity: 0.5, endStep: 250 });
    expect(s.pruningSteps()).toEqual([0, 100, 200, 250]);
    expect(s.sparsityAt(0)).toBe(0);
    expect(s.sparsityAt(100)).toBeCloseTo(zhuGupta(100, 0, 0.5, 0, 250), 14);
    expect(s.sparsityAt(250)).toBe(0.5);
  });
});

describe('iterative and one-shot', () => {
  it('multiplicative rounds remove the same fraction of the remaining weights; linear rounds equal steps; the last is s_f', () => {
    const m = iterative({ finalSparsity: 0.875, rounds: 3, frequency: 10, beginStep: 5 });
    expect(m.pruningSteps()).toEqual([5, 15, 25]);
    expect([m.sparsityAt(5), m.sparsityAt(15), m.sparsityAt(25)].map((v) => Number(v.toFixed(12)))).toEqual([0.5, 0.75, 0.875]);
    expect(m.sparsityAt(25)).toBe(0.875);
    expect(m.sparsityAt(4)).toBe(0);
    expect(m.sparsityAt(14)).toBe(m.sparsityAt(5));
    const l = iterative({ finalSparsity: 0.9, rounds: 3, frequency: 7, mode: 'linear' });
    expect([0, 7, 14].map((t) => l.sparsityAt(t))).toEqual([0.3, 0.6, 0.9]);
    expect(l.endStep).toBe(14);
    fc.assert(fc.property(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 9 }), fc.boolean(), (sf, rounds, frequency, linear) => {
      const s = iterative({ finalSparsity: sf, rounds, frequency, mode: linear ? 'linear' : 'multiplicative' });
      expect(s.sparsityAt(s.endStep)).toBe(sf);
      expect(s.endStep).toBe((rounds - 1) * frequency);
      expectMonotone(s, s.endStep + 3);
    }), runs(32, 100));
  });

  it('one-shot prunes once, at its step', () => {
    const s = oneShot({ sparsity: 0.6, step: 3 });
    expect(s.pruningSteps()).toEqual([3]);
    expect([0, 2, 3, 100].map((t) => s.sparsityAt(t))).toEqual([0, 0, 0.6, 0.6]);
    expect(oneShot({ sparsity: 0.6 }).isPruningStep(0)).toBe(true);
  });

  it('refuses sparsities outside [0, 1), an increasing schedule that would revive weights, and bad steps', () => {
    expectMinnowError(() => polynomialDecay({ finalSparsity: 1, endStep: 10 }), 'INVALID_ARGUMENT', 'finalSparsity', '[0, 1)');
    expectMinnowError(() => polynomialDecay({ initialSparsity: -0.1, finalSparsity: 0.5, endStep: 10 }), 'INVALID_ARGUMENT', 'initialSparsity');
    expectMinnowError(() => polynomialDecay({ initialSparsity: 0.6, finalSparsity: 0.5, endStep: 10 }), 'INVALID_ARGUMENT', 'above finalSparsity');
    expectMinnowError(() => polynomialDecay({ finalSparsity: 0.5, beginStep: 20, endStep: 10 }), 'INVALID_ARGUMENT', 'endStep', '>= 20');
    expectMinnowError(() => polynomialDecay({ finalSparsity: 0.5, endStep: 10, frequency: 0 }), 'INVALID_ARGUMENT', 'frequency');
    expectMinnowError(() => polynomialDecay({ finalSparsity: 0.5, endStep: 10, power: 0 }), 'INVALID_ARGUMENT', 'power');
    expectMinnowError(() => iterative({ finalSparsity: 0.5, rounds: 0, frequency: 1 }), 'INVALID_ARGUMENT', 'rounds');
    expectMinnowError(() => iterative({ finalSparsity: 0.5, rounds: 2, frequency: 1, mode: 'cubic' as never }), 'INVALID_ARGUMENT', 'mode');
    expectMinnowError(() => oneShot({ sparsity: 1.2 }), 'INVALID_ARGUMENT', 'sparsity');
    expectMinnowError(() => oneShot({ sparsity: 0.5, step: -1 }), 'INVALID_ARGUMENT', 'step');
  });
});
