import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random, fromArray, liveTensors, mul, scope, sum, type Tensor } from '@minnow/core';
import { Adam, Conv2d, DataLoader, Linear, ReLU, SGD, Sequential, TensorDataset, type Module } from '@minnow/nn';
import { decodeCompact, encodeCompact } from '@minnow/formats';
import { type CentroidInit, clusterWeights, compactTensorsOf, evaluate, kmeans1d, type KMeansResult, loadCompact, train } from '@minnow/compress';
import { expectMinnowError, runs } from '../helpers/reference.js';
import { signQuadrants } from '../helpers/synthetic.js';

// k-means weight sharing: Lloyd's properties on arbitrary values (nearest centroids, at most k
// distinct values, zeros left alone, determinism), the three initialisations, clustering a Module,
// Han's shared-gradient fine-tuning on a small task, and the clustered model through the compact container.

const arbValues = fc
  .record({
    n: fc.integer({ min: 0, max: 300 }),
    zeros: fc.constantFrom(0, 0.3, 0.9),
    repeats: fc.boolean(),
    scale: fc.constantFrom(1e-3, 1, 50),
    seed: fc.nat(),
  })
  .map(({ n, zeros, repeats, scale, seed }) => {
    const r = new Random(seed);
    const pool = Array.from({ length: 5 }, () => r.normal() * scale);
    return Float32Array.from({ length: n }, () => (r.uniform() < zeros ? 0 : repeats && r.uniform() < 0.5 ? pool[r.int(5)] : r.normal() * scale));
  });

const arbOptions = fc.record({
  clusters: fc.integer({ min: 1, max: 40 }),
  init: fc.constantFrom<CentroidInit>('linear', 'density', 'random'),
  seed: fc.nat(),
  maxIterations: fc.constantFrom(0, 1, 3, 100),
  skipZeros: fc.boolean(),
  emptyClusters: fc.constantFrom<'relocate' | 'drop'>('relocate', 'drop'),
});

/** Checks what every k-means result promises about `values`. */
function checkResult(values: Float32Array, result: KMeansResult, clusters: number, skipZeros: boolean): void {
  const { centroids, assignments } = result;
  expect(centroids.length).toBeLessThanOrEqual(clusters);
  for (let j = 1; j < centroids.length; j++) expect(centroids[j]).toBeGreaterThan(centroids[j - 1]);
  const used = new Set<number>();
  values.forEach((x, i) => {
    const a = assignments[i];
    if (skipZeros && x === 0) {
      expect(a).toBe(-1);
      return;
    }
    expect(a).toBeGreaterThanOrEqual(0);
    used.add(a);
    // The nearest centroid, ties to the smaller.
    const d = Math.abs(x - centroids[a]);
    centroids.forEach((c, j) => {
      const dj = Math.abs(x - c);
      if (dj < d || (dj === d && j < a)) throw new Error(`value ${x} (element ${i}) goes to centroid ${centroids[a]} but ${c} is at least as near`);
    });
  });
  // Every centroid is someone's: no empty clusters are reported.
  expect(used.size).toBe(centroids.length);
  // Converged: each centroid is its members' mean (rounded to float32), a fixed point of Lloyd's update.
  if (result.converged && result.iterations > 0) {
    const sums = new Float64Array(centroids.length);
    const counts = new Float64Array(centroids.length);
    values.forEach((x, i) => {
      if (assignments[i] >= 0) {
        sums[assignments[i]] += x;
        counts[assignments[i]]++;
      }
    });
    centroids.forEach((c, j) => expect(c).toBe(Math.fround(sums[j] / counts[j])));
  }
}

