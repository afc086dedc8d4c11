import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { encodeFloat16 } from '@minnow/core';
import { tfjsLayersToOnnx, type TfjsModelJson, type TfjsWeightSpec } from '@minnow/formats';
import { rng } from '../helpers/reference.js';
import {
  compareWithTfjs, maxAbsDifference, runOnnx, saveToMemory, seedWeights, seededInput, tfjsReady, type TfjsArtifacts,
} from './tfjs-helpers.js';

// model.json forms tfjs itself does not write (Keras 3 nodes, old Sequential lists, quantised weights,
// shared layers), and layers tfjs cannot run (checked against their formulas instead).
const L = tf.layers;
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await tfjsReady();
});

/** A small functional model: conv, concat, add, upsampling, dense; weights seeded. */
async function smallModel(seed: number): Promise<TfjsArtifacts> {
  const input = tf.input({ shape: [6, 6, 3], name: 'img' });
  const a = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'a' }).apply(input) as tf.SymbolicTensor;
  const b = L.conv2d({ filters: 4, kernelSize: 1, name: 'b' }).apply(a) as tf.SymbolicTensor;
  const sum = L.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const cat = L.concatenate({ name: 'cat' }).apply([sum, input]) as tf.SymbolicTensor;
  const up = L.upSampling2d({ name: 'up' }).apply(cat) as tf.SymbolicTensor;
  const out = L.dense({ units: 2, name: 'out' }).apply(up) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  seedWeights(model, seed);
  const artifacts = await saveToMemory(model);
  model.dispose();
  return artifacts;
}

/** Rewrites a Keras 2 functional config in Keras 3's form: {args, kwargs} nodes, batch_shape, a bare output reference. */
function toKeras3(json: TfjsModelJson): TfjsModelJson {
  const copy = structuredClone(json) as TfjsModelJson & { modelTopology: { config: { layers: Record<string, unknown>[]; output_layers: unknown } } };
  const { config } = copy.modelTopology;
  for (const layer of config.layers) {
    const layerConfig = layer.config as Record<string, unknown>;
    if (layerConfig.batch_input_shape) {
      layerConfig.batch_shape = layerConfig.batch_input_shape;
      delete layerConfig.batch_input_shape;
    }
    const nodes = layer.inbound_nodes as [string, number, number, unknown][][];
    layer.inbound_nodes = nodes.map((refs) => {
      const tensors = refs.map(([name, node, tensor]) => ({ class_name: '__keras_tensor__', config: { shape: [null], dtype: 'float32', keras_history: [name, node, tensor] } }));
      return { args: tensors.length === 1 ? tensors : [tensors], kwargs: {} };
    });
  }
  config.output_layers = (config.output_layers as unknown[])[0];
  return copy;
}

/** model.json for hand-written layers over one input, with float32 weights given by name. */
function handModel(inputShape: (number | null)[], layers: { class_name: string; name: string; config: Record<string, unknown>; inputs: string[] }[], weights: Record<string, { shape: number[]; values: number[] }> = {}): TfjsArtifacts {
  const specs: TfjsWeightSpec[] = Object.entries(weights).map(([name, w]) => ({ name, shape: w.shape, dtype: 'float32' }));
  const weightData = new Uint8Array(Float32Array.from(Object.values(weights).flatMap((w) => w.values)).buffer);
  const modelJson: TfjsModelJson = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Functional',
      config: {
        name: 'hand',
        layers: [
          { class_name: 'InputLayer', name: 'x', config: { name: 'x', batch_input_shape: inputShape, dtype: 'float32' }, inbound_nodes: [] },
          ...layers.map((l) => ({ class_name: l.class_name, name: l.name, config: { name: l.name, ...l.config }, inbound_nodes: [l.inputs.map((i) => [i, 0, 0, {}])] })),
        ],
        input_layers: [['x', 0, 0]],
        output_layers: layers.filter((l) => !layers.some((o) => o.inputs.includes(l.name))).map((l) => [l.name, 0, 0]),
      },
    },
    weightsManifest: [{ paths: ['w.bin'], weights: specs }],
  };
  return { modelJson, weightData };
}

