import { MinnowError, Random, formatShape } from '@minnow/core';

/** One example: its features (row-major, shaped by the dataset's `featureShape`) and its class label. */
export interface Example {
  /**
   * May be a view on the dataset's own storage (TensorDataset returns one, to avoid a copy per
   * example): read it, copy it, but do not write to it.
   */
  readonly features: Float32Array;
  readonly label: number;
}

/**
 * A finite, indexable collection of labelled examples. Implementations are free to compute `get(i)`
 * on demand; DataLoader only ever asks for `length`, `featureShape` and `get(i)`.
 */
export interface Dataset {
  readonly length: number;
  /** The shape of one example's features (MNIST: [784]; Fashion-MNIST: [28, 28]; Iris: [4]). */
  readonly featureShape: readonly number[];
  /** Names of the classes, label k naming classNames[k], where the source has them. */
  readonly classNames?: readonly string[];
  get(index: number): Example;
}

export interface TensorDatasetOptions {
  /** Class names; when given, every label must lie in [0, classNames.length). */
  readonly classNames?: readonly string[];
}

/**
 * A dataset held in two typed arrays: features of shape [n, ...featureShape] (row-major float32)
 * and n int32 labels. Named for what the DataLoader makes of it; it holds no Tensor (and so no
 * backend memory) itself.
 */
export class TensorDataset implements Dataset {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  /** [n, ...featureShape] */
  readonly shape: readonly number[];
  readonly featureShape: readonly number[];
  readonly classNames?: readonly string[];
  private readonly featureSize: number;

  constructor(features: Float32Array, shape: readonly number[], labels: Int32Array, options: TensorDatasetOptions = {}) {
    if (!(features instanceof Float32Array)) throw new MinnowError('INVALID_ARGUMENT', 'TensorDataset: features must be a Float32Array');
    if (!(labels instanceof Int32Array)) throw new MinnowError('INVALID_ARGUMENT', 'TensorDataset: labels must be an Int32Array');
    if (shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new MinnowError('INVALID_SHAPE', `TensorDataset: shape ${formatShape(shape)} must be [n, ...featureShape] with non-negative integer dims`);
    }
    const n = shape[0];
    const featureShape = shape.slice(1);
    const featureSize = featureShape.reduce((a, b) => a * b, 1);
    if (features.length !== n * featureSize) {
      throw new MinnowError('INVALID_SHAPE', `TensorDataset: ${features.length} feature values do not fill shape ${formatShape(shape)} (${n * featureSize} elements)`);
    }
    if (labels.length !== n) {
      throw new MinnowError('SHAPE_MISMATCH', `TensorDataset: ${labels.length} labels for ${n} examples (shape ${formatShape(shape)})`);
    }
    if (options.classNames !== undefined) {
      const k = options.classNames.length;
      for (let i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) {
          throw new MinnowError('OUT_OF_RANGE', `TensorDataset: label ${labels[i]} of example ${i} is outside [0, ${k}) for ${k} class names`);
        }
      }
      this.classNames = [...options.classNames];
    }
    this.features = features;
    this.labels = labels;
    this.shape = [...shape];
    this.featureShape = featureShape;
    this.featureSize = featureSize;
  }

  get length(): number {
    return this.shape[0];
  }

  get(index: number): Example {
    checkIndex('TensorDataset.get', index, this.length);
    const start = index * this.featureSize;
    return { features: this.features.subarray(start, start + this.featureSize), label: this.labels[index] };
  }
}

/** A view on `dataset` through a list of its indices (copied; repeats allowed). */
export function subset(dataset: Dataset, indices: ArrayLike<number>): Dataset {
  const own = Int32Array.from(indices as ArrayLike<number>);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= dataset.length) {
      throw new MinnowError('OUT_OF_RANGE', `subset: index ${index} (position ${i}) is outside [0, ${dataset.length})`);
    }
  }
  return new SubsetDataset(dataset, own);
}

class SubsetDataset implements Dataset {
  readonly featureShape: readonly number[];
  readonly classNames?: readonly string[];

  constructor(readonly source: Dataset, readonly indices: Int32Array) {
    this.featureShape = source.featureShape;
    if (source.classNames !== undefined) this.classNames = source.classNames;
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): Example {
    checkIndex('subset.get', index, this.indices.length);
    return this.source.get(this.indices[index]);
  }
}