describe('kmeans1d', () => {
  it('assigns every value its nearest centroid, keeps at most k, leaves zeros out, and is deterministic', () => {
    fc.assert(fc.property(arbValues, arbOptions, (values, options) => {
      const result = kmeans1d(values, options);
      checkResult(values, result, options.clusters, options.skipZeros);
      const again = kmeans1d(values, options);
      expect(again.centroids).toEqual(result.centroids);
      expect(again.assignments).toEqual(result.assignments);
      // Snapped values: at most k distinct, zeros (skipped) still zero.
      const snapped = Float32Array.from(values, (x, i) => (result.assignments[i] < 0 ? 0 : result.centroids[result.assignments[i]]));
      expect(new Set(snapped.filter((v, i) => result.assignments[i] >= 0)).size).toBeLessThanOrEqual(options.clusters);
      if (options.skipZeros) values.forEach((x, i) => x === 0 && expect(snapped[i]).toBe(0));
    }), runs(0xc1a5, 200));
  });

  it('finds the obvious clusters', () => {
    const values = Float32Array.of(1, 1.1, 1.2, 0, 5, 5.1, 0, 9);
    const { centroids, assignments, converged } = kmeans1d(values, { clusters: 3 });
    expect([...centroids]).toEqual([1.1, 5.05, 9].map(Math.fround));
    expect([...assignments]).toEqual([0, 0, 0, -1, 1, 1, -1, 2]);
    expect(converged).toBe(true);
  });

  it("starts from Han et al.'s three initialisations", () => {
    const r = new Random(4);
    const values = Float32Array.from({ length: 5000 }, () => r.normal());
    const sorted = [...values].sort((a, b) => a - b);
    const [lo, hi] = [sorted[0], sorted[sorted.length - 1]];
    // maxIterations 0: the initial centroids (those someone is nearest to).
    const linear = kmeans1d(values, { clusters: 8, maxIterations: 0 }).centroids;
    expect([...linear]).toEqual(Array.from({ length: 8 }, (_, i) => Math.fround(lo + ((hi - lo) * i) / 7)));
    const density = kmeans1d(values, { clusters: 8, init: 'density', maxIterations: 0 }).centroids;
    expect([...density]).toEqual(Array.from({ length: 8 }, (_, i) => sorted[Math.floor(((i + 0.5) / 8) * 5000)]));
    const random = kmeans1d(values, { clusters: 8, init: 'random', seed: 9, maxIterations: 0 }).centroids;
    expect(random.length).toBe(8);
    for (const c of random) expect(values.includes(c)).toBe(true);
    expect(kmeans1d(values, { clusters: 8, init: 'random', seed: 10, maxIterations: 0 }).centroids).not.toEqual(random);
    // Lloyd's iterations only lower the squared error of the snapped values, from each start.
    const distortion = (result: KMeansResult): number => values.reduce((e, x, i) => e + (x - result.centroids[result.assignments[i]]) ** 2, 0);
    for (const init of ['linear', 'density', 'random'] as const) {
      const errors = [0, 1, 5, 100].map((maxIterations) => distortion(kmeans1d(values, { clusters: 8, init, seed: 9, maxIterations })));
      for (let i = 1; i < errors.length; i++) expect(errors[i]).toBeLessThanOrEqual(errors[i - 1] * (1 + 1e-6));
      expect(errors[3]).toBeLessThan(errors[0]);
    }
  });

  it("puts every cluster to use on a pruned layer's two-sided distribution, unless told to drop empty ones", () => {
    // Magnitude pruning leaves two bands, |w| in [0.8, 1]: linear centroids in the gap between them start empty.
    const r = new Random(6);
    const values = Float32Array.from({ length: 4000 }, () => (r.uniform() < 0.9 ? 0 : (r.uniform() < 0.5 ? -1 : 1) * (0.8 + 0.2 * r.uniform())));
    const dropped = kmeans1d(values, { clusters: 32, emptyClusters: 'drop' });
    const relocated = kmeans1d(values, { clusters: 32 });
    checkResult(values, dropped, 32, true);
    checkResult(values, relocated, 32, true);
    expect(dropped.centroids.length).toBeLessThan(16);
    expect(relocated.centroids.length).toBe(32);
    const distortion = (result: KMeansResult): number => values.reduce((e, x, i) => (x === 0 ? e : e + (x - result.centroids[result.assignments[i]]) ** 2), 0);
    expect(distortion(relocated)).toBeLessThan(distortion(dropped) / 4);
  });

  it('has fewer clusters than asked when there are fewer distinct values, and none for all zeros', () => {
    expect([...kmeans1d(Float32Array.of(2, 2, 3, 3, 3), { clusters: 16 }).centroids]).toEqual([2, 3]);
    expect(kmeans1d(new Float32Array(10), { clusters: 4 })).toMatchObject({ centroids: new Float32Array(0), converged: true });
    expect([...kmeans1d(new Float32Array(3), { clusters: 4, skipZeros: false }).assignments]).toEqual([0, 0, 0]);
  });

  it('refuses bad input', () => {
    expectMinnowError(() => kmeans1d(Float32Array.of(1, NaN), { clusters: 2 }), 'INVALID_ARGUMENT', 'value 1 is NaN');
    expectMinnowError(() => kmeans1d(Float32Array.of(1), { clusters: 0 }), 'INVALID_ARGUMENT', 'clusters');
    expectMinnowError(() => kmeans1d(Float32Array.of(1), { clusters: 2, init: 'random' }), 'INVALID_ARGUMENT', 'seed');
    expectMinnowError(() => kmeans1d(Float32Array.of(1), { clusters: 2, init: 'kmeans++' as CentroidInit }), 'INVALID_ARGUMENT', 'init');
  });
});

// ------------------------------------------------------------------------------------------------
// Modules

const FEATURES = 8;
const CLASSES = 4;