describe('tfjs model.json forms', () => {
  it('Keras 3 nodes ({args, kwargs}, batch_shape, a bare output reference) convert as Keras 2 ones do', async () => {
    const artifacts = await smallModel(21);
    const keras2 = tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData);
    const keras3 = tfjsLayersToOnnx(toKeras3(artifacts.modelJson), artifacts.weightData);
    const input = seededInput([2, 6, 6, 3], 5);
    const [a] = await runOnnx(keras2, [input], [[2, 6, 6, 3]]);
    const [b] = await runOnnx(keras3, [input], [[2, 6, 6, 3]]);
    expect(b.data).toEqual(a.data);
    const { maxError } = await compareWithTfjs(artifacts, [[[2, 6, 6, 3]]], 22);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
  });

  it('an old Sequential config (a bare list of layers) and one that starts with an InputLayer', async () => {
    const model = tf.sequential({ layers: [L.dense({ inputShape: [5], units: 3, activation: 'tanh', name: 'd1' }), L.dense({ units: 2, name: 'd2' })] });
    seedWeights(model, 23);
    const artifacts = await saveToMemory(model);
    const topology = artifacts.modelJson.modelTopology as { config: { layers: Record<string, unknown>[] } };
    const bare = { ...artifacts.modelJson, modelTopology: { class_name: 'Sequential', config: topology.config.layers } };
    const withInput = structuredClone(artifacts.modelJson) as typeof artifacts.modelJson & { modelTopology: typeof topology };
    const first = withInput.modelTopology.config.layers[0].config as Record<string, unknown>;
    withInput.modelTopology.config.layers.unshift({ class_name: 'InputLayer', config: { name: 'features', batch_input_shape: first.batch_input_shape, dtype: 'float32' } });
    delete first.batch_input_shape;
    const input = seededInput([3, 5], 6);
    const [expected] = await runOnnx(tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData), [input], [[3, 5]]);
    for (const json of [bare, withInput]) {
      const onnx = tfjsLayersToOnnx(json, artifacts.weightData);
      expect(onnx.graph!.input[0].name).toBe(json === withInput ? 'features' : 'd1_input');
      const [actual] = await runOnnx(onnx, [input], [[3, 5]]);
      expect(actual.data).toEqual(expected.data);
    }
    model.dispose();
  });

  it('a shared layer called twice (inbound node 1)', async () => {
    const left = tf.input({ shape: [4], name: 'left' });
    const right = tf.input({ shape: [4], name: 'right' });
    const shared = L.dense({ units: 3, activation: 'relu', name: 'shared' });
    const out = L.concatenate({ name: 'both' }).apply([shared.apply(left), shared.apply(right)] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [left, right], outputs: [out, shared.apply(left) as tf.SymbolicTensor] });
    seedWeights(model, 24);
    const artifacts = await saveToMemory(model);
    model.dispose();
    const { onnx, maxError } = await compareWithTfjs(artifacts, [[[2, 4], [2, 4]]], 25);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    expect(onnx.graph!.output.map((v) => v.name)).toEqual(['both', 'shared_2']);
  });

  it('quantised weights (uint8, uint16, float16) are restored as tfjs restores them', async () => {
    const artifacts = await smallModel(26);
    const quantizations = ['uint8', 'uint16', 'float16'] as const;
    const specs = artifacts.modelJson.weightsManifest[0].weights;
    const floats = new Float32Array(artifacts.weightData.slice().buffer);
    const parts: Uint8Array[] = [];
    let at = 0;
    const quantized = specs.map((spec, i) => {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const values = floats.subarray(at, at + n);
      at += n;
      const dtype = quantizations[i % 3];
      if (dtype === 'float16') {
        parts.push(new Uint8Array(encodeFloat16(values).buffer));
        return { ...spec, quantization: { dtype } };
      }
      const levels = dtype === 'uint8' ? 255 : 65535;
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / levels || 1;
      const q = Array.from(values, (v) => Math.round((v - min) / scale));
      parts.push(new Uint8Array((dtype === 'uint8' ? Uint8Array.from(q) : Uint16Array.from(q)).buffer));
      return { ...spec, quantization: { dtype, scale, min } };
    });
    const weightData = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((offset, p) => (weightData.set(p, offset), offset + p.length), 0);
    const modelJson = { ...artifacts.modelJson, weightsManifest: [{ paths: ['w.bin'], weights: quantized }] };
    const { maxError } = await compareWithTfjs({ modelJson, weightData }, [[[1, 6, 6, 3]]], 27);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
  });

  it("UpSampling2D bilinear: TF.js's asymmetric sampling by default, Keras's half-pixel on request", () => {
    const json = handModel([null, 4, 4, 1], [{ class_name: 'UpSampling2D', name: 'up', config: { size: [2, 2], interpolation: 'bilinear' }, inputs: ['x'] }]);
    const mode = (options: Parameters<typeof tfjsLayersToOnnx>[2]): string => {
      const resize = tfjsLayersToOnnx(json.modelJson, json.weightData, options).graph!.node.find((n) => n.opType === 'Resize')!;
      return new TextDecoder().decode(resize.attribute.find((a) => a.name === 'coordinate_transformation_mode')!.s);
    };
    expect(mode({})).toBe('asymmetric');
    expect(mode({ resizeSemantics: 'keras' })).toBe('half_pixel');
  });
});

