import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { MinnowError } from '@minnow/core';
import { tfjsLayersToOnnx, type TfjsModelJson } from '@minnow/formats';
import { expectMinnowError, runs } from '../helpers/reference.js';
import { saveToMemory, seedWeights, tfjsReady, type TfjsArtifacts } from './tfjs-helpers.js';

// What a bad or unsupported model.json gets: a MinnowError that names the layer, weight or field.
const L = tf.layers;
let small: TfjsArtifacts;
/** A model with most layer kinds, for the random edits. */
let rich: TfjsArtifacts;

interface LayerJson { class_name: string; name: string; config: Record<string, unknown>; inbound_nodes: unknown[] }

function edited(edit: (layers: LayerJson[], json: TfjsModelJson) => void): TfjsModelJson {
  const json = structuredClone(small.modelJson);
  edit((json.modelTopology as { config: { layers: LayerJson[] } }).config.layers, json);
  return json;
}

const layer = (layers: LayerJson[], name: string): LayerJson => layers.find((l) => l.name === name)!;

beforeAll(async () => {
  await tfjsReady();
  const input = tf.input({ shape: [5, 5, 2], name: 'img' });
  const conv = L.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv' }).apply(input) as tf.SymbolicTensor;
  const pooled = L.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(conv) as tf.SymbolicTensor;
  const out = L.dense({ units: 2, name: 'dense' }).apply(L.flatten({ name: 'flat' }).apply(pooled) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  seedWeights(model, 41);
  small = await saveToMemory(model);
  model.dispose();
  const x = tf.input({ shape: [8, 8, 2], name: 'x' });
  const dw = L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', name: 'dw' }).apply(x) as tf.SymbolicTensor;
  const sep = L.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu6', name: 'sep' }).apply(dw) as tf.SymbolicTensor;
  const bn = L.batchNormalization({ name: 'bn' }).apply(sep) as tf.SymbolicTensor;
  const cat = L.concatenate({ name: 'cat' }).apply([bn, dw]) as tf.SymbolicTensor;
  const up = L.upSampling2d({ interpolation: 'bilinear', name: 'up' }).apply(L.zeroPadding2d({ name: 'zp' }).apply(cat) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const avg = L.averagePooling2d({ poolSize: 2, name: 'avg' }).apply(up) as tf.SymbolicTensor;
  const sum = L.add({ name: 'sum' }).apply([L.globalAveragePooling2d({ name: 'gap' }).apply(avg), L.globalMaxPooling2d({ name: 'gmp' }).apply(avg)] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
  const reshaped = L.reshape({ targetShape: [2, 4], name: 'rs' }).apply(sum) as tf.SymbolicTensor;
  const dense = L.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(L.dropout({ rate: 0.1, name: 'drop' }).apply(reshaped) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const richModel = tf.model({ inputs: x, outputs: [dense, L.activation({ activation: 'tanh', name: 'act' }).apply(cat) as tf.SymbolicTensor] });
  seedWeights(richModel, 42);
  rich = await saveToMemory(richModel);
  richModel.dispose();
});

describe('tfjs conversion errors', () => {
  it('converts the unedited model (the baseline the edits break)', () => {
    expect(tfjsLayersToOnnx(small.modelJson, small.weightData).graph!.node.length).toBeGreaterThan(0);
  });

  it('an unsupported layer: UNSUPPORTED_OP naming its class and name', async () => {
    const model = tf.sequential({ layers: [L.conv2dTranspose({ inputShape: [4, 4, 1], filters: 2, kernelSize: 2, name: 'deconv' })] });
    const artifacts = await saveToMemory(model);
    model.dispose();
    expectMinnowError(() => tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData), 'UNSUPPORTED_OP', "layer 'deconv'", 'Conv2DTranspose', 'Conv2D');
  });

  it('an unsupported activation, padding, data_format, interpolation or ReLU form', () => {
    const cases: [(layers: LayerJson[]) => void, string][] = [
      [(ls) => { layer(ls, 'conv').config.activation = 'weird'; }, "activation 'weird'"],
      [(ls) => { layer(ls, 'conv').config.padding = 'causal'; }, "padding 'causal'"],
      [(ls) => { layer(ls, 'pool').config.data_format = 'channels_first'; }, "data_format 'channels_first'"],
      [(ls) => { ls.push({ class_name: 'UpSampling2D', name: 'up', config: { interpolation: 'bicubic' }, inbound_nodes: [[['conv', 0, 0, {}]]] }); }, "interpolation 'bicubic'"],
      [(ls) => { ls.push({ class_name: 'ReLU', name: 'r', config: { threshold: 0.5 }, inbound_nodes: [[['conv', 0, 0, {}]]] }); }, 'threshold'],
    ];
    for (const [edit, words] of cases) {
      const json = edited((ls, j) => {
        edit(ls);
        const added = ls[ls.length - 1];
        if (added.name === 'up' || added.name === 'r') (j.modelTopology as { config: { output_layers: unknown[] } }).config.output_layers.push([added.name, 0, 0]);
      });
      expectMinnowError(() => tfjsLayersToOnnx(json, small.weightData), 'UNSUPPORTED_OP', words);
    }
  });

  it('a weight the manifest lacks, or of the wrong shape: INVALID_MODEL naming it', () => {
    const missing = structuredClone(small.modelJson);
    missing.weightsManifest[0].weights = missing.weightsManifest[0].weights.map((w) => (w.name === 'conv/bias' ? { ...w, name: 'conv/other' } : w));
    expectMinnowError(() => tfjsLayersToOnnx(missing, small.weightData), 'INVALID_MODEL', "layer 'conv' (Conv2D)", "weight 'conv/bias' is not in the weights manifest");
    const reshaped = structuredClone(small.modelJson);
    reshaped.weightsManifest[0].weights = reshaped.weightsManifest[0].weights.map((w) => (w.name === 'conv/kernel' ? { ...w, shape: [3, 3, 3, 2] } : w));
    expectMinnowError(() => tfjsLayersToOnnx(reshaped, small.weightData), 'INVALID_MODEL', "weight 'conv/kernel' is [3,3,3,2], [3,3,2,3] expected");
  });

  it('weight data shorter or longer than the manifest says: CORRUPT_FILE', () => {
    expectMinnowError(() => tfjsLayersToOnnx(small.modelJson, small.weightData.subarray(0, small.weightData.length - 4)), 'CORRUPT_FILE', 'needs bytes', `holds ${small.weightData.length - 4}`);
    const longer = new Uint8Array(small.weightData.length + 3);
    longer.set(small.weightData);
    expectMinnowError(() => tfjsLayersToOnnx(small.modelJson, longer), 'CORRUPT_FILE', `accounts for ${small.weightData.length} bytes`);
  });

  it('a string weight or a non-float input: UNSUPPORTED_DTYPE', () => {
    const strings = structuredClone(small.modelJson);
    strings.weightsManifest[0].weights[0].dtype = 'string';
    expectMinnowError(() => tfjsLayersToOnnx(strings, small.weightData), 'UNSUPPORTED_DTYPE', 'stored as string');
    expectMinnowError(() => tfjsLayersToOnnx(edited((ls) => { layer(ls, 'img').config.dtype = 'int32'; }), small.weightData), 'UNSUPPORTED_DTYPE', "input layer 'img'");
  });

  it('text that is not JSON, a graph model, a model class it does not know', () => {
    expectMinnowError(() => tfjsLayersToOnnx('{"format": ', small.weightData), 'CORRUPT_FILE', 'not valid JSON');
    expectMinnowError(() => tfjsLayersToOnnx(42, small.weightData), 'CORRUPT_FILE', 'not a JSON object');
    expectMinnowError(() => tfjsLayersToOnnx({ ...small.modelJson, format: 'graph-model' }, small.weightData), 'UNSUPPORTED_OP', "'graph-model'");
    expectMinnowError(() => tfjsLayersToOnnx({ ...small.modelJson, modelTopology: { class_name: 'Custom', config: {} } }, small.weightData), 'UNSUPPORTED_OP', '"Custom"');
    expectMinnowError(() => tfjsLayersToOnnx({ ...small.modelJson, modelTopology: undefined }, small.weightData), 'INVALID_MODEL', 'modelTopology');
  });

  it('graphs that cannot be: a cycle, an unknown layer, a duplicate name, a bad reference', () => {
    const cases: [(layers: LayerJson[]) => void, string][] = [
      [(ls) => { layer(ls, 'conv').inbound_nodes = [[['dense', 0, 0, {}]]]; }, 'cycle'],
      [(ls) => { layer(ls, 'pool').inbound_nodes = [[['nowhere', 0, 0, {}]]]; }, "names layer 'nowhere'"],
      [(ls) => { layer(ls, 'pool').name = 'conv'; }, "two layers are named 'conv'"],
      [(ls) => { layer(ls, 'pool').inbound_nodes = [[['conv', 3, 0, {}]]]; }, "reads call 3 of layer 'conv'"],
      [(ls) => { layer(ls, 'pool').inbound_nodes = [[['conv', 0, 1, {}]]]; }, 'reads output 1'],
      [(ls) => { layer(ls, 'pool').inbound_nodes = [[['conv']]]; }, 'is not a [layer, node, tensor] reference'],
      [(ls) => { layer(ls, 'conv').config.kernel_size = [3, 0]; }, 'kernel_size'],
    ];
    for (const [edit, words] of cases) expectMinnowError(() => tfjsLayersToOnnx(edited(edit), small.weightData), 'INVALID_MODEL', words);
  });

  it('a randomly edited model.json gives a model or a MinnowError, never another error', () => {
    /** Every path to a value in the JSON tree. */
    const paths: [TfjsArtifacts, (string | number)[]][] = [];
    const walk = (artifacts: TfjsArtifacts, value: unknown, path: (string | number)[]): void => {
      paths.push([artifacts, path]);
      if (Array.isArray(value)) value.forEach((v, i) => walk(artifacts, v, [...path, i]));
      else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(artifacts, v, [...path, k]);
    };
    expect(tfjsLayersToOnnx(rich.modelJson, rich.weightData).graph!.output.length).toBe(2);
    walk(small, small.modelJson, []);
    walk(rich, rich.modelJson, []);
    const replacement = fc.oneof(fc.constant(undefined), fc.constant(null), fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 0, 1e9, '', 'same', [], {}, [null, 3], 'linear'));
    fc.assert(fc.property(fc.nat(), replacement, (pick, value) => {
      const [artifacts, path] = paths[pick % paths.length];
      const json = structuredClone(artifacts.modelJson) as unknown as Record<string | number, unknown>;
      if (path.length === 0) return;
      let parent = json;
      for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
      if (value === undefined) delete parent[path[path.length - 1]];
      else parent[path[path.length - 1]] = value;
      try {
        tfjsLayersToOnnx(json, artifacts.weightData);
      } catch (error) {
        if (!(error instanceof MinnowError)) throw new Error(`${JSON.stringify(path)} = ${JSON.stringify(value)}: ${String(error)}`);
      }
    }), runs(0x7f15, 600));
  });
});