const synthetic = (n: number, seed: number): TensorDataset => signQuadrants(n, seed, { features: FEATURES, truthSeed: 1234 });

function mlp(seed: number): Sequential {
  const r = new Random(seed);
  return new Sequential(new Linear(FEATURES, 32, { seed: r }), new ReLU(), new Linear(32, 32, { seed: r }), new ReLU(), new Linear(32, CLASSES, { seed: r }));
}

function valuesOf(model: Module<[Tensor], Tensor>, name: string): Float32Array {
  return model.stateDict().get(name)!.dataSync() as Float32Array;
}

/** Zeroes the smaller half (by magnitude) of each Linear weight: a stand-in for magnitude pruning. */
function pruneHalf(model: Module<[Tensor], Tensor>): void {
  const entries = new Map<string, Tensor>();
  scope(() => {
    for (const [name, t] of model.stateDict()) {
      if (!name.endsWith('weight')) continue;
      const w = Float32Array.from(t.dataSync());
      const threshold = [...w].map(Math.abs).sort((a, b) => a - b)[Math.floor(w.length / 2)];
      entries.set(name, fromArray(w.map((v) => (Math.abs(v) < threshold ? 0 : v)), t.shape));
    }
    model.loadStateDict(entries, { strict: false });
  });
}

const distinctNonzero = (values: Float32Array): number => new Set(values.filter((v) => v !== 0)).size;

