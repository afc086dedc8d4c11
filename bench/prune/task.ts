import { Random, type Tensor } from '@minnow/core';
import {
  Adam, BatchNorm2d, Conv2d, CosineAnnealingLR, DataLoader, Flatten, Linear, MaxPool2d, ReLU, Sequential, TensorDataset, subset, type Dataset, type Module,
} from '@minnow/nn';
import { loadFashionMnist } from '@minnow/nn/node';
import { evaluate, train, type AnyOptimizer, type EpochRecord, type Progress } from '@minnow/compress';

/**
 * The prune bench's task: Fashion-MNIST (Debian's dataset-fashion-mnist, all 60,000 training and
 * 10,000 test images, pixels / 255), the two networks it prunes, and the one training recipe every
 * case uses (Adam, cosine annealing to 0, batch 128, backend-wasm), so rows differ only in what
 * the case does to the model.
 */

export const BACKEND = 'wasm';
export const BATCH = 128;
export const DATA_SEED = 1;

export interface Task {
  readonly train: Dataset;
  readonly test: Dataset;
  loader(seed?: number): DataLoader;
  readonly testLoader: DataLoader;
}

/** Fashion-MNIST images as [N, 1, 28, 28] (one channel, for the CNN; the MLP flattens them). */
async function images(split: 'train' | 'test'): Promise<TensorDataset> {
  const set = await loadFashionMnist({ split });
  return new TensorDataset(set.features, [set.length, 1, 28, 28], set.labels, { classNames: set.classNames });
}

export async function loadTask(quick: boolean): Promise<Task> {
  const full = await images('train');
  const testFull = await images('test');
  const trainSet = quick ? subset(full, Int32Array.from({ length: 6000 }, (_, i) => i)) : full;
  const testSet = quick ? subset(testFull, Int32Array.from({ length: 2000 }, (_, i) => i)) : testFull;
  return {
    train: trainSet,
    test: testSet,
    loader: (seed = DATA_SEED) => new DataLoader(trainSet, { batchSize: BATCH, shuffle: true, seed, backend: BACKEND }),
    testLoader: new DataLoader(testSet, { batchSize: 1000, backend: BACKEND }),
  };
}

/** LeNet-300-100 (LeCun et al. 1998; Han et al.'s Deep Compression baseline): 784-300-100-10, ReLU. */
export function lenet300100(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(
    new Flatten(),
    new Linear(784, 300, { seed: rng, backend: BACKEND }), new ReLU(),
    new Linear(300, 100, { seed: rng, backend: BACKEND }), new ReLU(),
    new Linear(100, 10, { seed: rng, backend: BACKEND }),
  );
}

/**
 * The small CNN of the structured case: two conv blocks (3x3, padding 1, BatchNorm, ReLU, max
 * pool 2) with 16 and 32 channels, then a 128-unit hidden layer: 28x28 -> 14x14 -> 7x7.
 */
export function smallCnn(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(
    new Conv2d(1, 16, 3, { seed: rng, padding: 1, backend: BACKEND }), new BatchNorm2d(16, { backend: BACKEND }), new ReLU(), new MaxPool2d(2),
    new Conv2d(16, 32, 3, { seed: rng, padding: 1, backend: BACKEND }), new BatchNorm2d(32, { backend: BACKEND }), new ReLU(), new MaxPool2d(2),
    new Flatten(),
    new Linear(32 * 7 * 7, 128, { seed: rng, backend: BACKEND }), new ReLU(),
    new Linear(128, 10, { seed: rng, backend: BACKEND }),
  );
}

export const optimizer = (lr: number) => (params: Tensor[]): AnyOptimizer => new Adam(params, { lr });
export const cosine = (epochs: number) => (opt: AnyOptimizer) => new CosineAnnealingLR(opt, { tMax: epochs });

/** One line per finished epoch on stderr (stdout stays rows only under --json). */
export function progress(label: string): (p: Progress) => void {
  return (p) => {
    if (p.step !== p.stepsPerEpoch || p.phase !== 'train') return;
    process.stderr.write(`  ${label} epoch ${p.epoch + 1}/${p.epochs}: loss ${p.loss.toFixed(4)} accuracy ${p.accuracy.toFixed(4)}, ${p.samplesPerSecond.toFixed(0)} samples/s\n`);
  };
}

/** Trains `model` with the bench's recipe (Adam at `lr`, cosine over `epochs`). */
export function trainFloat(model: Module<[Tensor], Tensor>, task: Task, epochs: number, lr: number, label: string): EpochRecord[] {
  return train({ model, data: task.loader(), optimizer: optimizer(lr), schedule: cosine(epochs), epochs, onProgress: progress(label) });
}

/** Test accuracy in eval mode, as a fraction. */
export function testAccuracy(model: Module<[Tensor], Tensor>, task: Task): number {
  return evaluate(model, task.testLoader).accuracy;
}
