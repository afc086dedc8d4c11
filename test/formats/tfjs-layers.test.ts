import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { convertAndCompare, opCounts, tfjsReady } from './tfjs-helpers.js';

// Small TF.js Layers models built with tfjs itself, one family of layers at a time, weights seeded,
// saved to memory in model.json form, converted, and run in onnxruntime against tfjs.
const TOLERANCE = 1e-4;
const L = tf.layers;

beforeAll(async () => {
  await tfjsReady();
});

describe('tfjs layers to ONNX, against tfjs', () => {
  it('a Sequential conv stack: Conv2D (same, strided valid), DepthwiseConv2D, SeparableConv2D, BatchNormalization, pooling, Flatten, Dense', async () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [17, 15, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
        L.conv2d({ filters: 8, kernelSize: [3, 2], strides: 2, padding: 'valid', name: 'c2' }),
        L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6', name: 'dw' }),
        // depthMultiplier 1: tfjs leaves the multiplier out of SeparableConv2D's saved config and could not reload another.
        L.separableConv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', name: 'sep' }),
        L.batchNormalization({ epsilon: 0.01, name: 'bn' }),
        L.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'maxpool' }),
        L.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid', name: 'avgpool' }),
        L.flatten({ name: 'flat' }),
        L.dropout({ rate: 0.5, name: 'drop' }),
        L.dense({ units: 4, activation: 'softmax', name: 'out' }),
      ],
    });
    const { onnx, maxError } = await convertAndCompare(model, [[[2, 17, 15, 3]]], 11);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    // Flatten reads channels-last: one Transpose in, one back before Flatten.
    expect(opCounts(onnx)).toMatchObject({ Transpose: 2, Conv: 5, BatchNormalization: 1, MaxPool: 1, AveragePool: 1, Flatten: 1, Gemm: 1, Softmax: 1 });
  });

  it("strided and dilated 'same' windows on unknown spatial sizes (auto_pad), at even and odd sizes", async () => {
    const input = tf.input({ shape: [null, null, 3], name: 'image' });
    let x = L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'strided' }).apply(input) as tf.SymbolicTensor;
    x = L.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'elu', name: 'dilated' }).apply(x) as tf.SymbolicTensor;
    x = L.depthwiseConv2d({ kernelSize: 5, strides: 2, padding: 'same', name: 'dw_strided' }).apply(x) as tf.SymbolicTensor;
    const pooled = L.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'maxpool' }).apply(x) as tf.SymbolicTensor;
    const averaged = L.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'avgpool' }).apply(x) as tf.SymbolicTensor;
    const a = L.globalAveragePooling2d({ name: 'gap' }).apply(pooled) as tf.SymbolicTensor;
    const b = L.globalMaxPooling2d({ name: 'gmp' }).apply(averaged) as tf.SymbolicTensor;
    const out = L.dense({ units: 3, name: 'head' }).apply(L.concatenate({ name: 'features' }).apply([a, b]) as tf.SymbolicTensor) as tf.SymbolicTensor;
    // Stride beyond the kernel: ONNX's rule gives a negative total pad at even sizes, TensorFlow's clamps it to 0.
    const skipping = L.conv2d({ filters: 2, kernelSize: 1, strides: 2, padding: 'same', name: 'skipping' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [out, averaged, skipping] });
    const shapes = [[[1, 16, 16, 3]], [[2, 13, 11, 3]], [[1, 7, 9, 3]]];
    const { onnx, maxError } = await convertAndCompare(model, shapes, 12);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    const autoPadded = onnx.graph!.node.filter((n) => n.attribute.some((a) => a.name === 'auto_pad'));
    expect(autoPadded.map((n) => n.opType).sort()).toEqual(['AveragePool', 'Conv', 'Conv', 'Conv', 'MaxPool']);
  });

  it("strided 'same' windows on known sizes get TensorFlow's explicit pads, the odd pixel at the end", async () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [10, 9, 2], filters: 3, kernelSize: 4, strides: 3, padding: 'same', name: 'c' }),
        L.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'p' }),
      ],
    });
    const { onnx, maxError } = await convertAndCompare(model, [[[2, 10, 9, 2]]], 13);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    const pads = onnx.graph!.node.find((n) => n.opType === 'Conv')!.attribute.find((a) => a.name === 'pads')!.ints.map(Number);
    // [top, left, bottom, right]. Height 10, k 4, s 3: 4 outputs, total (4 - 1) * 3 + 4 - 10 = 3 -> 1 before, 2 after;
    // width 9: 3 outputs, total (3 - 1) * 3 + 4 - 9 = 1 -> 0 before, 1 after.
    expect(pads).toEqual([1, 0, 2, 1]);
  });

  it('merge layers (Subtract, which tfjs lacks, is in tfjs-json.test.ts), Concatenate, UpSampling2D (nearest, bilinear), ZeroPadding2D, global pooling, two outputs', async () => {
    const input = tf.input({ shape: [6, 5, 4], name: 'x' });
    const a = L.conv2d({ filters: 4, kernelSize: 1, name: 'a' }).apply(input) as tf.SymbolicTensor;
    const b = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'b' }).apply(input) as tf.SymbolicTensor;
    const merged = [
      L.add({ name: 'add' }).apply([a, b, input]),
      L.multiply({ name: 'mul' }).apply([a, b]),
      L.average({ name: 'avg' }).apply([a, b, input]),
      L.maximum({ name: 'max' }).apply([a, b]),
      L.minimum({ name: 'min' }).apply([b, input]),
    ] as tf.SymbolicTensor[];
    const cat = L.concatenate({ axis: -1, name: 'cat' }).apply(merged) as tf.SymbolicTensor;
    const catH = L.concatenate({ axis: 1, name: 'cat_h' }).apply([a, input]) as tf.SymbolicTensor;
    const near = L.upSampling2d({ size: [2, 3], name: 'up_nearest' }).apply(cat) as tf.SymbolicTensor;
    const bilinear = L.upSampling2d({ size: [3, 2], interpolation: 'bilinear', name: 'up_bilinear' }).apply(catH) as tf.SymbolicTensor;
    const padded = L.zeroPadding2d({ padding: [[1, 2], [0, 3]], name: 'pad' }).apply(bilinear) as tf.SymbolicTensor;
    const pooled = L.globalAveragePooling2d({ name: 'gap' }).apply(padded) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [near, pooled, catH] });
    const { maxError } = await convertAndCompare(model, [[[2, 6, 5, 4]]], 14);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
  });

  it('Dense on rank-3 input, Reshape (with -1) of a conv output in TF order, Flatten, two inputs', async () => {
    const seq = tf.input({ shape: [4, 6], name: 'seq' });
    const image = tf.input({ shape: [4, 4, 3], name: 'image' });
    const d = L.dense({ units: 5, activation: 'sigmoid', name: 'per_step' }).apply(seq) as tf.SymbolicTensor;
    const r = L.reshape({ targetShape: [10, -1], name: 'regroup' }).apply(d) as tf.SymbolicTensor;
    const conv = L.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'conv' }).apply(image) as tf.SymbolicTensor;
    const rows = L.reshape({ targetShape: [16, 8], name: 'rows' }).apply(conv) as tf.SymbolicTensor;
    const perRow = L.dense({ units: 2, useBias: false, name: 'per_row' }).apply(rows) as tf.SymbolicTensor;
    const flat = L.concatenate({ name: 'joined' }).apply([L.flatten({ name: 'f1' }).apply(d), L.flatten({ name: 'f2' }).apply(perRow)] as tf.SymbolicTensor[]) as tf.SymbolicTensor;
    const out = L.dense({ units: 3, activation: 'relu', name: 'out' }).apply(flat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [seq, image], outputs: [out, r] });
    const { onnx, maxError } = await convertAndCompare(model, [[[3, 4, 6], [3, 4, 4, 3]]], 15);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    expect(onnx.graph!.input.map((v) => v.name)).toEqual(['seq', 'image']);
    expect(opCounts(onnx)).toMatchObject({ MatMul: 2, Reshape: 2, Gemm: 1 });
  });

  // gelu_new, which tfjs saves but cannot reload, is checked against its formula in tfjs-json.test.ts.
  it('every activation, as Activation layers and layer configs; ReLU(max_value), LeakyReLU, ELU, Softmax layers', async () => {
    const input = tf.input({ shape: [5, 5, 4], name: 'x' });
    const base = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'base' }).apply(input) as tf.SymbolicTensor;
    const names = ['relu', 'relu6', 'sigmoid', 'tanh', 'softmax', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'mish', 'gelu', 'hardSigmoid', 'linear'] as const;
    const branches = names.map((activation) => L.activation({ activation, name: `act_${activation}` }).apply(base) as tf.SymbolicTensor);
    branches.push(L.conv2d({ filters: 2, kernelSize: 1, activation: 'softplus', name: 'conv_softplus' }).apply(input) as tf.SymbolicTensor);
    branches.push(L.reLU({ maxValue: 0.3, name: 'relu_capped' }).apply(base) as tf.SymbolicTensor);
    branches.push(L.reLU({ name: 'relu_layer' }).apply(base) as tf.SymbolicTensor);
    branches.push(L.leakyReLU({ alpha: 0.1, name: 'leaky' }).apply(base) as tf.SymbolicTensor);
    // tfjs's ELU layer only takes alpha 1 (other alphas: tfjs-json.test.ts).
    branches.push(L.elu({ name: 'elu_layer' }).apply(base) as tf.SymbolicTensor);
    // tfjs softmaxes only the last axis (other axes: tfjs-json.test.ts).
    branches.push(L.softmax({ axis: -1, name: 'softmax_layer' }).apply(base) as tf.SymbolicTensor);
    const cat = L.concatenate({ name: 'all' }).apply(branches) as tf.SymbolicTensor;
    const head = L.dense({ units: 3, activation: 'softmax', name: 'head' }).apply(L.flatten({ name: 'flat' }).apply(base) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [cat, head] });
    const { maxError } = await convertAndCompare(model, [[[2, 5, 5, 4]]], 16);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
  });

  it('BatchNormalization on rank 2 and rank 3 inputs, without center or scale', async () => {
    const model = tf.sequential({
      layers: [
        L.dense({ inputShape: [3, 4], units: 6, name: 'd1' }),
        L.batchNormalization({ center: false, epsilon: 0.1, name: 'bn3' }),
        L.flatten({ name: 'f' }),
        L.dense({ units: 5, name: 'd2' }),
        L.batchNormalization({ scale: false, name: 'bn2' }),
      ],
    });
    const { onnx, maxError } = await convertAndCompare(model, [[[4, 3, 4]]], 17);
    expect(maxError).toBeLessThanOrEqual(TOLERANCE);
    expect(opCounts(onnx)).toMatchObject({ BatchNormalization: 1, Mul: 1 });
  });
});
