import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { MinnowError, Random, fromArray, liveTensors, mul, noGrad, scope, type Tensor } from '@minnow/core';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, LeakyReLU, Linear, MaxPool2d, Module, ReLU, SGD,
  Sequential, Sigmoid, Tanh, crossEntropy, mse, type AnyModule,
} from '@minnow/nn';
import { diffModels, exportModule, readModel, tensorValues, writeModel, type ExportModuleOptions, type ModelProto } from '@minnow/onnx';

/**
 * nn modules exported with exportModule and run in onnxruntime-node must give what minnow's own
 * eval forward (backend js) gives, within 1e-4 (relative above magnitude 1), at batch 1 and 3
 * through the symbolic batch dim, with onnxruntime's graph optimisations off and on. Trainable
 * layers are first trained a few SGD steps in training mode, so weights and batch norm running
 * statistics are not their initial values.
 */

type Layer = Module<[Tensor], Tensor>;

const TOLERANCE = 1e-4;
/** The largest error seen per case, printed at the end for the record. */
const worstErrors = new Map<string, number>();

function randomValues(shape: readonly number[], rng: Random, scale = 1): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal());
}

/** A few training-mode steps of SGD with momentum towards random targets (train-mode forwards only when nothing is trainable). */
function train(model: Layer, inputShape: readonly number[], seed: number, steps = 4): void {
  const rng = new Random(seed);
  const parameters = model.parameters();
  const optimizer = parameters.length > 0 ? new SGD(parameters, { lr: 0.05, momentum: 0.9 }) : null;
  model.train();
  for (let step = 0; step < steps; step++) {
    scope(() => {
      const y = model.forward(fromArray(randomValues(inputShape, rng), inputShape));
      if (!optimizer) return;
      mse(y, fromArray(randomValues(y.shape, rng), y.shape)).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  optimizer?.dispose();
}

function minnowForward(model: Layer, data: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => scope(() => {
      const y = model.forward(fromArray(data, shape));
      return { data: Float32Array.from(y.dataSync()), shape: [...y.shape] };
    }));
  } finally {
    model.train(wasTraining);
  }
}

/** max |a - b| / max(1, |b|): absolute for small values, relative for large ones. */
function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  return Number.isNaN(worst) ? Infinity : worst;
}

/**
 * Exports `model`, checks the bytes read back to the same model, and compares onnxruntime's
 * outputs with minnow's at each batch size, with optimisations disabled and at 'all'.
 */
async function expectSameOutputs(label: string, model: Layer, inputShape: readonly number[], options: Partial<ExportModuleOptions> = {}, scale = 1): Promise<ModelProto> {
  const onnx = exportModule(model, { inputShape, ...options });
  const bytes = writeModel(onnx).model;
  expect(diffModels(readModel(bytes), onnx)).toBeUndefined();
  const symbolic = inputShape.length > 1 && options.batchDim !== null;
  const shapes = symbolic ? [1, 3].map((n) => [n, ...inputShape.slice(1)]) : [[...inputShape]];
  const rng = new Random(label.length * 7919 + 17);
  for (const level of ['disabled', 'all'] as const) {
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level, logSeverityLevel: 3 });
    try {
      for (const shape of shapes) {
        const data = randomValues(shape, rng, scale);
        const expected = minnowForward(model, data, shape);
        const result = await session.run({ [options.inputName ?? 'input']: new ort.Tensor('float32', data, shape) });
        const output = result[options.outputName ?? 'output'];
        expect(output.dims, `${label}: output shape at ${level}`).toEqual(expected.shape);
        const error = maxError(output.data as Float32Array, expected.data);
        worstErrors.set(label, Math.max(worstErrors.get(label) ?? 0, error));
        expect(error, `${label} with input ${JSON.stringify(shape)}, optimisations ${level}`).toBeLessThanOrEqual(TOLERANCE);
      }
    } finally {
      await session.release();
    }
  }
  return onnx;
}

