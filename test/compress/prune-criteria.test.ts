import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random, fromArray, liveTensors, scope, type Tensor } from '@minnow/core';
import { DataLoader, Linear, ReLU, Sequential, TensorDataset, crossEntropy } from '@minnow/nn';
import {
  checkNM, checkSparsity, globalMasks, keepLargest, layerwiseMasks, magnitudeScores, nmMask, parameterScores, parseNM, prunedCount,
  randomScores,
} from '@minnow/compress';
import { expectMinnowError, runs } from '../helpers/reference.js';

/**
 * Pruning criteria and mask selection against plain references: the kept weights are exactly the
 * largest scores (ties to the lower flat index, through the layers in order when global), the
 * count is PyTorch's round-half-to-even of sparsity * n, N:M keeps N in every group of M along
 * the input axis, and the Taylor criterion is |w * summed gradient| computed by hand.
 */

/** Scores drawn with many ties (small integers) or none (normal floats). */
function drawScores(rng: Random, n: number, ties: boolean): Float32Array {
  return Float32Array.from({ length: n }, () => (ties ? rng.int(4) : rng.normal()));
}

/** The reference: indices sorted by score descending, then index ascending; the first `keep` kept. */
function referenceKeep(scores: ArrayLike<number>, keep: number, eligible?: ArrayLike<number>): Uint8Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).filter((i) => !eligible || eligible[i]);
  order.sort((a, b) => (scores[b] - scores[a]) || (a - b));
  const mask = new Uint8Array(scores.length);
  for (const i of order.slice(0, Math.max(0, keep))) mask[i] = 1;
  return mask;
}

/** Python's round(): halves to even. */
const pythonRound = (x: number): number => {
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
};

const ones = (m: Uint8Array): number => m.reduce((a, v) => a + v, 0);

describe('counts', () => {
  it("prunes round-half-to-even of sparsity * n, PyTorch's count", () => {
    expect([[5, 0.5], [7, 0.5], [3, 0.5], [1, 0.5], [10, 0.25], [10, 0.35], [100, 0.9], [0, 0.5], [9, 0]].map(([n, s]) => prunedCount(n, s)))
      .toEqual([2, 4, 2, 0, 2, 4, 90, 0, 0]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (n, s) => {
      expect(prunedCount(n, s)).toBe(pythonRound(s * n));
    }), runs(11, 300));
  });
});

describe('keepLargest', () => {
  it('keeps exactly the largest scores, ties to the lower index, with or without earlier pruning', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), fc.boolean(), (seed, ties, withEligible) => {
      const rng = new Random(seed);
      const n = 1 + rng.int(200);
      const scores = drawScores(rng, n, ties);
      const eligible = withEligible ? Uint8Array.from({ length: n }, () => (rng.uniform() < 0.7 ? 1 : 0)) : undefined;
      const keep = rng.int(n + 2);
      const mask = keepLargest(scores, keep, eligible);
      expect(Array.from(mask)).toEqual(Array.from(referenceKeep(scores, keep, eligible)));
      const available = eligible ? ones(eligible) : n;
      expect(ones(mask)).toBe(Math.min(keep, available));
      // Every kept score is at least every prunable score left out.
      let lowestKept = Infinity;
      let highestDropped = -Infinity;
      mask.forEach((k, i) => {
        if (eligible && !eligible[i]) return expect(k).toBe(0);
        if (k) lowestKept = Math.min(lowestKept, scores[i]);
        else highestDropped = Math.max(highestDropped, scores[i]);
      });
      if (ones(mask) > 0 && ones(mask) < available) expect(lowestKept).toBeGreaterThanOrEqual(highestDropped);
    }), runs(12, 200));
  });

  it('breaks ties by index: of four equal weights, half pruned keeps the first two', () => {
    expect(Array.from(layerwiseMasks([Float32Array.of(1, 1, 1, 1)], 0.5)[0])).toEqual([1, 1, 0, 0]);
    expect(Array.from(layerwiseMasks([Float32Array.of(0, 1, 1, 3, 1)], 0.4)[0])).toEqual([0, 1, 1, 1, 0]);
    // -0 and +0 are one score.
    expect(Array.from(keepLargest(Float32Array.of(-0, 0, -0, 0), 1))).toEqual([1, 0, 0, 0]);
  });
});