/**
 * Splits `dataset` at random into disjoint subsets. `parts` are either fractions that sum to 1
 * (sizes by largest remainder, so they always add up to `dataset.length`) or integer counts that
 * sum to `dataset.length`. The same seed gives the same split; each subset keeps the source order.
 */
export function split(dataset: Dataset, parts: readonly number[], options: { readonly seed: number }): Dataset[] {
  const n = dataset.length;
  const sizes = partSizes(parts, n);
  const order = permutation(n, new Random(requireSeed('split', options?.seed)));
  const out: Dataset[] = [];
  let start = 0;
  for (const size of sizes) {
    out.push(subset(dataset, order.slice(start, start + size).sort()));
    start += size;
  }
  return out;
}

export interface TrainTestSplitOptions {
  readonly seed: number;
  /** Fraction of the examples held out for test, in [0, 1]. */
  readonly testFraction: number;
  /** Keep each class's share the same in train and test (default true). */
  readonly stratify?: boolean;
}

/**
 * A seeded train/test split, stratified by label unless `stratify: false`: each class contributes
 * its share of `testFraction` (by largest remainder, so test has round(n * testFraction) examples).
 */
export function trainTestSplit(dataset: Dataset, options: TrainTestSplitOptions): { train: Dataset; test: Dataset } {
  const seed = requireSeed('trainTestSplit', options?.seed);
  const f = options.testFraction;
  if (typeof f !== 'number' || !(f >= 0 && f <= 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `trainTestSplit: testFraction must be in [0, 1], got ${f}`);
  }
  if (options.stratify === false) {
    const [test, train] = split(dataset, [f, 1 - f], { seed });
    return { train, test };
  }
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < dataset.length; i++) {
    const label = dataset.get(i).label;
    let list = byClass.get(label);
    if (!list) byClass.set(label, (list = []));
    list.push(i);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const counts = classes.map((c) => byClass.get(c)!.length);
  const testCounts = largestRemainder(counts.map((c) => c * f), Math.round(dataset.length * f), counts);
  const rng = new Random(seed);
  const train: number[] = [];
  const test: number[] = [];
  classes.forEach((c, k) => {
    const members = byClass.get(c)!;
    const order = permutation(members.length, rng);
    for (let j = 0; j < members.length; j++) (j < testCounts[k] ? test : train).push(members[order[j]]);
  });
  return { train: subset(dataset, train.sort((a, b) => a - b)), test: subset(dataset, test.sort((a, b) => a - b)) };
}

/** A seeded uniform permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Random): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

export function checkIndex(op: string, index: number, length: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new MinnowError('OUT_OF_RANGE', `${op}: index ${index} is outside [0, ${length})`);
  }
}

export function requireSeed(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: a finite numeric seed is required so the result can be replayed, got ${String(seed)}`);
  }
  return seed;
}

function partSizes(parts: readonly number[], n: number): number[] {
  if (!Array.isArray(parts) || parts.length === 0 || !parts.every((p) => typeof p === 'number' && Number.isFinite(p) && p >= 0)) {
    throw new MinnowError('INVALID_ARGUMENT', `split: parts must be a non-empty list of non-negative numbers, got [${String(parts)}]`);
  }
  const sum = parts.reduce((a, b) => a + b, 0);
  if (parts.every(Number.isInteger) && sum === n) return [...parts];
  if (Math.abs(sum - 1) <= 1e-9) return largestRemainder(parts.map((p) => p * n), n);
  throw new MinnowError('INVALID_ARGUMENT', `split: parts [${parts.join(',')}] are neither fractions summing to 1 nor counts summing to the dataset length ${n}`);
}

/** Integer sizes near `shares` that sum to `total`, each at most its cap (largest remainder; ties to the earlier part). */
function largestRemainder(shares: readonly number[], total: number, caps?: readonly number[]): number[] {
  const sizes = shares.map((s) => Math.floor(s + 1e-9));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  const order = shares.map((s, i) => i).sort((a, b) => (shares[b] - sizes[b]) - (shares[a] - sizes[a]) || a - b);
  for (let k = 0; left > 0 && k < order.length * 2; k++) {
    const i = order[k % order.length];
    if (caps && sizes[i] >= caps[i]) continue;
    sizes[i]++;
    left--;
  }
  return sizes;
}