describe('layers tfjs cannot run, against their formulas', () => {
  const rows = 3;
  const width = 6;
  const input = Float32Array.from({ length: rows * width }, (_, i) => -3 + (6 * i) / (rows * width - 1));
  const same = (f: (x: number) => number): Float32Array => input.map(f);

  it('gelu_new, exponential, log_softmax, ELU(alpha), LeakyReLU(negative_slope), ReLU(max_value), Subtract, Softmax on axis 1', async () => {
    const erfless = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const layers = [
      { class_name: 'Activation', name: 'gelu_new', config: { activation: 'gelu_new' }, inputs: ['x'] },
      { class_name: 'Activation', name: 'exp', config: { activation: 'exponential' }, inputs: ['x'] },
      { class_name: 'ELU', name: 'elu', config: { alpha: 0.7 }, inputs: ['x'] },
      { class_name: 'LeakyReLU', name: 'leaky', config: { negative_slope: 0.25 }, inputs: ['x'] },
      { class_name: 'ReLU', name: 'relu6', config: { max_value: 1.5 }, inputs: ['x'] },
      { class_name: 'Subtract', name: 'diff', config: {}, inputs: ['exp', 'x'] },
      { class_name: 'Reshape', name: 'grid', config: { target_shape: [2, 3] }, inputs: ['x'] },
      { class_name: 'Softmax', name: 'softmax_rows', config: { axis: 1 }, inputs: ['grid'] },
      { class_name: 'Activation', name: 'log_softmax', config: { activation: 'log_softmax' }, inputs: ['x'] },
    ];
    const { modelJson, weightData } = handModel([null, width], layers);
    const outputs = await runOnnx(tfjsLayersToOnnx(modelJson, weightData), [input], [[rows, width]]);
    const byName = Object.fromEntries(['gelu_new', 'elu', 'leaky', 'relu6', 'diff', 'softmax_rows', 'log_softmax'].map((n, i) => [n, outputs[i].data]));
    expect(maxAbsDifference(byName.gelu_new, same(erfless))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDifference(byName.elu, same((x) => (x > 0 ? x : 0.7 * (Math.exp(x) - 1))))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDifference(byName.leaky, same((x) => (x > 0 ? x : 0.25 * x)))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDifference(byName.relu6, same((x) => Math.min(Math.max(x, 0), 1.5)))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDifference(byName.diff, same((x) => Math.exp(x) - x))).toBeLessThanOrEqual(1e-5);
    // [rows, 2, 3] softmaxed over the 2: each pair (i, i + 3) of a row sums to 1.
    const expected = new Float32Array(input.length);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < 3; c++) {
        const [p, q] = [input[r * 6 + c], input[r * 6 + 3 + c]];
        const m = Math.max(p, q);
        const [ep, eq] = [Math.exp(p - m), Math.exp(q - m)];
        expected[r * 6 + c] = ep / (ep + eq);
        expected[r * 6 + 3 + c] = eq / (ep + eq);
      }
    }
    expect(maxAbsDifference(byName.softmax_rows, expected)).toBeLessThanOrEqual(1e-6);
    const logSoftmax = input.map((v, i) => {
      const row = input.subarray(Math.floor(i / width) * width, Math.floor(i / width) * width + width);
      return v - Math.log(row.reduce((sum, u) => sum + Math.exp(u), 0));
    });
    expect(maxAbsDifference(byName.log_softmax, logSoftmax)).toBeLessThanOrEqual(1e-5);
  });

  it('Conv2D with groups (tfjs has none), against a direct convolution', async () => {
    const rand = rng(32);
    const values = (n: number): number[] => Array.from({ length: n }, () => rand() - 0.5);
    const [size, channels, filters, groups] = [5, 4, 6, 2];
    const [perGroupIn, perGroupOut] = [channels / groups, filters / groups];
    const kernel = values(3 * 3 * perGroupIn * filters);
    const bias = values(filters);
    const { modelJson, weightData } = handModel([null, size, size, channels], [
      { class_name: 'Conv2D', name: 'g', config: { filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', groups, use_bias: true }, inputs: ['x'] },
    ], { 'g/kernel': { shape: [3, 3, perGroupIn, filters], values: kernel }, 'g/bias': { shape: [filters], values: bias } });
    const image = seededInput([1, size, size, channels], 33);
    const [out] = await runOnnx(tfjsLayersToOnnx(modelJson, weightData), [image], [[1, size, size, channels]]);
    const expected = new Float32Array(size * size * filters);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let o = 0; o < filters; o++) {
      let sum = bias[o];
      const group = Math.floor(o / perGroupOut);
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const [iy, ix] = [y + ky - 1, x + kx - 1];
        if (iy < 0 || ix < 0 || iy >= size || ix >= size) continue;
        for (let i = 0; i < perGroupIn; i++) sum += image[(iy * size + ix) * channels + group * perGroupIn + i] * kernel[((ky * 3 + kx) * perGroupIn + i) * filters + o];
      }
      expected[(y * size + x) * filters + o] = sum;
    }
    expect(maxAbsDifference(out.data, expected)).toBeLessThanOrEqual(1e-5);
  });

  it("Dense with hand-written weights named under a scope prefix (a nested model's)", async () => {
    const rand = rng(31);
    const values = (n: number): number[] => Array.from({ length: n }, () => rand() - 0.5);
    const kernel = values(width * 2);
    const { modelJson, weightData } = handModel([null, width], [
      { class_name: 'Dense', name: 'd', config: { units: 2, use_bias: false }, inputs: ['x'] },
    ], { 'outer_model/d/kernel': { shape: [width, 2], values: kernel } });
    const [out] = await runOnnx(tfjsLayersToOnnx(modelJson, weightData), [input], [[rows, width]]);
    const expected = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) for (let u = 0; u < 2; u++) for (let k = 0; k < width; k++) expected[r * 2 + u] += input[r * width + k] * kernel[k * 2 + u];
    expect(maxAbsDifference(out.data, expected)).toBeLessThanOrEqual(1e-6);
  });
});
