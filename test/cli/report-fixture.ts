import { Random, fromArray, type Tensor } from '@minnow/core';
import { Adam, DataLoader, Linear, ReLU, Sequential, permutation, subset, type Dataset, type Module } from '@minnow/nn';
import { loadMnistSplit } from '@minnow/nn/node';
import { exportModule, writeModel, type ModelProto } from '@minnow/onnx';
import {
  OutputMeter, distill, evaluate, layerSensitivity, pruneModule, quantizeOnnx, train, type Progress, type QuantizeOnnxResult,
  type SensitivityResult, type SparsityReport,
} from '@minnow/compress';
import {
  curveFromProgress, environmentInfo, mergeLayers, moduleParamCount, onnxParamCount, onnxWeightName, quantizedLayers, sensitivityLayers,
  sparsityLayers, type ReportData, type ReportStep,
} from '../../packages/cli/src/report/index.js';

/**
 * A real, small run of the main job for the report tests, on the js backend: a teacher MLP trained
 * for one epoch on 400 MNIST digits, a smaller student distilled from it, pruned to 50%, exported
 * to ONNX, quantized (int8 per channel, the last layer int4 in blocks) with quantizeOnnx, and a
 * sensitivity analysis; the ReportData is built from those objects with the report's collect
 * helpers, as a command would.
 */

export interface RealRun {
  readonly data: ReportData;
  readonly floatOnnx: ModelProto;
  readonly quantized: QuantizeOnnxResult;
  readonly sparsity: SparsityReport;
  readonly sensitivity: SensitivityResult;
  readonly teacherProgress: readonly Progress[];
  readonly studentProgress: readonly Progress[];
}

const TRAIN = 400;
const TEST = 200;

function mlp(widths: readonly number[], seed: number): Sequential {
  const r = new Random(seed);
  const layers: Module<[Tensor], Tensor>[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    layers.push(new Linear(widths[i], widths[i + 1], { seed: r }));
    if (i + 2 < widths.length) layers.push(new ReLU());
  }
  return new Sequential(...layers);
}

const bytesOf = (model: ModelProto): number => writeModel(model).model.length;
const onnxOf = (model: Sequential): ModelProto => exportModule(model, { inputShape: [1, 784] });

function features(set: Dataset): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(set.length * 784);
  const y = new Int32Array(set.length);
  for (let i = 0; i < set.length; i++) {
    const e = set.get(i);
    x.set(e.features, i * 784);
    y[i] = e.label;
  }
  return { x, y };
}

async function timed<T>(run: () => T | Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - start) / 1000 };
}

export async function realRun(): Promise<RealRun> {
  const split = await loadMnistSplit({ seed: 11 });
  // The split keeps the package's digit order: draw the samples at random (seeded), so every digit is in both.
  const trainSet = subset(split.train, permutation(split.train.length, new Random(12)).subarray(0, TRAIN));
  const testSet = subset(split.test, permutation(split.test.length, new Random(13)).subarray(0, TEST));
  const loader = (): DataLoader => new DataLoader(trainSet, { batchSize: 32, shuffle: true, seed: 5 });
  const testLoader = new DataLoader(testSet, { batchSize: 100 });
  const adam = (params: Tensor[]) => new Adam(params, { lr: 1e-2 });

  const teacher = mlp([784, 64, 10], 1);
  const teacherProgress: Progress[] = [];
  const trained = await timed(() => train({ model: teacher, data: loader(), optimizer: adam, epochs: 1, onProgress: (p) => teacherProgress.push(p) }));
  const student = mlp([784, 48, 10], 2);
  const studentProgress: Progress[] = [];
  const distilled = await timed(() => distill({
    teacher, student, data: loader(), optimizer: adam, epochs: 1, temperature: 4, alpha: 0.5, onProgress: (p) => studentProgress.push(p),
  }));
  const teacherAccuracy = evaluate(teacher, testLoader).accuracy;
  const studentAccuracy = evaluate(student, testLoader).accuracy;

  const pruned = await timed(() => pruneModule(student, { sparsity: 0.5 }));
  const sparsity = pruned.value.report();
  const prunedAccuracy = evaluate(student, testLoader).accuracy;

  const exported = await timed(() => onnxOf(student));
  const floatOnnx = exported.value;
  const lastLayer = floatOnnx.graph!.node.filter((n) => n.opType === 'Gemm').at(-1)!.name!;
  const quantized = await timed(() => quantizeOnnx(floatOnnx, { mode: 'weight-only', weights: 'int8', precision: { [lastLayer]: 'int4' } }));

  const { x, y } = features(testSet);
  const input = fromArray(x, [TEST, 784]);
  try {
    const evaluation = { evaluationFeeds: [{ input }], labels: [y] };
    const meter = await OutputMeter.create(floatOnnx, evaluation);
    const quantizedError = await meter.measure(quantized.value.model);
    const sensitivity = await layerSensitivity(floatOnnx, { ...evaluation, precision: 'int4' }, meter);

    const steps: ReportStep[] = [
      { name: 'teacher', kind: 'train', params: moduleParamCount(teacher), bytes: bytesOf(onnxOf(teacher)), accuracy: teacherAccuracy, seconds: trained.seconds, note: `1 epoch on ${TRAIN} digits` },
      { name: 'student', kind: 'distill', params: moduleParamCount(student), bytes: bytesOf(floatOnnx), accuracy: studentAccuracy, seconds: distilled.seconds, note: 'T = 4, alpha = 0.5' },
      { name: 'pruned 50%', kind: 'prune', params: moduleParamCount(student), bytes: bytesOf(floatOnnx), accuracy: prunedAccuracy, seconds: pruned.seconds, note: 'magnitude, per layer' },
      { name: 'ONNX', kind: 'export', params: onnxParamCount(floatOnnx), bytes: bytesOf(floatOnnx), accuracy: meter.referenceAccuracy, seconds: exported.seconds },
      {
        name: 'int8 + int4', kind: 'quantize', params: onnxParamCount(quantized.value.model), bytes: bytesOf(quantized.value.model),
        accuracy: quantizedError.accuracy, seconds: quantized.seconds, note: `weight-only; ${lastLayer} int4`,
      },
    ];
    const layers = mergeLayers(
      quantizedLayers(floatOnnx, quantized.value.model, quantized.value.report),
      sparsityLayers(sparsity),
      sensitivityLayers(sensitivity, (layer) => onnxWeightName(floatOnnx, layer)),
    );
    const data: ReportData = {
      title: 'minnow report: MNIST MLP (test run)',
      createdAt: new Date(0).toISOString(),
      steps,
      curves: [
        curveFromProgress('teacher, cross-entropy', teacherProgress, { chart: 'Teacher training loss' }),
        curveFromProgress('student, distillation loss', studentProgress, { chart: 'Student distillation loss' }),
      ],
      layers,
      notes: [`Evaluated on ${TEST} held-out digits.`],
      environment: environmentInfo({ minnow: '0.1.0' }),
    };
    return { data, floatOnnx, quantized: quantized.value, sparsity, sensitivity, teacherProgress, studentProgress };
  } finally {
    input.dispose();
  }
}
