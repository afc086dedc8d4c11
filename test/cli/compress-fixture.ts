import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Random, init } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { Adam, DataLoader, Linear, ReLU, Sequential, permutation, subset, type Dataset } from '@minnow/nn';
import { loadMnistSplit } from '@minnow/nn/node';
import { evaluate, train } from '@minnow/compress';
import { exportModule, writeModel } from '@minnow/onnx';
import { serializeNpy } from '@minnow/formats';
import type { Output } from '@minnow/cli';

/**
 * What the compress and distill tests share: a 784-64-10 MLP trained with minnow on 3,000 MNIST
 * digits (about 90% test accuracy) and exported to ONNX, folders of real MNIST digits as .npy
 * (with and without labels), and an Output that collects what a command prints.
 */

export const HELLO_DEEPA = 'node_modules/openwakeword-js/models/hello_deepa.onnx';

export function collector() {
  const out = { lines: [] as string[], errors: [] as string[], documents: [] as unknown[] };
  const output: Output = { line: (t) => out.lines.push(t), json: (v) => out.documents.push(v), error: (t) => out.errors.push(t) };
  return { out, output };
}

export const workdir = (name: string): string => mkdtempSync(join(tmpdir(), `minnow-${name}-`));

/** The files in a folder (to check that a failed command left nothing, temporary files included). */
export const filesIn = (dir: string): string[] => readdirSync(dir).sort();

export interface MnistMlp {
  readonly dir: string;
  /** The trained model's .onnx file. */
  readonly path: string;
  /** Its accuracy on the 2,000 held-out digits of loadMnistSplit({ seed: 0 }). */
  readonly accuracy: number;
  readonly test: Dataset;
}

/** Trains the MLP on backend-wasm (a few seconds) and writes it as mlp.onnx in a new folder. */
export async function trainedMnistMlp(): Promise<MnistMlp> {
  await init(wasmBackend);
  const dir = workdir('mnist-mlp');
  const { train: all, test } = await loadMnistSplit({ seed: 0 });
  const examples = subset(all, permutation(all.length, new Random(5)).subarray(0, 3000));
  const model = new Sequential(new Linear(784, 64, { seed: 1, backend: 'wasm' }), new ReLU(), new Linear(64, 10, { seed: 2, backend: 'wasm' }));
  train({ model, data: new DataLoader(examples, { batchSize: 64, shuffle: true, seed: 1, backend: 'wasm' }), optimizer: (p) => new Adam(p, { lr: 3e-3 }), epochs: 3 });
  const { accuracy } = evaluate(model, new DataLoader(test, { batchSize: 500, backend: 'wasm' }));
  const path = join(dir, 'mlp.onnx');
  writeFileSync(path, writeModel(exportModule(model, { inputShape: [1, 784] })).model);
  model.dispose();
  return { dir, path, accuracy, test };
}

/**
 * `count` held-out digits (a seeded choice) as a folder of .npy batches of `batch` examples ([batch, 784] float32),
 * with labels.npy (int64, all batches in order) unless `labels` is false.
 */
export function mnistNpyFolder(test: Dataset, dir: string, options: { count: number; batch: number; labels: boolean }): string {
  const folder = join(dir, options.labels ? 'digits' : 'digits-unlabelled');
  mkdirSync(folder);
  const labels = new BigInt64Array(options.count);
  // The split keeps the digits in class order: take a seeded mix of them.
  const order = permutation(test.length, new Random(7));
  for (let start = 0; start < options.count; start += options.batch) {
    const rows = Math.min(options.batch, options.count - start);
    const data = new Float32Array(rows * 784);
    for (let r = 0; r < rows; r++) {
      const example = test.get(order[start + r]);
      data.set(example.features, r * 784);
      labels[start + r] = BigInt(example.label);
    }
    writeFileSync(join(folder, `batch${start / options.batch}.npy`), serializeNpy({ dtype: 'float32', shape: [rows, 784], data }));
  }
  if (options.labels) writeFileSync(join(folder, 'labels.npy'), serializeNpy({ dtype: 'int64', shape: [options.count], data: labels }));
  return folder;
}
