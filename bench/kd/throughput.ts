import { Random, type Tensor } from '@minnow/core';
import { Adam, DataLoader, Dropout, Flatten, Linear, ReLU, Sequential, subset, type Module, type TensorDataset } from '@minnow/nn';
import { train } from '@minnow/compress';
import { tfjs } from '../lib/peers.js';

/**
 * Training throughput of the kd bench's two networks, minnow against TensorFlow.js, in one run:
 * the identical MLP (same layers, dropout, initial-weight distribution, batch size, Adam with the
 * same hyperparameters, the same Fashion-MNIST batches in the same order) trained for one epoch on
 * each implementation. samples/s = training samples over wall-clock seconds of the epoch: forward,
 * loss, backward, optimiser step and batch assembly, everything a training loop does.
 *
 * The slow implementations (minnow-js, tfjs-cpu) train on the epoch's first `cap` samples instead
 * of all 60,000: their rate is steady after the first batches, and a full epoch of the teacher
 * would take minutes each. Every implementation first runs a few warm-up steps (untimed) so WASM
 * compilation tiers and tfjs's kernel setup are not charged to the epoch.
 */

export interface NetSpec {
  readonly hidden: readonly number[];
  readonly dropout?: { readonly input: number; readonly hidden: number };
  readonly seed: number;
}

export type ThroughputImpl = 'minnow-wasm' | 'minnow-js' | 'tfjs-wasm' | 'tfjs-cpu';

export interface ThroughputOptions {
  readonly batchSize: number;
  readonly lr: number;
  readonly dataSeed: number;
  /** Samples each implementation trains on (the epoch, or its first `samples` for slow ones). */
  readonly samples: Readonly<Record<ThroughputImpl, number>>;
  readonly warmupSteps: number;
}

export interface ThroughputResult {
  readonly impl: ThroughputImpl;
  readonly samples: number;
  readonly seconds: number;
  readonly samplesPerSecond: number;
}

/** The kd bench's MLP in minnow: [Flatten, (Dropout), (Linear, ReLU, (Dropout))*, Linear]. */
export function minnowMlp(spec: NetSpec, backend: string): Sequential {
  const rng = new Random(spec.seed);
  const layers: Module<[Tensor], Tensor>[] = [new Flatten()];
  if (spec.dropout?.input) layers.push(new Dropout(spec.dropout.input, { seed: rng }));
  let width = 784;
  for (const h of spec.hidden) {
    layers.push(new Linear(width, h, { seed: rng, backend }), new ReLU());
    if (spec.dropout?.hidden) layers.push(new Dropout(spec.dropout.hidden, { seed: rng }));
    width = h;
  }
  layers.push(new Linear(width, 10, { seed: rng, backend }));
  return new Sequential(...layers);
}

function firstSamples(data: TensorDataset, n: number): TensorDataset | ReturnType<typeof subset> {
  return n >= data.length ? data : subset(data, Int32Array.from({ length: n }, (_, i) => i));
}

async function minnowThroughput(impl: 'minnow-wasm' | 'minnow-js', spec: NetSpec, data: TensorDataset, options: ThroughputOptions): Promise<ThroughputResult> {
  const backend = impl === 'minnow-wasm' ? 'wasm' : 'js';
  const model = minnowMlp(spec, backend);
  const optimizer = new Adam(model.parameters(), { lr: options.lr });
  const loader = (n: number): DataLoader => new DataLoader(firstSamples(data, n), { batchSize: options.batchSize, shuffle: true, seed: options.dataSeed, backend });
  try {
    train({ model, data: loader(options.warmupSteps * options.batchSize), optimizer, epochs: 1 });
    const samples = Math.min(options.samples[impl], data.length);
    const t0 = performance.now();
    train({ model, data: loader(samples), optimizer, epochs: 1 });
    const seconds = (performance.now() - t0) / 1000;
    return { impl, samples, seconds, samplesPerSecond: samples / seconds };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * The same network in TensorFlow.js (tfjs-core ops, tf.train.adam, softmax cross-entropy from
 * logits), initialised like minnow's Linear (PyTorch's U(-1/sqrt(in), 1/sqrt(in)) for weights and
 * biases), fed the same batches: the DataLoader's shuffled order, copied into tf tensors per step.
 */
async function tfjsThroughput(impl: 'tfjs-wasm' | 'tfjs-cpu', spec: NetSpec, data: TensorDataset, options: ThroughputOptions): Promise<ThroughputResult> {
  const tf = await tfjs(impl === 'tfjs-wasm' ? 'wasm' : 'cpu');
  const rng = new Random(spec.seed);
  const widths = [784, ...spec.hidden, 10];
  const uniform = (shape: number[], bound: number): Float32Array => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rng.uniform() * 2 - 1) * bound);
  const vars = widths.slice(1).map((out, i) => {
    const bound = 1 / Math.sqrt(widths[i]);
    return { w: tf.variable(tf.tensor2d(uniform([widths[i], out], bound), [widths[i], out])), b: tf.variable(tf.tensor1d(uniform([out], bound))) };
  });
  const optimizer = tf.train.adam(options.lr, 0.9, 0.999, 1e-8);
  const dropout = spec.dropout;
  const step = (x: Float32Array, labels: Int32Array): void => {
    tf.tidy(() => {
      const xs = tf.tensor2d(x, [labels.length, 784]);
      const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 10);
      optimizer.minimize(() => {
        let h: import('@tensorflow/tfjs-core').Tensor2D = dropout?.input ? tf.dropout(xs, dropout.input) as typeof xs : xs;
        vars.forEach(({ w, b }, i) => {
          h = tf.add(tf.matMul(h, w as typeof xs), b);
          if (i < vars.length - 1) {
            h = tf.relu(h);
            if (dropout?.hidden) h = tf.dropout(h, dropout.hidden) as typeof xs;
          }
        });
        return tf.losses.softmaxCrossEntropy(ys, h) as import('@tensorflow/tfjs-core').Scalar;
      });
    });
  };
  // The same batches as minnow's DataLoader (its shuffled order), assembled on the host per step.
  const epoch = (n: number): number => {
    const loader = new DataLoader(firstSamples(data, n), { batchSize: options.batchSize, shuffle: true, seed: options.dataSeed, backend: 'js' });
    let count = 0;
    for (const batch of loader) {
      const x = batch.x.dataSync() as Float32Array;
      const y = Int32Array.from(batch.y.dataSync() as ArrayLike<number>);
      batch.x.dispose();
      batch.y.dispose();
      step(x, y);
      count += y.length;
    }
    return count;
  };
  try {
    epoch(options.warmupSteps * options.batchSize);
    const t0 = performance.now();
    const samples = epoch(Math.min(options.samples[impl], data.length));
    const seconds = (performance.now() - t0) / 1000;
    return { impl, samples, seconds, samplesPerSecond: samples / seconds };
  } finally {
    optimizer.dispose();
    for (const { w, b } of vars) {
      w.dispose();
      b.dispose();
    }
  }
}

export async function trainingThroughput(impl: ThroughputImpl, spec: NetSpec, data: TensorDataset, options: ThroughputOptions): Promise<ThroughputResult> {
  return impl === 'minnow-wasm' || impl === 'minnow-js' ? minnowThroughput(impl, spec, data, options) : tfjsThroughput(impl, spec, data, options);
}
