import { fromArray, mul, noGrad, scope, sum, type Tensor } from '@minnow/core';
import { CONTIGUOUS, expectAll, makeInput, readValues, rng, size, type Layout } from './reference.js';

/**
 * Gradient checks against central finite differences, in float64 on the current backend (js in
 * the unit suite). The function is scalarised as sum(f(x) * r) with a fixed random r, so every
 * output element carries its own upstream gradient (and backward(gradient) is exercised).
 */

export interface GradSpec {
  readonly shape: readonly number[];
  /** Logical row-major values; random in [-2, 2] when omitted. */
  readonly values?: readonly number[];
  /** How the leaf is laid out in storage (permuted, sliced with +/- steps, expanded). */
  readonly layout?: Layout;
}

export interface GradcheckOptions {
  readonly seed?: number;
  /** Finite-difference step (default 1e-5). */
  readonly eps?: number;
  /** |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|) (defaults 1e-6 and 1e-5). */
  readonly rtol?: number;
  readonly atol?: number;
  readonly what?: string;
}

/** The tolerances every check uses unless it says otherwise; reported in the test names. */
export const GRADCHECK_TOLERANCE = { eps: 1e-5, rtol: 1e-5, atol: 1e-6 } as const;

export function gradcheck(f: (...xs: Tensor[]) => Tensor, specs: readonly GradSpec[], options: GradcheckOptions = {}): void {
  const seed = options.seed ?? 1;
  const rand = rng(seed);
  const eps = options.eps ?? GRADCHECK_TOLERANCE.eps;
  const rtol = options.rtol ?? GRADCHECK_TOLERANCE.rtol;
  const atol = options.atol ?? GRADCHECK_TOLERANCE.atol;
  const what = options.what ?? 'gradcheck';

  const inputs = specs.map((s, i) => {
    const given = s.values;
    const gen = given ? () => [...given] : (r: () => number, n: number) => Array.from({ length: n }, () => r() * 4 - 2);
    return makeInput(s.shape, 'float64', s.layout ?? CONTIGUOUS, seed * 31 + i, gen);
  });
  const leaves = inputs.map((input) => input.tensor.requireGrad());
  try {
    const y = scope(() => f(...leaves));
    const weights = Array.from({ length: size(y.shape) }, () => rand() * 2 - 1);
    const r = fromArray(Float64Array.from(weights), y.shape);
    try {
      y.backward(r);
    } finally {
      y.dispose();
    }
    const loss = (values: number[][]): number =>
      noGrad(() =>
        scope(() => {
          const xs = values.map((v, i) => fromArray(Float64Array.from(v), inputs[i].shape));
          return sum(mul(f(...xs), r)).itemSync();
        }),
      );
    const base = inputs.map((input) => [...input.values]);
    try {
      inputs.forEach((input, i) => {
        const grad = leaves[i].grad;
        const analytic = grad ? readValues(grad) : new Array<number>(input.values.length).fill(0);
        const numeric = input.values.map((_, j) => {
          const saved = base[i][j];
          base[i][j] = saved + eps;
          const plus = loss(base);
          base[i][j] = saved - eps;
          const minus = loss(base);
          base[i][j] = saved;
          return (plus - minus) / (2 * eps);
        });
        expectAll(analytic, numeric, (a, n) => Math.abs(a - n) <= atol + rtol * Math.max(Math.abs(a), Math.abs(n)), `${what}: d/dx${i} ${JSON.stringify(input.shape)}`);
      });
    } finally {
      r.dispose();
    }
  } finally {
    for (const leaf of leaves) leaf.dispose();
  }
}

/** Values in [lo, hi] of `n` elements, seeded, at least `gap` apart from each other (no ties, no kinks). */
export function distinctValues(seed: number, n: number, lo = -2, hi = 2, gap = 1e-3): number[] {
  const rand = rng(seed);
  const out: number[] = [];
  while (out.length < n) {
    const v = lo + (hi - lo) * rand();
    if (out.every((u) => Math.abs(u - v) >= gap)) out.push(v);
  }
  return out;
}

/** Runs `f` in a scope and backward() from its (scalar) result, then disposes it. */
export function backprop(f: () => Tensor): void {
  const y = scope(f);
  try {
    y.backward();
  } finally {
    y.dispose();
  }
}