describe('per layer and global', () => {
  it('per layer: each tensor loses round(s n) of its own weights, the lowest by score', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), (seed, ties) => {
      const rng = new Random(seed);
      const layers = Array.from({ length: 1 + rng.int(4) }, () => drawScores(rng, 1 + rng.int(60), ties));
      const s = rng.uniform() * 0.99;
      const masks = layerwiseMasks(layers, s);
      masks.forEach((m, i) => {
        expect(m.length - ones(m)).toBe(pythonRound(s * m.length));
        expect(Array.from(m)).toEqual(Array.from(referenceKeep(layers[i], m.length - pythonRound(s * m.length))));
      });
    }), runs(13, 150));
  });

  it('global: round(s N) of all N weights together, one threshold, ties to the earlier layer', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), (seed, ties) => {
      const rng = new Random(seed);
      const layers = Array.from({ length: 1 + rng.int(4) }, () => drawScores(rng, 1 + rng.int(60), ties));
      const s = rng.uniform() * 0.99;
      const all = Float32Array.from(layers.flatMap((l) => Array.from(l)));
      const expected = referenceKeep(all, all.length - pythonRound(s * all.length));
      expect(layers.length).toBe(globalMasks(layers, s).length);
      expect(globalMasks(layers, s).flatMap((m) => Array.from(m))).toEqual(Array.from(expected));
    }), runs(14, 150));
  });

  it('global and per layer differ as they should: global prunes the layer of small weights harder', () => {
    const big = Float32Array.from({ length: 100 }, (_, i) => 10 + i);
    const small = Float32Array.from({ length: 100 }, (_, i) => 0.01 * (i + 1));
    const perLayer = layerwiseMasks([big, small], 0.5);
    expect(perLayer.map((m) => m.length - ones(m))).toEqual([50, 50]);
    const global = globalMasks([big, small], 0.5);
    expect(global.map((m) => m.length - ones(m))).toEqual([0, 100]);
    const global75 = globalMasks([big, small], 0.75);
    expect(global75.map((m) => m.length - ones(m))).toEqual([50, 100]);
    // Kept in the big layer: its 50 largest.
    expect(Array.from(global75[0]).slice(50).every((v) => v === 1)).toBe(true);
  });

  it('earlier pruning stays: eligible masks only let the new mask prune more, the count covers both', () => {
    const rng = new Random(3);
    const scores = drawScores(rng, 80, false);
    const first = layerwiseMasks([scores], 0.5)[0];
    // A different ranking the second time (reversed) still cannot revive anything.
    const reversed = scores.map((v) => -v);
    const second = layerwiseMasks([reversed], 0.75, [first])[0];
    expect(80 - ones(second)).toBe(60);
    second.forEach((v, i) => v && expect(first[i]).toBe(1));
    // A lower target than what is already pruned keeps what is left.
    expect(Array.from(layerwiseMasks([reversed], 0.25, [second])[0])).toEqual(Array.from(second));
  });
});

describe('N:M', () => {
  it('every group of M along the input axis keeps exactly its N largest (ties to the lower index), for Linear and Conv shapes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), (seed, ties) => {
      const rng = new Random(seed);
      const m = 2 + rng.int(6);
      const n = 1 + rng.int(m - 1);
      const conv = rng.uniform() < 0.5;
      const dims = conv ? [1 + rng.int(4), m * (1 + rng.int(3)), 1 + rng.int(3), 1 + rng.int(3)] : [1 + rng.int(6), m * (1 + rng.int(4))];
      const size = dims.reduce((a, b) => a * b, 1);
      const scores = drawScores(rng, size, ties);
      const mask = nmMask(scores, dims, 1, { n, m });
      const inner = dims.slice(2).reduce((a, b) => a * b, 1);
      let groups = 0;
      for (let o = 0; o < dims[0]; o++) {
        for (let i = 0; i < inner; i++) {
          for (let g = 0; g < dims[1]; g += m) {
            const idx = Array.from({ length: m }, (_, j) => (o * dims[1] + g + j) * inner + i);
            const groupScores = idx.map((k) => scores[k]);
            expect(idx.map((k) => mask[k])).toEqual(Array.from(referenceKeep(groupScores, n)));
            groups++;
          }
        }
      }
      expect(ones(mask)).toBe(groups * n);
    }), runs(15, 150));
  });

  it('2:4 of a row of eight keeps two of each four', () => {
    const mask = nmMask(Float32Array.of(1, 4, 3, 2, 0, 0, 5, 5), [1, 8], 1, { n: 2, m: 4 });
    expect(Array.from(mask)).toEqual([0, 1, 1, 0, 0, 0, 1, 1]);
  });

  it('refuses N >= M, non-integers, and an input axis that is not a multiple of M', () => {
    expectMinnowError(() => checkNM('t', { n: 4, m: 4 }), 'INVALID_ARGUMENT', '1 <= N < M', '4:4');
    expectMinnowError(() => checkNM('t', { n: 0, m: 4 }), 'INVALID_ARGUMENT', '0:4');
    expectMinnowError(() => checkNM('t', { n: 1.5, m: 4 }), 'INVALID_ARGUMENT');
    expectMinnowError(() => nmMask(new Float32Array(12), [2, 6], 1, { n: 2, m: 4 }), 'INVALID_ARGUMENT', 'length 6', 'multiple of 4');
    expect(parseNM('t', ' 2:4 ')).toEqual({ n: 2, m: 4 });
    expectMinnowError(() => parseNM('t', '2-4'), 'INVALID_ARGUMENT', "'2-4'");
    expectMinnowError(() => parseNM('t', '5:4'), 'INVALID_ARGUMENT', '5:4');
  });
});

