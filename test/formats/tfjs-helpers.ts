import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { writeModel, type ModelProto } from '@minnow/onnx';
import { tfjsLayersToOnnx, type TfjsModelJson, type TfjsToOnnxOptions, type TfjsWeightSpec } from '@minnow/formats';
import { rng } from '../helpers/reference.js';

// TensorFlow.js (pure-JS cpu backend, no network) as the reference the converted models must match,
// and onnxruntime-node to run them.

let ready: Promise<void> | undefined;

export async function tfjsReady(): Promise<typeof tf> {
  ready ??= (async () => {
    tf.env().set('PROD', true); // silences the 'install tfjs-node' banner
    if (!(await tf.setBackend('cpu'))) throw new Error('tfjs cpu backend failed to start');
    await tf.ready();
  })();
  await ready;
  return tf;
}

export interface TfjsArtifacts {
  modelJson: TfjsModelJson;
  weightData: Uint8Array;
}

function concat(parts: ArrayBuffer | ArrayBuffer[] | undefined): Uint8Array {
  const list = parts === undefined ? [] : Array.isArray(parts) ? parts : [parts];
  const out = new Uint8Array(list.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of list) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out;
}

/** Saves a tfjs model into memory in model.json form (one weight shard). */
export async function saveToMemory(model: tf.LayersModel): Promise<TfjsArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const weights = (saved!.weightSpecs ?? []) as TfjsWeightSpec[];
  return {
    modelJson: {
      format: 'layers-model', generatedBy: saved!.generatedBy, convertedBy: null,
      modelTopology: saved!.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights }],
    },
    weightData: concat(saved!.weightData as ArrayBuffer | ArrayBuffer[]),
  };
}

/** Loads model.json-form artifacts into tfjs, as tf.loadLayersModel would from files (quantised weights dequantised by tfjs). */
export async function loadFromMemory({ modelJson, weightData }: TfjsArtifacts): Promise<tf.LayersModel> {
  await tfjsReady();
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology as object, weightSpecs, weightData: weightData.slice().buffer }));
}

/** Sets every weight to seeded values in [-0.5, 0.5) (moving variances in [0.5, 1.5), as they must be positive). */
export function seedWeights(model: tf.LayersModel, seed: number): void {
  const rand = rng(seed);
  model.setWeights(model.weights.map((w) => {
    const positive = w.originalName.includes('moving_variance');
    const shape = w.shape as number[];
    return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (positive ? 0.5 : -0.5) + rand()), shape);
  }));
}

export function seededInput(shape: readonly number[], seed: number): Float32Array {
  const rand = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand());
}

export interface Output {
  data: Float32Array;
  dims: readonly number[];
}

/** Runs an ONNX model (bytes or ModelProto) in onnxruntime-node; outputs in graph order. */
export async function runOnnx(model: ModelProto | Uint8Array | string, inputs: readonly Float32Array[], shapes: readonly (readonly number[])[]): Promise<Output[]> {
  const source = typeof model === 'string' || model instanceof Uint8Array ? model : writeModel(model).model;
  const session = typeof source === 'string'
    ? await ort.InferenceSession.create(source, { logSeverityLevel: 3 })
    : await ort.InferenceSession.create(source, { logSeverityLevel: 3 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    session.inputNames.forEach((name, i) => { feeds[name] = new ort.Tensor('float32', inputs[i], shapes[i] as number[]); });
    const result = await session.run(feeds);
    return session.outputNames.map((name) => ({ data: result[name].data as Float32Array, dims: result[name].dims }));
  } finally {
    await session.release();
  }
}

/** Runs a tfjs model on the inputs; outputs in model order. */
export function runTfjs(model: tf.LayersModel, inputs: readonly Float32Array[], shapes: readonly (readonly number[])[]): Output[] {
  return tf.tidy(() => {
    const xs = inputs.map((data, i) => tf.tensor(data, shapes[i] as number[]));
    const ys = model.predict(xs.length === 1 ? xs[0] : xs);
    return (Array.isArray(ys) ? ys : [ys]).map((y) => ({ data: y.dataSync() as Float32Array, dims: y.shape }));
  });
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

export interface Comparison {
  onnx: ModelProto;
  /** The largest |tfjs - onnxruntime| over every output and input set. */
  maxError: number;
}

/**
 * Converts the artifacts, runs tfjs (the model as loaded from those same artifacts) and onnxruntime
 * on seeded inputs of each listed shape set, checks the output shapes agree, and returns the
 * largest difference.
 */
export async function compareWithTfjs(
  artifacts: TfjsArtifacts, shapeSets: readonly (readonly (readonly number[])[])[], seed: number, options: TfjsToOnnxOptions = {},
): Promise<Comparison> {
  const onnx = tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData, options);
  const reference = await loadFromMemory(artifacts);
  let maxError = 0;
  for (const [k, shapes] of shapeSets.entries()) {
    const inputs = shapes.map((shape, i) => seededInput(shape, seed + 17 * k + i));
    const expected = runTfjs(reference, inputs, shapes);
    const actual = await runOnnx(onnx, inputs, shapes);
    if (actual.length !== expected.length) throw new Error(`${actual.length} outputs, ${expected.length} expected`);
    for (const [i, e] of expected.entries()) {
      if (actual[i].dims.join() !== e.dims.join()) throw new Error(`output ${i}: onnx dims [${actual[i].dims}] vs tfjs [${e.dims}]`);
      maxError = Math.max(maxError, maxAbsDifference(actual[i].data, e.data));
    }
  }
  reference.dispose();
  return { onnx, maxError };
}

/** Converts a model built in tfjs (weights seeded) and compares it with tfjs. */
export async function convertAndCompare(
  model: tf.LayersModel, shapeSets: readonly (readonly (readonly number[])[])[], seed: number, options: TfjsToOnnxOptions = {},
): Promise<Comparison & { artifacts: TfjsArtifacts }> {
  seedWeights(model, seed);
  const artifacts = await saveToMemory(model);
  model.dispose();
  return { ...(await compareWithTfjs(artifacts, shapeSets, seed, options)), artifacts };
}

/** How many nodes of each op type the graph has. */
export function opCounts(model: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of model.graph!.node) counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
  return counts;
}