const opTypes = (model: ModelProto): string[] => model.graph!.node.map((n) => n.opType!);

interface LayerCase {
  readonly name: string;
  readonly build: () => Layer;
  readonly inputShape: readonly number[];
  readonly trained?: boolean;
  readonly opset?: number;
  /** Scales the random input (activations are checked over a wider range). */
  readonly scale?: number;
}

const seed = (n: number): Random => new Random(n);

const LAYER_CASES: LayerCase[] = [
  { name: 'Linear on 2-D input (Gemm)', build: () => new Linear(5, 4, { seed: 1 }), inputShape: [2, 5], trained: true },
  { name: 'Linear on 3-D input (MatMul)', build: () => new Linear(5, 4, { seed: 2 }), inputShape: [2, 3, 5], trained: true },
  { name: 'Linear without bias, 2-D', build: () => new Linear(5, 3, { seed: 3, bias: false }), inputShape: [2, 5], trained: true },
  { name: 'Linear without bias, 4-D', build: () => new Linear(5, 3, { seed: 4, bias: false }), inputShape: [2, 2, 3, 5], trained: true },
  { name: 'Linear on 1-D input', build: () => new Linear(5, 3, { seed: 5 }), inputShape: [5] },
  { name: 'Conv2d 3x3', build: () => new Conv2d(3, 4, 3, { seed: 6 }), inputShape: [2, 3, 7, 7], trained: true },
  { name: 'Conv2d stride 2, padding 1', build: () => new Conv2d(3, 4, 3, { seed: 7, stride: 2, padding: 1 }), inputShape: [2, 3, 8, 8], trained: true },
  {
    name: 'Conv2d 3x2, dilation [2,1], stride [1,2], padding [1,0,2,1]',
    build: () => new Conv2d(2, 4, [3, 2], { seed: 8, dilation: [2, 1], stride: [1, 2], padding: [1, 0, 2, 1] }), inputShape: [2, 2, 9, 8], trained: true,
  },
  { name: 'Conv2d groups 2, no bias', build: () => new Conv2d(4, 6, 3, { seed: 9, groups: 2, bias: false, padding: 1 }), inputShape: [2, 4, 6, 6], trained: true },
  { name: 'Conv2d depthwise', build: () => new Conv2d(4, 4, 3, { seed: 10, groups: 4, padding: [1, 2] }), inputShape: [2, 4, 5, 5], trained: true },
  { name: 'BatchNorm1d on [N, C]', build: () => new BatchNorm1d(6), inputShape: [4, 6], trained: true },
  { name: 'BatchNorm1d on [N, C, L]', build: () => new BatchNorm1d(3, { momentum: 0.5 }), inputShape: [4, 3, 5], trained: true },
  { name: 'BatchNorm2d, eps 1e-3', build: () => new BatchNorm2d(3, { momentum: 0.3, eps: 1e-3 }), inputShape: [4, 3, 5, 5], trained: true },
  { name: 'BatchNorm2d without affine', build: () => new BatchNorm2d(3, { affine: false }), inputShape: [4, 3, 4, 4], trained: true },
  { name: 'BatchNorm2d without running stats', build: () => new BatchNorm2d(3, { trackRunningStats: false }), inputShape: [4, 3, 4, 4], trained: true },
  { name: 'BatchNorm1d without running stats, opset 18', build: () => new BatchNorm1d(4, { trackRunningStats: false }), inputShape: [4, 4, 3], trained: true, opset: 18 },
  { name: 'LayerNorm over 1 dim', build: () => new LayerNorm(6), inputShape: [2, 6], trained: true },
  { name: 'LayerNorm over 2 dims, eps 1e-3', build: () => new LayerNorm([3, 4], { eps: 1e-3 }), inputShape: [2, 5, 3, 4], trained: true },
  { name: 'LayerNorm without affine', build: () => new LayerNorm(6, { elementwiseAffine: false }), inputShape: [2, 3, 6], scale: 5 },
  { name: 'Dropout', build: () => new Dropout(0.5, { seed: 11 }), inputShape: [2, 5] },
  { name: 'ReLU', build: () => new ReLU(), inputShape: [2, 3, 4], scale: 3 },
  { name: 'LeakyReLU 0.2', build: () => new LeakyReLU(0.2), inputShape: [2, 3, 4], scale: 3 },
  { name: 'GELU exact', build: () => new GELU(), inputShape: [2, 3, 16], scale: 3 },
  { name: 'GELU tanh', build: () => new GELU('tanh'), inputShape: [2, 3, 16], scale: 3 },
  { name: 'GELU exact, opset 20 (Gelu op)', build: () => new GELU(), inputShape: [2, 16], scale: 3, opset: 20 },
  { name: 'GELU tanh, opset 20 (Gelu op)', build: () => new GELU('tanh'), inputShape: [2, 16], scale: 3, opset: 20 },
  { name: 'Sigmoid', build: () => new Sigmoid(), inputShape: [2, 3, 4], scale: 4 },
  { name: 'Tanh', build: () => new Tanh(), inputShape: [2, 3, 4], scale: 3 },
  { name: 'MaxPool2d 2', build: () => new MaxPool2d(2), inputShape: [2, 3, 6, 6] },
  { name: 'MaxPool2d 3, stride 2, padding 1', build: () => new MaxPool2d(3, { stride: 2, padding: 1 }), inputShape: [2, 3, 7, 7] },
  { name: 'MaxPool2d 3, stride 2, ceilMode', build: () => new MaxPool2d(3, { stride: 2, ceilMode: true }), inputShape: [2, 2, 8, 8] },
  { name: 'MaxPool2d 3, stride 2, padding 1, ceilMode', build: () => new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }), inputShape: [2, 2, 6, 6] },
  { name: 'MaxPool2d 2, stride 2, padding 1, ceilMode (last window dropped)', build: () => new MaxPool2d(2, { padding: 1, ceilMode: true }), inputShape: [2, 2, 7, 7] },
  { name: 'MaxPool2d 2, dilation 3, padding 2 (explicit Pad)', build: () => new MaxPool2d(2, { stride: 1, dilation: 3, padding: 2 }), inputShape: [1, 2, 6, 6] },
  { name: 'MaxPool2d [2,3], stride [1,2], dilation [2,1]', build: () => new MaxPool2d([2, 3], { stride: [1, 2], dilation: [2, 1] }), inputShape: [2, 2, 7, 8] },
  { name: 'AvgPool2d 2', build: () => new AvgPool2d(2), inputShape: [2, 3, 6, 6] },
  { name: 'AvgPool2d 3, stride 2, padding 1', build: () => new AvgPool2d(3, { stride: 2, padding: 1 }), inputShape: [2, 3, 7, 7] },
  { name: 'AvgPool2d 3, stride 2, padding 1, countIncludePad false', build: () => new AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }), inputShape: [2, 3, 7, 7] },
  { name: 'AvgPool2d 3, stride 2, padding 1, ceilMode', build: () => new AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }), inputShape: [2, 2, 6, 6] },
  {
    name: 'AvgPool2d 3, stride 2, padding 1, ceilMode, countIncludePad false',
    build: () => new AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), inputShape: [2, 2, 6, 6],
  },
  { name: 'AvgPool2d 2, ceilMode', build: () => new AvgPool2d(2, { ceilMode: true }), inputShape: [2, 2, 5, 5] },
  { name: 'AvgPool2d [2,3], stride [2,1], padding [1,1], ceilMode', build: () => new AvgPool2d([2, 3], { stride: [2, 1], padding: [1, 1], ceilMode: true }), inputShape: [2, 2, 6, 5] },
  { name: 'Flatten', build: () => new Flatten(), inputShape: [2, 3, 4, 5] },
  { name: 'Flatten(0)', build: () => new Flatten(0), inputShape: [2, 3, 4] },
  { name: 'Flatten(2)', build: () => new Flatten(2), inputShape: [2, 3, 4, 5] },
  { name: 'Flatten(1, 2)', build: () => new Flatten(1, 2), inputShape: [2, 3, 4, 5] },
  { name: 'Flatten(0, 1)', build: () => new Flatten(0, 1), inputShape: [2, 3, 4] },
  { name: 'Flatten(-2, -1)', build: () => new Flatten(-2, -1), inputShape: [2, 3, 4] },
];

