import { MinnowError, Random, fromArray, getBackend, type Tensor } from '@minnow/core';
import { permutation, requireSeed, type Dataset } from './dataset.js';

export interface DataLoaderOptions {
  /** Examples per batch, a positive integer. */
  readonly batchSize: number;
  /** Reshuffle every epoch (default false: dataset order). Needs `seed`. */
  readonly shuffle?: boolean;
  /** With `shuffle`: epoch e's order is a function of (seed, e) alone, so a run can be replayed or resumed. */
  readonly seed?: number;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  readonly dropLast?: boolean;
  /** The backend the batch tensors are created on (a registered, initialised name); defaults to the default backend. */
  readonly backend?: string;
  /** The epoch the first `for ... of` runs (default 0); for resuming. */
  readonly startEpoch?: number;
}

/**
 * One batch: `x` float32 [b, ...featureShape], `y` int32 [b], and the dataset indices they came
 * from. The tensors belong to the caller: dispose the batch (or its tensors) when done, use
 * `for (using batch of loader)`, or create it inside `scope()`.
 */
export interface Batch {
  readonly x: Tensor;
  readonly y: Tensor;
  readonly indices: Int32Array;
  readonly epoch: number;
  dispose(): void;
  [Symbol.dispose](): void;
}

/**
 * Batches a Dataset into tensors. Each `for (const batch of loader)` is one epoch; the loader
 * counts them, and with `shuffle` each epoch's order comes from (seed, epoch), so it is the same
 * on every run. Batches are made lazily, one per iteration step, and are never disposed by the
 * loader: the caller disposes each one.
 *
 * ```ts
 * const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 1 });
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   for (const batch of loader) {
 *     scope(() => step(batch.x, batch.y));
 *     batch.dispose();
 *   }
 * }
 * ```
 */
export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly seed: number | undefined;
  readonly backend: string | undefined;
  private epochCounter: number;

  constructor(dataset: Dataset, options: DataLoaderOptions) {
    const { batchSize, shuffle = false, dropLast = false, backend, startEpoch = 0 } = options ?? ({} as DataLoaderOptions);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new MinnowError('INVALID_ARGUMENT', `DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    checkEpoch('DataLoader: startEpoch', startEpoch);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = shuffle ? requireSeed('DataLoader (shuffle: true)', options.seed) : options.seed;
    this.backend = backend;
    this.epochCounter = startEpoch;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The epoch the next `for ... of` will run. */
  get nextEpoch(): number {
    return this.epochCounter;
  }

  /** The order in which epoch `epoch` visits the dataset (all of it, before dropLast trims the tail). */
  order(epoch: number): Int32Array {
    checkEpoch('DataLoader.order', epoch);
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return permutation(n, new Random(epochSeed(this.seed!, epoch)));
  }

  /** The batches of one given epoch, without moving the loader's epoch counter. */
  *epoch(epoch: number): Generator<Batch, void, undefined> {
    const order = this.order(epoch);
    // Checked before the first batch, so a loader on an uninitialised backend fails at once, by name.
    const backend = getBackend(this.backend).name;
    const count = this.length;
    for (let b = 0; b < count; b++) {
      const indices = order.slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
      yield this.makeBatch(indices, epoch, backend);
    }
  }

  /** Runs the next epoch and advances the counter (when iteration starts, so an early `break` still counts). */
  [Symbol.iterator](): Generator<Batch, void, undefined> {
    return this.epoch(this.epochCounter++);
  }

  private makeBatch(indices: Int32Array, epoch: number, backend: string): Batch {
    const { featureShape } = this.dataset;
    const featureSize = featureShape.reduce((a, b) => a * b, 1);
    const b = indices.length;
    const features = new Float32Array(b * featureSize);
    const labels = new Int32Array(b);
    for (let k = 0; k < b; k++) {
      const example = this.dataset.get(indices[k]);
      if (example.features.length !== featureSize) {
        throw new MinnowError('INVALID_SHAPE', `DataLoader: example ${indices[k]} has ${example.features.length} feature values; featureShape [${featureShape.join(',')}] needs ${featureSize}`);
      }
      if (!Number.isInteger(example.label) || example.label < -0x80000000 || example.label > 0x7fffffff) {
        throw new MinnowError('OUT_OF_RANGE', `DataLoader: example ${indices[k]} has label ${example.label}, not an int32`);
      }
      features.set(example.features, k * featureSize);
      labels[k] = example.label;
    }
    const x = fromArray(features, [b, ...featureShape], { dtype: 'float32', backend });
    let y: Tensor;
    try {
      y = fromArray(labels, [b], { dtype: 'int32', backend });
    } catch (error) {
      x.dispose();
      throw error;
    }
    const dispose = (): void => {
      x.dispose();
      y.dispose();
    };
    return { x, y, indices, epoch, dispose, [Symbol.dispose]: dispose };
  }
}

function checkEpoch(what: string, epoch: number): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new MinnowError('INVALID_ARGUMENT', `${what}: epoch must be a non-negative integer, got ${epoch}`);
}

/** A 32-bit seed from (seed, epoch): murmur3's finaliser over both, so neighbouring epochs are unrelated. */
function epochSeed(seed: number, epoch: number): number {
  let h = fmix32(Math.trunc(seed) >>> 0);
  h = fmix32((h ^ Math.imul(epoch >>> 0, 0x9e3779b1) ^ Math.floor(epoch / 0x100000000)) >>> 0);
  return h;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
