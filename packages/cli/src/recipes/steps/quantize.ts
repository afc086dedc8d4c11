import { MinnowError } from '@minnow/core';
import {
  calibrateOnnx, layerTotals, mixedPrecision, quantizeOnnx, type ErrorBudget, type FeedRecord, type LayerReport, type QuantizeOnnxOptions,
} from '@minnow/compress';
import type { ModelProto } from '@minnow/onnx';
import { mergeLayers, sensitivityLayers } from '../../report/collect.js';
import { onnxWeightName, quantizedLayers } from '../../report/collect-onnx.js';
import type { ReportLayer } from '../../report/types.js';
import { feedBatches, firstSamples, type EvaluationData } from '../data.js';
import type { QuantizeStep } from '../recipe.js';
import type { StepContext, StepOutcome } from './context.js';

/**
 * Post-training quantization of the ONNX graph with @minnow/compress: activation ranges calibrated
 * on the first `calibrationSamples` training examples (static), or weights only, or dynamic; with a
 * budget, mixedPrecision keeps the layers whose quantization hurts the output most at `high` until
 * the error on those examples is within it. Without data to calibrate on, static falls back to
 * weight-only and says so.
 */
export async function quantizeStep(options: QuantizeStep, context: StepContext): Promise<StepOutcome> {
  const { data, backend, where } = context;
  const warnings: string[] = [];
  const realData = data !== null && !data.synthetic ? data : null;
  let mode = options.activations === 'none' ? 'weight-only' as const : options.activations;
  if (mode === 'static' && realData === null) {
    warnings.push(`${where}: no --data to calibrate activation ranges on, so only the weights are quantized (activations stay float)`);
    mode = 'weight-only';
  }
  const granularity = options.granularity ?? (options.weights === 'int4' ? 32 : 'per-channel');
  let quantize: QuantizeOnnxOptions = {
    mode, weights: options.weights, granularity, format: options.format, activationType: options.activationType, exclude: options.exclude,
  };
  if (mode === 'static') {
    const batches = [...feedBatches(realData!, firstSamples(realData!.train, options.calibrationSamples, realData!.sampleShape))];
    const task = context.progress.task(`calibrate (${options.method})`, batches.length, 'batches');
    const ranges = await calibrateOnnx(context.model, batches.map((b) => b.feed), { method: options.method, backend, onProgress: (n) => task.update(n) });
    task.finish(`${ranges.size} ranges`);
    quantize = { ...quantize, activationRanges: ranges };
  }

  let model: ModelProto;
  let report: readonly LayerReport[];
  let budget: Record<string, unknown> | undefined;
  let sensitivity: ReportLayer[] = [];
  const target = options.budget === undefined ? undefined : errorBudget(options.budget, `${where}.budget`, data);
  if (target !== undefined && data === null) {
    warnings.push(`${where}: no data to measure the error budget on, so every layer is ${options.weights}`);
  }
  if (target !== undefined && data !== null) {
    if (data.synthetic) warnings.push(`${where}: the error budget is measured on made-up inputs (no --data): precisions chosen on them may not suit real ones`);
    const evaluation = [...feedBatches(data, firstSamples(data.train, options.calibrationSamples, data.sampleShape))];
    const high = options.high ?? (options.weights === 'int4' ? 'int8' : 'float');
    const task = context.progress.task(`mixed precision (${options.weights} -> ${high})`, 1, 'measurements');
    let measured = 0;
    const chosen = await mixedPrecision(context.model, {
      evaluationFeeds: evaluation.map((b) => b.feed as FeedRecord),
      ...(data.labelled ? { labels: evaluation.map((b) => b.labels!) } : {}),
      budget: target, backend, quantizeOptions: quantize, low: options.weights, high,
      onStep: (step) => task.update(++measured, `relative error ${step.error.relativeError.toPrecision(3)}${step.budgetMet ? ' (within budget)' : ''}`),
    });
    task.finish(`${chosen.promoted.length} layer(s) kept at ${high}`);
    model = chosen.model;
    report = chosen.report;
    budget = { ...target, met: chosen.budgetMet, relativeError: chosen.error.relativeError, sqnrDb: chosen.error.sqnrDb, promoted: chosen.promoted, high };
    if (!chosen.budgetMet) warnings.push(`${where}: the budget is not met even with every layer at ${high}`);
    sensitivity = sensitivityLayers(chosen.sensitivity, (layer) => onnxWeightName(context.model, layer));
  } else {
    ({ model, report } = quantizeOnnx(context.model, quantize));
  }
  const totals = layerTotals(report);
  const quantized = report.filter((l) => l.precision !== 'float').length;
  const note = `${describe(options, mode, granularity)}: ${quantized} of ${report.length} layers quantized${budget ? `, ${(budget.promoted as string[]).length} kept at ${budget.high} for the budget (relative error ${(budget.relativeError as number).toPrecision(3)})` : ''}`;
  return {
    model, note, warnings,
    layers: mergeLayers(quantizedLayers(context.model, model, report), sensitivity),
    details: { mode, weights: options.weights, granularity, format: options.format, totals, layers: report, ...(budget ? { budget } : {}) },
  };
}

function errorBudget(budget: NonNullable<QuantizeStep['budget']>, path: string, data: EvaluationData | null): ErrorBudget {
  if (budget.maxRelativeError !== undefined) return { maxRelativeError: budget.maxRelativeError };
  if (budget.minSqnrDb !== undefined) return { minSqnrDb: budget.minSqnrDb };
  if (data === null || !data.labelled) throw new MinnowError('INVALID_ARGUMENT', `${path}.maxAccuracyDrop needs labelled --data (mnist, fashion-mnist, or a folder with labels.npy)`);
  return { maxAccuracyDrop: budget.maxAccuracyDrop! };
}

function describe(options: QuantizeStep, mode: string, granularity: string | number): string {
  const weights = `${options.weights} weights ${typeof granularity === 'number' ? `in blocks of ${granularity}` : granularity}`;
  const activations = mode === 'static' ? `static ${options.activationType} activations (${options.method}), ${options.format}` : mode === 'dynamic' ? 'dynamic activations' : 'float activations';
  return `${weights}, ${activations}`;
}
