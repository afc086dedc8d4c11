import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  GRADIENTS, KERNEL_OPS, PRIMITIVES, abs, add, cast, clone, concat, contiguous, div, exp, expand, flatten, log, max, maximum, mean, min,
  minimum, mul, neg, pad, permute, pow, reciprocal, reshape, slice, sqrt, squeeze, sub, sum, tanh, tensor, transpose, unsqueeze, variance,
  where, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { GRADCHECK_TOLERANCE, backprop, distinctValues, gradcheck, type GradSpec } from '../helpers/gradcheck.js';
import { arbLayout, randInt, rng, runs, shuffle, size, type Layout } from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const TOL = `eps ${GRADCHECK_TOLERANCE.eps}, |a-n| <= ${GRADCHECK_TOLERANCE.atol} + ${GRADCHECK_TOLERANCE.rtol}*max(|a|,|n|)`;

/** Random values in [lo, hi] for a spec of `shape`. */
const inRange = (s: number, shape: readonly number[], lo: number, hi: number): number[] => {
  const rand = rng(s);
  return Array.from({ length: size(shape) }, () => lo + (hi - lo) * rand());
};

/** A shape of rank 0..3 (dims 1..3) and a shape that broadcasts to it (leading dims dropped, some dims 1). */
function broadcastPair(s: number): [number[], number[]] {
  const rand = rng(s);
  const out = Array.from({ length: randInt(rand, 0, 3) }, () => randInt(rand, 1, 3));
  const cut = (shape: number[]) => shape.slice(randInt(rand, 0, shape.length)).map((d) => (rand() < 0.4 ? 1 : d));
  return rand() < 0.5 ? [out, cut(out)] : [cut(out), out];
}

/** Layouts without expand when values are given (an expanded leaf repeats values of a smaller base). */
const withLayout = (shape: number[], values: number[] | undefined, layout: Layout): GradSpec => ({ shape, values, layout: values ? { ...layout, expand: false } : layout });

describe(`autograd: every primitive has a gradient rule (${TOL})`, () => {
  itNoLeaks('the rule table covers the op table, kernel and view ops', () => {
    expect(Object.keys(GRADIENTS).sort()).toEqual(Object.keys(PRIMITIVES).sort());
    expect(KERNEL_OPS.every((op) => op in GRADIENTS)).toBe(true);
  });
});

describe('autograd: elementwise unary', () => {
  const cases: [string, (x: Tensor) => Tensor, number, number][] = [
    ['neg', neg, -2, 2], ['exp', exp, -2, 2], ['log', log, 0.2, 3], ['sqrt', sqrt, 0.2, 3], ['reciprocal', reciprocal, 0.3, 3],
    ['tanh', tanh, -2, 2], ['clone (cast to the same dtype)', clone, -2, 2],
  ];
  for (const [name, f, lo, hi] of cases) {
    itNoLeaks(`${name} on any shape and layout`, () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), arbLayout, seed, (rank, layout, s) => {
        const shape = Array.from({ length: rank }, (_, i) => 1 + ((s >> (2 * i)) % 3));
        gradcheck(f, [withLayout(shape, inRange(s, shape, lo, hi), layout)], { seed: s, what: name });
      }), runs(1101, 25));
    });
  }

  itNoLeaks('abs away from 0, and 0 at 0', () => {
    gradcheck(abs, [{ shape: [2, 3], values: [-2, -0.5, 0.3, 1, -1.5, 2] }], { what: 'abs' });
    const x = tensor([0, -1, 2], { dtype: 'float64', requiresGrad: true });
    backprop(() => sum(abs(x)));
    expect(x.grad!.arraySync()).toEqual([0, -1, 1]);
    x.dispose();
  });

  itNoLeaks('cast float64 -> float32 -> float64 passes the gradient through, converted back', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    backprop(() => sum(mul(cast(cast(x, 'float32'), 'float64'), tensor([1, 2, 3], { dtype: 'float64' }))));
    expect(x.grad!.dtype).toBe('float64');
    expect(x.grad!.arraySync()).toEqual([1, 2, 3]);
    x.dispose();
  });
});

