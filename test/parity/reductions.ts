import fc from 'fast-check';
import * as m from '@minnow/core';
import { applyView, both, shapeArb, values, viewArb } from './arbitraries.js';
import { EXACT, expectParity, type Tolerance } from './compare.js';
import type { ParityCase, Settings } from './profile.js';

/**
 * Reductions (float32): sum within an n*eps bound of the accumulation length n (times the
 * profile's accumulationSlack), max exactly (NaN wins).
 */

const EPS = 2 ** -23;

/** The tolerance of a float32 sum of n terms in [-10, 10]: rtol n*eps, atol 10*n*eps, both times the slack. */
function sumTolerance(s: Settings, n: number): Tolerance {
  return { rtol: n * EPS * s.accumulationSlack, atol: n * 10 * EPS * s.accumulationSlack };
}

const REDUCERS = [['sum', m.sum], ['max', m.max]] as const;

const COLUMN_CASES: [number[], number[]][] = [[[37, 45], [0]], [[5, 7, 13], [0]], [[4, 3, 6, 10], [0, 1]], [[2, 9, 5], [0]], [[64, 3], [0]]];

export function reductionCases(s: Settings): ParityCase[] {
  if (!s.has('float32')) return [];
  const cases: ParityCase[] = REDUCERS.map(([op, fn]) => ({
    name: `reduce ${op} (float32, random axes and views)`,
    run: () =>
      fc.assert(
        fc.property(shapeArb.filter((sh) => sh.length > 0).chain((sh) => fc.tuple(fc.constant(sh), viewArb(sh.length), fc.subarray([...sh.keys()]), fc.integer())), ([shape, view, axes, seed]) => {
          const data = values(m.sizeOf(shape), new m.Random(seed), [-10, 10], 'float32');
          const viewed = m.scope(() => [...applyView(m.fromArray(data, shape, { backend: 'js' }), view).shape]);
          if (op === 'max' && axes.some((a) => viewed[a] === 0)) return; // max over an empty dim is an error on every backend
          const r = both(s.backend, [{ data, shape, dtype: 'float32', view }], ([x]) => fn(x, { axes }));
          const n = Math.max(1, axes.reduce((p, a) => p * viewed[a], 1));
          expectParity(r.got, r.expected, op === 'sum' ? sumTolerance(s, n) : EXACT, `${op} over [${axes.join(', ')}] of [${viewed.join(', ')}]`);
        }),
        s.runs(80),
      ),
  }));
  for (const [shape, axes] of COLUMN_CASES) {
    cases.push({
      name: `column reductions (float32, sum and max of [${shape.join(', ')}] over [${axes.join(', ')}])`,
      run: () => {
        const data = values(m.sizeOf(shape), new m.Random(5), [-10, 10], 'float32');
        data[7] = NaN; // max propagates NaN down its column
        const n = axes.reduce((p, a) => p * shape[a], 1);
        for (const [op, fn] of REDUCERS) {
          const r = both(s.backend, [{ data, shape, dtype: 'float32' }], ([x]) => fn(x, { axes }));
          expectParity(r.got, r.expected, op === 'sum' ? sumTolerance(s, n) : EXACT, `${op} columns`);
        }
      },
    });
  }
  cases.push({
    name: 'sum of a long contiguous row (float32, 100003 elements)',
    run: () => {
      const n = 100_003;
      const data = values(n, new m.Random(3), [0, 1], 'float32');
      const r = both(s.backend, [{ data, shape: [n], dtype: 'float32' }], ([x]) => m.sum(x));
      // A sum of positive terms: pairwise or blocked accumulation keeps well inside this bound.
      expectParity(r.got, r.expected, { rtol: 2 ** -12 * s.accumulationSlack, atol: 0 }, 'long sum');
    },
  });
  return cases;
}