afterAll(() => {
  const rows = [...worstErrors].map(([label, error]) => `  ${error.toExponential(2)}  ${label}`);
  console.info(`exportModule vs onnxruntime, worst error per case:\n${rows.join('\n')}`);
});

describe('exportModule: each layer matches onnxruntime', () => {
  for (const c of LAYER_CASES) {
    it(c.name, async () => {
      const layer = c.build();
      if (c.trained) train(layer, c.inputShape, 100 + c.name.length);
      await expectSameOutputs(c.name, layer, c.inputShape, { opset: c.opset }, c.scale);
      layer.dispose();
    });
  }

  it('picks Gemm for 2-D input, MatMul for other ranks, and no node for Dropout', () => {
    expect(opTypes(exportModule(new Linear(5, 4, { seed: 1 }), { inputShape: [2, 5] }))).toEqual(['Gemm']);
    expect(opTypes(exportModule(new Linear(5, 4, { seed: 1 }), { inputShape: [2, 3, 5] }))).toEqual(['Transpose', 'MatMul', 'Add']);
    expect(opTypes(exportModule(new Sequential(new Dropout(0.3, { seed: 1 }), new ReLU()), { inputShape: [2, 5] }))).toEqual(['Relu']);
    expect(opTypes(exportModule(new Dropout(0.3, { seed: 1 }), { inputShape: [2, 5] }))).toEqual(['Identity']);
  });
});