describe('autograd: elementwise binary with broadcasting and non-contiguous operands', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, [number, number], [number, number]][] = [
    ['add', add, [-2, 2], [-2, 2]], ['sub', sub, [-2, 2], [-2, 2]], ['mul', mul, [-2, 2], [-2, 2]],
    ['div', div, [-2, 2], [0.5, 2]], ['pow', pow, [0.5, 2], [-2, 2]],
  ];
  for (const [name, f, ra, rb] of cases) {
    itNoLeaks(name, () => {
      fc.assert(fc.property(arbLayout, arbLayout, seed, (la, lb, s) => {
        const [sa, sb] = broadcastPair(s);
        gradcheck(f, [withLayout(sa, inRange(s, sa, ...ra), la), withLayout(sb, inRange(s + 1, sb, ...rb), lb)], { seed: s, what: name });
      }), runs(1201, 40));
    });
  }

  for (const [name, f] of [['maximum', maximum], ['minimum', minimum]] as const) {
    itNoLeaks(`${name} without ties, broadcast`, () => {
      fc.assert(fc.property(arbLayout, seed, (la, s) => {
        const [sa, sb] = broadcastPair(s);
        const values = distinctValues(s, size(sa) + size(sb), -2, 2, 1e-3);
        gradcheck(f, [withLayout(sa, values.slice(0, size(sa)), la), { shape: sb, values: values.slice(size(sa)) }], { seed: s, what: name });
      }), runs(1202, 40));
    });

    itNoLeaks(`${name}: ties split the gradient equally (as central differences see it)`, () => {
      gradcheck(f, [{ shape: [4], values: [1, 2, -1, 0.5] }, { shape: [4], values: [1, 0, -1, 0.5] }], { what: `${name} ties` });
      const a = tensor([1, 3], { dtype: 'float64', requiresGrad: true });
      const b = tensor(1, { dtype: 'float64', requiresGrad: true });
      backprop(() => sum(f(a, b)));
      expect(a.grad!.arraySync()).toEqual(name === 'maximum' ? [0.5, 1] : [0.5, 0]);
      expect(b.grad!.arraySync()).toEqual(name === 'maximum' ? 0.5 : 1.5);
      for (const t of [a, b]) t.dispose();
    });
  }

  itNoLeaks('pow: d/db is 0 where a = 0, and a broadcast scalar exponent', () => {
    gradcheck((a, b) => pow(a, b), [{ shape: [3], values: [0.5, 1.5, 2] }, { shape: [], values: [2.5] }], { what: 'pow scalar' });
    const a = tensor([0, 2], { dtype: 'float64', requiresGrad: true });
    const b = tensor([2, 3], { dtype: 'float64', requiresGrad: true });
    backprop(() => sum(pow(a, b)));
    expect(a.grad!.arraySync()).toEqual([0, 12]);
    expect(b.grad!.arraySync()).toEqual([0, 8 * Math.log(2)]);
    for (const t of [a, b]) t.dispose();
  });

  itNoLeaks('where: broadcast condition and branches, no gradient to the condition', () => {
    fc.assert(fc.property(arbLayout, seed, (la, s) => {
      const rand = rng(s);
      const out = Array.from({ length: randInt(rand, 0, 3) }, () => randInt(rand, 1, 3));
      const cut = () => out.slice(randInt(rand, 0, out.length)).map((d) => (rand() < 0.4 ? 1 : d));
      const [sc, sa, sb] = [cut(), cut(), cut()];
      const cond = tensor(Array.from({ length: size(sc) }, () => rand() < 0.5), { dtype: 'bool' });
      const condView = reshape(cond, sc);
      try {
        gradcheck((a, b) => where(condView, a, b), [{ shape: sa, layout: la }, { shape: sb }], { seed: s, what: 'where' });
      } finally {
        cond.dispose();
        condView.dispose();
      }
    }), runs(1203, 30));
    const cond = tensor([[true, false, true], [false, false, true]]);
    gradcheck((a, b) => where(cond, a, b), [{ shape: [2, 1] }, { shape: [3] }], { what: 'where [2,3]' });
    cond.dispose();
  });
});

describe('autograd: reductions', () => {
  itNoLeaks('sum and max over several axes, keepDims or not, any layout', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), arbLayout, fc.boolean(), seed, (rank, layout, keepDims, s) => {
      const rand = rng(s);
      const shape = Array.from({ length: rank }, () => randInt(rand, 1, 3));
      const axes = shuffle(rand, [...shape.keys()]).slice(0, randInt(rand, 1, rank)).map((a) => (rand() < 0.5 ? a - rank : a));
      gradcheck((x) => sum(x, { axes, keepDims }), [{ shape, layout }], { seed: s, what: 'sum' });
      gradcheck((x) => max(x, { axes, keepDims }), [{ shape, values: distinctValues(s, size(shape)), layout: { ...layout, expand: false } }], { seed: s, what: 'max' });
      gradcheck((x) => min(x, { axes, keepDims }), [{ shape, values: distinctValues(s + 1, size(shape)), layout: { ...layout, expand: false } }], { seed: s, what: 'min' });
      gradcheck((x) => mean(x, { axes, keepDims }), [{ shape, layout }], { seed: s, what: 'mean' });
      gradcheck((x) => variance(x, { axes, keepDims }), [{ shape, layout }], { seed: s, what: 'variance' });
    }), runs(1301, 30));
    gradcheck((x) => sum(x), [{ shape: [2, 3, 2] }], { what: 'sum all' });
  });

  itNoLeaks('max: tied maxima share the gradient equally', () => {
    const x = tensor([[3, 1, 3, 3], [2, 5, 5, 0]], { dtype: 'float64', requiresGrad: true });
    backprop(() => sum(max(x, { axes: 1 })));
    expect(x.grad!.arraySync()).toEqual([[1 / 3, 0, 1 / 3, 1 / 3], [0, 0.5, 0.5, 0]]);
    x.dispose();
  });
});

