import { MinnowError } from '@minnow/core';
import { checkSparsity } from './criteria.js';

/**
 * Pruning schedules: when masks are recomputed and to what sparsity, as pure functions of the
 * step (the number of optimiser steps taken so far; step 0 is before the first one). Between
 * pruning steps the masks stay as they are, so `sparsityAt` is piecewise constant: the target of
 * the last pruning step at or before `step` (0 before the first). Every schedule reaches
 * `finalSparsity` exactly at `endStep` and never decreases.
 */
export interface SparsitySchedule {
  readonly kind: 'one-shot' | 'iterative' | 'polynomial-decay';
  /** The first pruning step. */
  readonly beginStep: number;
  /** The last pruning step, where the sparsity is exactly `finalSparsity`. */
  readonly endStep: number;
  readonly finalSparsity: number;
  /** Whether the masks are recomputed at `step`. */
  isPruningStep(step: number): boolean;
  /** The sparsity the masks hold from `step` on (until the next pruning step). */
  sparsityAt(step: number): number;
  /** Every pruning step, ascending. */
  pruningSteps(): number[];
}

function checkStep(op: string, what: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** A schedule from its pruning steps (ascending) and their targets. */
function fromSteps(kind: SparsitySchedule['kind'], steps: readonly number[], targets: readonly number[]): SparsitySchedule {
  const at = new Map(steps.map((s, i) => [s, i]));
  return Object.freeze({
    kind,
    beginStep: steps[0],
    endStep: steps[steps.length - 1],
    finalSparsity: targets[targets.length - 1],
    isPruningStep: (step: number): boolean => at.has(step),
    sparsityAt: (step: number): number => {
      // The last pruning step at or before `step`, by binary search.
      let lo = 0;
      let hi = steps.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (steps[mid] <= step) lo = mid + 1;
        else hi = mid;
      }
      return lo === 0 ? 0 : targets[lo - 1];
    },
    pruningSteps: (): number[] => [...steps],
  });
}

/** Prune once, to `sparsity`, at `step` (default 0: before training). */
export function oneShot(options: { readonly sparsity: number; readonly step?: number }): SparsitySchedule {
  const op = 'oneShot';
  const sparsity = checkSparsity(op, options?.sparsity);
  return fromSteps('one-shot', [checkStep(op, 'step', options.step ?? 0)], [sparsity]);
}

export interface IterativeOptions {
  readonly finalSparsity: number;
  /** Pruning rounds k, one every `frequency` steps from `beginStep`; the last reaches finalSparsity. */
  readonly rounds: number;
  readonly frequency: number;
  readonly beginStep?: number;
  /**
   * 'multiplicative' (default): every round removes the same fraction of the weights still there,
   * s_r = 1 - (1 - s_f)^(r/k), as Han et al.'s iterative pruning; 'linear': equal steps, s_r = s_f r/k.
   */
  readonly mode?: 'multiplicative' | 'linear';
}

/** k rounds of pruning at beginStep, beginStep + frequency, ..., beginStep + (k-1) frequency = endStep. */
export function iterative(options: IterativeOptions): SparsitySchedule {
  const op = 'iterative';
  const final = checkSparsity(op, options?.finalSparsity, 'finalSparsity');
  const rounds = checkStep(op, 'rounds', options.rounds, 1);
  const frequency = checkStep(op, 'frequency', options.frequency, 1);
  const begin = checkStep(op, 'beginStep', options.beginStep ?? 0);
  const mode = options.mode ?? 'multiplicative';
  if (mode !== 'multiplicative' && mode !== 'linear') throw new MinnowError('INVALID_ARGUMENT', `${op}: mode must be 'multiplicative' or 'linear', got ${JSON.stringify(mode)}`);
  const steps = Array.from({ length: rounds }, (_, r) => begin + r * frequency);
  const targets = steps.map((_, i) => {
    const r = i + 1;
    if (r === rounds) return final;
    return mode === 'linear' ? (final * r) / rounds : 1 - (1 - final) ** (r / rounds);
  });
  return fromSteps('iterative', steps, targets);
}

export interface PolynomialDecayOptions {
  /** Sparsity at beginStep (default 0). */
  readonly initialSparsity?: number;
  readonly finalSparsity: number;
  readonly beginStep?: number;
  readonly endStep: number;
  /** Steps between mask updates (default 100, as TF-MOT). */
  readonly frequency?: number;
  /** The exponent (default 3, Zhu and Gupta's cubic). */
  readonly power?: number;
}

/**
 * The gradual schedule of Zhu and Gupta (arXiv:1710.01878), which TensorFlow Model Optimization
 * calls PolynomialDecay:
 *
 *   s_t = s_f + (s_i - s_f) (1 - (t - t0) / (end - t0))^power
 *
 * at the pruning steps t0 = beginStep, t0 + frequency, ... below endStep, and at endStep itself.
 * TF-MOT prunes only where (t - t0) is a multiple of the frequency, so when (end - t0) is not, it
 * never reaches s_f; here the end step is always a pruning step and gives s_f exactly.
 */
export function polynomialDecay(options: PolynomialDecayOptions): SparsitySchedule {
  const op = 'polynomialDecay';
  const initial = checkSparsity(op, options?.initialSparsity ?? 0, 'initialSparsity');
  const final = checkSparsity(op, options.finalSparsity, 'finalSparsity');
  if (initial > final) throw new MinnowError('INVALID_ARGUMENT', `${op}: initialSparsity ${initial} is above finalSparsity ${final}; pruning only removes weights`);
  const begin = checkStep(op, 'beginStep', options.beginStep ?? 0);
  const end = checkStep(op, 'endStep', options.endStep, begin);
  const frequency = checkStep(op, 'frequency', options.frequency ?? 100, 1);
  const power = options.power ?? 3;
  if (typeof power !== 'number' || !Number.isFinite(power) || power <= 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: power must be a finite number > 0, got ${String(power)}`);
  const steps: number[] = [];
  for (let t = begin; t < end; t += frequency) steps.push(t);
  steps.push(end);
  const targets = steps.map((t) => (t === end ? final : final + (initial - final) * (1 - (t - begin) / (end - begin)) ** power));
  return fromSteps('polynomial-decay', steps, targets);
}

/** INVALID_ARGUMENT unless `schedule` is one of these schedules' objects (or has their shape). */
export function checkSchedule(op: string, schedule: SparsitySchedule): SparsitySchedule {
  if (schedule === null || typeof schedule !== 'object' || typeof schedule.isPruningStep !== 'function' || typeof schedule.sparsityAt !== 'function' || typeof schedule.pruningSteps !== 'function') {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: pruningSchedule must be a SparsitySchedule (oneShot, iterative or polynomialDecay)`);
  }
  return schedule;
}