describe('clusterWeights', () => {
  it('clusters the chosen weights in place: at most k values each, pruned zeros kept, biases untouched', () => {
    const model = mlp(1);
    pruneHalf(model);
    const before = new Map([...model.stateDict()].map(([name, t]) => [name, Float32Array.from(t.dataSync())]));
    const clustering = clusterWeights(model, { bits: 2, exclude: ['4'], layers: { '2.weight': { clusters: 3 } } });
    expect(clustering.names).toEqual(['0.weight', '2.weight']);
    const report = clustering.report();
    expect(report.map((r) => [r.name, r.clusters, r.distinct <= r.clusters])).toEqual([['0.weight', 4, true], ['2.weight', 3, true]]);
    for (const [name, old] of before) {
      const now = valuesOf(model, name);
      if (clustering.names.includes(name)) {
        // Zeros stay zero and nonzeros stay nonzero unless their centroid is 0; each is its centroid.
        old.forEach((v, i) => (v === 0 ? expect(now[i]).toBe(0) : expect(now[i]).toBe(clustering.centroids(name)[clustering.assignments(name)[i]])));
        expect(report.find((r) => r.name === name)!.nonzeros).toBe(old.filter((v) => v !== 0).length);
      } else {
        expect(now).toEqual(old); // biases and the excluded last layer
      }
    }
  });

  it('clusters Conv2d weights too, and refuses bad options naming them', () => {
    const r = new Random(2);
    const conv = new Sequential(new Conv2d(2, 4, 3, { seed: r }), new ReLU());
    const clustering = clusterWeights(conv, { clusters: 5 });
    expect(clustering.names).toEqual(['0.weight']);
    expect(distinctNonzero(valuesOf(conv, '0.weight'))).toBeLessThanOrEqual(5);
    const model = mlp(3);
    expectMinnowError(() => clusterWeights(model, {}), 'INVALID_ARGUMENT', 'bits or clusters');
    expectMinnowError(() => clusterWeights(model, { bits: 0 }), 'INVALID_ARGUMENT', 'bits');
    expectMinnowError(() => clusterWeights(model, { bits: 2, clusters: 4 }), 'INVALID_ARGUMENT', 'one');
    expectMinnowError(() => clusterWeights(model, { bits: 2, layers: { '1.weight': { bits: 3 } } }), 'INVALID_ARGUMENT', '1.weight');
    expectMinnowError(() => clusterWeights(model, { bits: 2, include: ['nope'] }), 'INVALID_ARGUMENT', 'nope');
    expectMinnowError(() => clusterWeights(model, { bits: 2, init: 'random' }), 'INVALID_ARGUMENT', "'0.weight'", 'seed');
  });

  it('shares gradients: each weight gets the sum (or mean) of its cluster, a pruned one zero', () => {
    for (const gradient of ['sum', 'mean'] as const) {
      const model = mlp(4);
      pruneHalf(model);
      const clustering = clusterWeights(model, { bits: 3, include: ['0.weight'], gradient });
      const batch = synthetic(16, 9);
      scope(() => {
        const x = fromArray(batch.features, [16, FEATURES]);
        sum(mul(model.forward(x), model.forward(x))).backward();
      });
      const weight = model.namedParameters().find(([n]) => n === '0.weight')![1];
      const raw = Float32Array.from(weight.grad!.dataSync());
      clustering.shareGradients();
      const shared = weight.grad!.dataSync();
      const a = clustering.assignments('0.weight');
      const k = clustering.centroids('0.weight').length;
      const sums = new Float64Array(k);
      const counts = new Float64Array(k);
      raw.forEach((g, i) => {
        if (a[i] >= 0) {
          sums[a[i]] += g;
          counts[a[i]]++;
        }
      });
      a.forEach((c, i) => expect(shared[i]).toBe(c < 0 ? 0 : Math.fround(gradient === 'sum' ? sums[c] : sums[c] / counts[c])));
      model.zeroGrad();
    }
  });

  it('fine-tuning the shared values keeps at most k per layer and the zeros, and lowers the loss', () => {
    const trainSet = synthetic(512, 1);
    const data = (): DataLoader => new DataLoader(trainSet, { batchSize: 32, shuffle: true, seed: 5 });
    const model = mlp(5);
    train({ model, data: data(), optimizer: (p) => new Adam(p, { lr: 1e-2 }), epochs: 8 });
    pruneHalf(model);
    const trained = evaluate(model, data()).loss;
    const clustering = clusterWeights(model, { bits: 2 });
    const zeros = new Map(clustering.names.map((n) => [n, valuesOf(model, n).map((v) => (v === 0 ? 1 : 0))]));
    const initial = new Map(clustering.names.map((n) => [n, clustering.centroids(n)]));
    const clustered = evaluate(model, data()).loss;
    expect(clustered).toBeGreaterThan(trained); // 4 values per layer cost something
    const live = liveTensors();
    const history = train({ model, data: data(), optimizer: (p) => new Adam(p, { lr: 3e-3 }), epochs: 6, stepHooks: clustering.stepHooks() });
    expect(liveTensors()).toBe(live);
    const tuned = evaluate(model, data()).loss;
    expect(tuned).toBeLessThan(clustered);
    expect(history[history.length - 1].trainLoss).toBeLessThan(history[0].trainLoss);
    for (const name of clustering.names) {
      const w = valuesOf(model, name);
      expect(distinctNonzero(w)).toBeLessThanOrEqual(4);
      zeros.get(name)!.forEach((z, i) => z && expect(w[i]).toBe(0));
      expect(clustering.centroids(name)).not.toEqual(initial.get(name)); // the centroids were trained
      expect(new Set(w.filter((v) => v !== 0))).toEqual(new Set(clustering.centroids(name)));
    }
    console.log(`cluster fine-tuning: loss ${trained.toFixed(4)} trained, ${clustered.toFixed(4)} at 2 bits, ${tuned.toFixed(4)} after 6 epochs of shared-gradient fine-tuning`);
  });

  it('fine-tunes with plain SGD on the summed gradients (Han et al.)', () => {
    const trainSet = synthetic(512, 2);
    const data = (): DataLoader => new DataLoader(trainSet, { batchSize: 32, shuffle: true, seed: 6 });
    const model = mlp(6);
    train({ model, data: data(), optimizer: (p) => new Adam(p, { lr: 1e-2 }), epochs: 8 });
    const clustering = clusterWeights(model, { bits: 2 });
    const clustered = evaluate(model, data()).loss;
    // A cluster's step is lr times the sum of up to hundreds of gradients: a small lr.
    train({ model, data: data(), optimizer: (p) => new SGD(p, { lr: 2e-4, momentum: 0.9 }), epochs: 4, stepHooks: clustering.stepHooks() });
    expect(evaluate(model, data()).loss).toBeLessThan(clustered);
    for (const name of clustering.names) expect(distinctNonzero(valuesOf(model, name))).toBeLessThanOrEqual(4);
  });

  it('stores the clustered model compactly and loads it back to the same outputs', () => {
    const model = mlp(7);
    pruneHalf(model);
    clusterWeights(model, { bits: 3 });
    const tensors = compactTensorsOf(model);
    const bytes = encodeCompact(tensors);
    const decoded = decodeCompact(bytes);
    expect([...decoded].map(([name, t]) => [name, t.encoding])).toEqual([
      ['0.weight', 'clustered'], ['0.bias', 'raw'], ['2.weight', 'clustered'], ['2.bias', 'raw'], ['4.weight', 'clustered'], ['4.bias', 'raw'],
    ]);
    const float32Bytes = model.parameterCount() * 4;
    expect(bytes.length).toBeLessThan(float32Bytes / 4);
    const copy = mlp(8);
    loadCompact(copy, decoded);
    scope(() => {
      const x = fromArray(synthetic(20, 3).features, [20, FEATURES]);
      expect(copy.forward(x).dataSync()).toEqual(model.forward(x).dataSync());
    });
    expectMinnowError(() => loadCompact(new Sequential(new Linear(FEATURES, 3, { seed: 1 })), decoded), 'SHAPE_MISMATCH', '0.weight');
  });
});