describe('autograd: movement', () => {
  itNoLeaks('reshape (view and copying), permute, transpose, squeeze, unsqueeze, flatten, contiguous', () => {
    fc.assert(fc.property(arbLayout, seed, (layout, s) => {
      const shape = [2, 3, 2];
      const spec = { shape, layout };
      gradcheck((x) => reshape(x, [3, -1]), [spec], { seed: s, what: 'reshape' });
      gradcheck((x) => mul(permute(x, [2, 0, 1]), permute(x, [2, 0, 1])), [spec], { seed: s, what: 'permute' });
      gradcheck((x) => exp(transpose(x)), [spec], { seed: s, what: 'transpose' });
      gradcheck((x) => squeeze(unsqueeze(x, 1), 1), [spec], { seed: s, what: 'squeeze' });
      gradcheck((x) => flatten(x, 1), [spec], { seed: s, what: 'flatten' });
      gradcheck((x) => contiguous(permute(x, [1, 0, 2])), [spec], { seed: s, what: 'contiguous' });
    }), runs(1401, 20));
  });

  itNoLeaks('expand: the gradient sums over expanded and added dims', () => {
    gradcheck((x) => expand(x, [2, 3, 4]), [{ shape: [3, 1] }], { what: 'expand' });
    gradcheck((x) => expand(x, [2, 3]), [{ shape: [] }], { what: 'expand scalar' });
    gradcheck((x) => expand(x, [2, 3]), [{ shape: [2, 3] }], { what: 'expand same' });
  });

  itNoLeaks('slice with any steps, negative ones included, on any layout', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), arbLayout, seed, (rank, layout, s) => {
      const rand = rng(s);
      const shape = Array.from({ length: rank }, () => randInt(rand, 1, 5));
      const starts: number[] = [];
      const ends: (number | null)[] = [];
      const steps: number[] = [];
      for (const dim of shape) {
        const step = [1, 2, 3, -1, -2, -3][randInt(rand, 0, 5)];
        const a = randInt(rand, 0, dim - 1);
        if (step > 0) {
          starts.push(rand() < 0.3 ? a - dim : a);
          ends.push(rand() < 0.3 ? null : randInt(rand, a, dim));
        } else {
          starts.push(a);
          ends.push(rand() < 0.3 ? null : randInt(rand, -1, a) === -1 ? null : randInt(rand, 0, a));
        }
        steps.push(step);
      }
      gradcheck((x) => slice(x, starts, ends, steps), [{ shape, layout }], { seed: s, what: `slice ${JSON.stringify([starts, ends, steps])}` });
    }), runs(1402, 60));
    gradcheck((x) => slice(x, [4, 0], [null, 2], [-2, 1]), [{ shape: [5, 3] }], { what: 'slice [4::-2, 0:2]' });
    gradcheck((x) => slice(x, [1, 0], [1, 3], [1, 1]), [{ shape: [3, 3] }], { what: 'empty slice' });
  });

  itNoLeaks('pad: positive, negative (cropping) and non-zero values', () => {
    gradcheck((x) => pad(x, [[1, 2], [0, 1]], 3), [{ shape: [2, 3] }], { what: 'pad' });
    gradcheck((x) => pad(x, [[-1, 2], [1, -2]]), [{ shape: [3, 4] }], { what: 'pad crop' });
    gradcheck((x) => pad(permute(x, [1, 0]), [[2, 0], [0, 1]], -1), [{ shape: [2, 3] }], { what: 'pad of a view' });
  });

  itNoLeaks('concat of views', () => {
    gradcheck((a, b) => concat([a, transpose(b)], 1), [{ shape: [2, 3] }, { shape: [4, 2] }], { what: 'concat' });
  });
});
