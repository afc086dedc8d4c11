import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