function mlp(): Sequential {
  const rng = seed(21);
  return new Sequential(
    new Linear(8, 32, { seed: rng }), new GELU(), new Dropout(0.2, { seed: rng }), new LayerNorm(32),
    new Linear(32, 32, { seed: rng }), new GELU('tanh'), new Dropout(0.2, { seed: rng }), new Linear(32, 4, { seed: rng }),
  );
}

/** Conv2d-BatchNorm2d-ReLU-MaxPool2d, a strided dilated grouped conv block, AvgPool2d (ceil mode), Flatten, Linear. */
function cnn(): Sequential {
  const rng = seed(42);
  return new Sequential(
    new Sequential(new Conv2d(3, 8, 3, { seed: rng, padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2)),
    new Sequential(new Conv2d(8, 8, 3, { seed: rng, stride: 2, padding: 2, dilation: 2, groups: 2 }), new BatchNorm2d(8), new LeakyReLU(0.1)),
    new AvgPool2d(2, { ceilMode: true }),
    new Flatten(),
    new Dropout(0.25, { seed: rng }),
    new Linear(8 * 3 * 3, 10, { seed: rng }),
  );
}

/** Trains a classifier a few SGD steps with cross-entropy in training mode (dropout active, running statistics updating). */
function trainClassifier(model: Sequential, inputShape: readonly number[], classes: number, steps = 5): void {
  const rng = seed(7);
  const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  model.train();
  for (let step = 0; step < steps; step++) {
    scope(() => {
      const x = fromArray(randomValues(inputShape, rng), inputShape);
      const labels = fromArray(Int32Array.from({ length: inputShape[0] }, (_, i) => (i + step) % classes), [inputShape[0]]);
      crossEntropy(model.forward(x), labels).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  optimizer.dispose();
}

describe('exportModule: trained stacks match onnxruntime', () => {
  it('an MLP with GELU (both forms), Dropout and LayerNorm', async () => {
    const model = mlp();
    trainClassifier(model, [6, 8], 4);
    const onnx = await expectSameOutputs('MLP', model, [6, 8]);
    expect(opTypes(onnx)).toContain('LayerNormalization');
    expect(opTypes(onnx)).toContain('Erf');
    model.dispose();
  });

  it('the MLP over sequences ([N, T, features]: MatMul and LayerNorm on 3-D input)', async () => {
    const model = mlp();
    trainClassifier(model, [6, 8], 4);
    await expectSameOutputs('MLP over sequences', model, [2, 5, 8]);
    model.dispose();
  });

  it('a small CNN with nested Sequentials, trained with running statistics', async () => {
    const model = cnn();
    trainClassifier(model, [4, 3, 18, 18], 10);
    const runningMean = model.stateDict().get('0.1.running_mean')!;
    expect(Math.max(...Array.from(runningMean.dataSync(), Math.abs))).toBeGreaterThan(1e-3);
    // Exported while still in training mode: the export is of eval semantics, and the mode is left alone.
    expect(model.training).toBe(true);
    const onnx = await expectSameOutputs('CNN', model, [4, 3, 18, 18]);
    expect(model.training).toBe(true);
    expect(opTypes(onnx)).toEqual(['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Conv', 'BatchNormalization', 'LeakyRelu', 'AveragePool', 'Flatten', 'Gemm']);
    model.dispose();
  });

  for (const opset of [18, 19, 20, 21, 22]) {
    it(`the CNN and the MLP at opset ${opset}`, async () => {
      const convNet = cnn();
      trainClassifier(convNet, [4, 3, 18, 18], 10, 2);
      await expectSameOutputs(`CNN, opset ${opset}`, convNet, [4, 3, 18, 18], { opset });
      const perceptron = mlp();
      trainClassifier(perceptron, [6, 8], 4, 2);
      await expectSameOutputs(`MLP, opset ${opset}`, perceptron, [6, 8], { opset });
      convNet.dispose();
      perceptron.dispose();
    });
  }
});

describe('exportModule: the model it writes', () => {
  it('holds every parameter and running statistic under its state dict name, with its values', () => {
    const model = cnn();
    trainClassifier(model, [4, 3, 18, 18], 10, 2);
    const before = liveTensors();
    const onnx = exportModule(model, { inputShape: [1, 3, 18, 18] });
    expect(liveTensors()).toBe(before);
    const initializers = new Map(onnx.graph!.initializer.map((t) => [t.name!, t]));
    const expected = [...model.stateDict()].filter(([name]) => !name.endsWith('num_batches_tracked'));
    expect([...initializers.keys()].sort()).toEqual(expected.map(([name]) => name).sort());
    for (const [name, tensor] of expected) {
      expect(initializers.get(name)!.dims, name).toEqual(tensor.shape);
      expect(Array.from(tensorValues(initializers.get(name)!) as Float32Array), name).toEqual(Array.from(tensor.dataSync()));
    }
    model.dispose();
  });

  it('exports a symbolic batch dim by default, a fixed one with batchDim null, and uses the names and producer given', async () => {
    const layer = new Linear(3, 2, { seed: 1 });
    const dims = (m: ModelProto, which: 'input' | 'output'): unknown[] => m.graph![which][0].type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue);
    const symbolic = exportModule(layer, { inputShape: [5, 3] });
    expect([dims(symbolic, 'input'), dims(symbolic, 'output')]).toEqual([['batch', 3], ['batch', 2]]);
    expect(symbolic.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(symbolic.irVersion).toBe(8);
    const fixed = await expectSameOutputs('Linear, fixed batch, own names', layer, [5, 3], {
      batchDim: null, inputName: 'features', outputName: 'logits', producer: { name: 'test', version: '9' },
    });
    expect([dims(fixed, 'input'), dims(fixed, 'output')]).toEqual([[5, 3], [5, 2]]);
    expect([fixed.producerName, fixed.producerVersion]).toEqual(['test', '9']);
    expect(dims(exportModule(layer, { inputShape: [5, 3], batchDim: 'n' }), 'input')).toEqual(['n', 3]);
    layer.dispose();
  });
});

class Doubler extends Module<[Tensor], Tensor> {
  override forward(x: Tensor): Tensor {
    return mul(x, 2);
  }
}

class ScaledLinear extends Linear {
  override forward(x: Tensor): Tensor {
    return mul(super.forward(x), 3);
  }
}

function minnowError(fn: () => unknown): MinnowError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MinnowError) return error;
    throw error;
  }
  throw new Error('expected a MinnowError');
}

describe('exportModule: errors', () => {
  it('names the class and the path of a layer it has no converter for', () => {
    const nested = new Sequential(new Linear(4, 4, { seed: 1 }), new Sequential(new ReLU(), new Doubler()));
    const error = minnowError(() => exportModule(nested, { inputShape: [2, 4] }));
    expect(error.code).toBe('UNSUPPORTED_OP');
    expect(error.message).toContain("Doubler at '1.1'");
    expect(minnowError(() => exportModule(new Doubler(), { inputShape: [2, 4] })).message).toContain('Doubler (the root module)');
    // A subclass may compute something else, so it is not exported as its base class.
    const subclass = minnowError(() => exportModule(new Sequential(new ScaledLinear(4, 4, { seed: 1 })), { inputShape: [2, 4] }));
    expect([subclass.code, subclass.message.includes("ScaledLinear at '0'")]).toEqual(['UNSUPPORTED_OP', true]);
    nested.dispose();
  });

  it('refuses an input shape a layer cannot take, naming the layer', () => {
    const model = new Sequential(new Linear(4, 3, { seed: 1 }), new Conv2d(3, 2, 3, { seed: 2 }));
    const wrongWidth = minnowError(() => exportModule(model, { inputShape: [2, 5] }));
    expect([wrongWidth.code, wrongWidth.message.includes("Linear at '0'")]).toEqual(['SHAPE_MISMATCH', true]);
    const notNchw = minnowError(() => exportModule(model, { inputShape: [2, 4] }));
    expect([notNchw.code, notNchw.message.includes("Conv2d at '1'")]).toEqual(['SHAPE_MISMATCH', true]);
    expect(minnowError(() => exportModule(new BatchNorm2d(3), { inputShape: [2, 4, 5, 5] })).code).toBe('SHAPE_MISMATCH');
    expect(minnowError(() => exportModule(new LayerNorm(6), { inputShape: [2, 5] })).code).toBe('SHAPE_MISMATCH');
    expect(minnowError(() => exportModule(new MaxPool2d(5), { inputShape: [1, 1, 3, 3] })).code).toBe('SHAPE_MISMATCH');
    expect(minnowError(() => exportModule(new Flatten(3), { inputShape: [2, 3] })).code).toBe('OUT_OF_RANGE');
    model.dispose();
  });

  it('refuses bad options', () => {
    const layer: AnyModule = new Linear(4, 3, { seed: 1 });
    for (const options of [
      { inputShape: [] }, { inputShape: [0, 4] }, { inputShape: [2, 4], opset: 16 }, { inputShape: [2, 4], opset: 23 },
      { inputShape: [2, 4], opset: 17.5 }, { inputShape: [2, 4], inputName: 'x', outputName: 'x' }, { inputShape: [2, 4], outputName: 'weight' },
      { inputShape: [2, 4], inputName: '' }, { inputShape: [2, 4], batchDim: '' },
    ]) {
      expect(minnowError(() => exportModule(layer, options)).code, JSON.stringify(options)).toBe('INVALID_ARGUMENT');
    }
    layer.dispose();
  });
});