describe('scores', () => {
  it('sparsity must lie in [0, 1)', () => {
    for (const bad of [-0.1, 1, 1.5, NaN, Infinity, '0.5']) expectMinnowError(() => checkSparsity('prune', bad), 'INVALID_ARGUMENT', 'sparsity', '[0, 1)');
    expect(checkSparsity('prune', 0)).toBe(0);
  });

  it('magnitude is |w|; random is seeded and one stream across tensors', () => {
    expect(Array.from(magnitudeScores([-2, 0.5, -0, 3]))).toEqual([2, 0.5, 0, 3]);
    const a = randomScores([3, 5], 7);
    expect(randomScores([3, 5], 7)).toEqual(a);
    expect(randomScores([8], 7)[0]).toEqual(Float32Array.from([...a[0], ...a[1]]));
    expect(randomScores([8], 8)[0]).not.toEqual(Float32Array.from([...a[0], ...a[1]]));
    expectMinnowError(() => randomScores([3], 0.5), 'INVALID_ARGUMENT', 'seed');
  });

  it('user scores are checked by name and shape; NaN scores are refused', () => {
    const model = new Sequential(new Linear(4, 3, { seed: 1 }), new ReLU(), new Linear(3, 2, { seed: 2 }));
    const params = model.namedParameters().filter(([n]) => n.endsWith('weight'));
    scope(() => {
      const good = parameterScores('prune', model, params, { kind: 'scores', scores: { '0.weight': fromArray(new Float32Array(12).fill(1), [3, 4]), '2.weight': new Float32Array(6) } });
      expect(good.map((s) => s.length)).toEqual([12, 6]);
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'scores', scores: { '0.weight': fromArray(new Float32Array(12), [4, 3]), '2.weight': new Float32Array(6) } }), 'SHAPE_MISMATCH', "'0.weight'", '[4,3]', '[3,4]');
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'scores', scores: { '0.weight': new Float32Array(11), '2.weight': new Float32Array(6) } }), 'SHAPE_MISMATCH', "'0.weight'", '11');
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'scores', scores: { '0.weight': new Float32Array(12) } }), 'INVALID_ARGUMENT', "no score given for '2.weight'");
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'scores', scores: new Map([['0.weight', new Float32Array(12)], ['2.weight', new Float32Array(6)], ['5.weight', new Float32Array(1)]]) }), 'INVALID_ARGUMENT', "'5.weight'");
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'scores', scores: { '0.weight': new Float32Array(12).fill(NaN), '2.weight': new Float32Array(6) } }), 'INVALID_ARGUMENT', 'NaN', "'0.weight'");
      expectMinnowError(() => parameterScores('prune', model, params, { kind: 'bogus' } as never), 'INVALID_ARGUMENT', 'criterion');
    });
    model.dispose();
  });

  it('taylor is |w * sum over batches of dL/dw|, in eval mode, clearing the gradients, leaking nothing', () => {
    const rng = new Random(4);
    const n = 24;
    const x = Float32Array.from({ length: n * 5 }, () => rng.normal());
    const y = Int32Array.from({ length: n }, () => rng.int(3));
    const data = new TensorDataset(x, [n, 5], y);
    const model = new Sequential(new Linear(5, 6, { seed: 3 }), new ReLU(), new Linear(6, 3, { seed: 5 }));
    const params = model.namedParameters().filter(([name]) => name.endsWith('weight'));
    // By hand: backward of each batch's loss, gradients accumulating.
    const loader = (): DataLoader => new DataLoader(data, { batchSize: 8 });
    const tensors = liveTensors();
    for (const batch of loader()) {
      scope(() => crossEntropy(model.forward(batch.x), batch.y).backward());
      batch.dispose();
    }
    const expected = params.map(([, p]) => {
      const w = p.dataSync();
      const g = p.grad!.dataSync();
      return Array.from(w, (v, i) => Math.abs(Math.fround(v * g[i])));
    });
    model.zeroGrad();
    model.train();
    const got = parameterScores('prune', model, params, { kind: 'taylor', data: loader() });
    got.forEach((s, i) => expect(Array.from(s)).toEqual(expected[i]));
    expect(model.training).toBe(true);
    expect(model.parameters().every((p: Tensor) => p.grad === null)).toBe(true);
    expect(liveTensors()).toBe(tensors);
    expectMinnowError(() => parameterScores('prune', model, params, { kind: 'taylor', data: [] }), 'INVALID_ARGUMENT', 'no batches');
    model.dispose();
  });
});
