import { gzipSync } from 'node:zlib';
import { MinnowError } from '@minnow/core';
import { writeModel, type ModelProto } from '@minnow/onnx';
import type { ProgressSink } from '../progress.js';
import { mergeLayers } from '../report/collect.js';
import { onnxParamCount, onnxWeightLayers } from '../report/collect-onnx.js';
import type { ReportCurve, ReportLayer, ReportStep } from '../report/types.js';
import type { EvaluationData } from './data.js';
import { Evaluator, type Figures } from './measure.js';
import { describeStep, type Recipe, type RecipeStep } from './recipe.js';
import type { StepContext, StepOutcome } from './steps/context.js';
import { convertStep } from './steps/convert.js';
import { distillStep } from './steps/distill.js';
import { pruneStep } from './steps/prune.js';
import { quantizeStep } from './steps/quantize.js';

/**
 * Runs a recipe's steps in order on an ONNX model, measuring the model after each one against the
 * original on the held-out examples (accuracy with labels, top-1 agreement and relative error
 * always), and keeping what the report shows: per step its parameters, bytes, figures and time;
 * the loss curves of the steps that train; per layer the weights before and after quantization,
 * sparsity and sensitivity.
 */

export interface RecipeRunOptions {
  readonly recipe: Recipe;
  readonly model: ModelProto;
  /** Evaluation data (real or made up), or null when the model's inputs cannot be made up. */
  readonly data: EvaluationData | null;
  readonly backend: string;
  readonly progress: ProgressSink;
  /** Where relative paths in the recipe are resolved from. */
  readonly baseDir: string;
}

/** One model of the run (the original first): ReportStep's figures and more for --json. */
export interface StepRecord extends ReportStep {
  /** sum |y - y0| / sum |y0| of the first output against the original's, on the held-out examples. */
  readonly relativeError?: number;
  /** The file gzipped: what pruned zeros save when the model is shipped compressed. */
  readonly gzipBytes: number;
  readonly warnings: readonly string[];
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface RecipeRun {
  /** The model after the last step. */
  readonly model: ModelProto;
  /** The original, then one record per step. */
  readonly steps: readonly StepRecord[];
  readonly curves: readonly ReportCurve[];
  readonly layers: readonly ReportLayer[];
  /** How the data was read and split, and every warning, in order. */
  readonly notes: readonly string[];
  /** Examples the figures were measured on (0 without data). */
  readonly samples: number;
}

export async function runRecipe(options: RecipeRunOptions): Promise<RecipeRun> {
  const { recipe, data, backend, progress } = options;
  checkDataNeeds(recipe, data);
  const notes: string[] = [...(data?.notes ?? [])];
  if (data === null) notes.push('no --data and no way to make up inputs for this model: the figures show sizes only');
  /** Runs `measure` under a progress bar over the held-out batches. */
  const measured = <T>(label: string, measure: (onBatch: (done: number) => void) => T, figures: (result: T) => Figures): T => {
    const task = progress.task(`evaluate ${label}`, Math.max(1, Math.ceil(data!.test.count / data!.batchSize)), 'batches');
    const result = measure((done) => task.update(done));
    const f = figures(result);
    task.finish(f.accuracy !== undefined ? `accuracy ${(100 * f.accuracy).toFixed(2)}%` : `agreement ${(100 * f.agreement).toFixed(2)}%`);
    return result;
  };
  const evaluator = data === null ? null : measured('the original', (onBatch) => Evaluator.create(options.model, data, backend, onBatch), (e) => e.original);
  const records: StepRecord[] = [record('original', 'train', options.model, evaluator?.original, 0, { model: options.model, note: 'the input model' })];
  const curves: ReportCurve[] = [];
  const stepLayers: (readonly ReportLayer[])[] = [];
  let model = options.model;
  for (const [index, step] of recipe.steps.entries()) {
    const where = `steps[${index}].${step.kind}`;
    progress.note(`step ${index + 1}/${recipe.steps.length}: ${describeStep(step)}`);
    const start = performance.now();
    const context: StepContext = { model, data, backend, progress, baseDir: options.baseDir, where };
    const outcome = await runStep(step, context);
    const seconds = (performance.now() - start) / 1000;
    model = outcome.model;
    const figures = evaluator === null ? undefined : measured(`after ${step.kind}`, (onBatch) => evaluator.measure(model, onBatch), (f) => f);
    records.push(record(stepName(step, outcome), step.kind, model, figures, seconds, outcome));
    curves.push(...(outcome.curves ?? []));
    stepLayers.push(outcome.layers ?? []);
    notes.push(...(outcome.warnings ?? []));
  }
  // The latest step's names first (a re-exported model renames its layers); the final weights fill in what no step recorded.
  const layers = mergeLayers(...stepLayers.reverse(), onnxWeightLayers(model));
  return { model, steps: records, curves, layers, notes, samples: evaluator?.original.samples ?? 0 };
}

/** Refuses, before anything runs, a recipe whose steps need data (or labels) that were not given. */
function checkDataNeeds(recipe: Recipe, data: EvaluationData | null): void {
  recipe.steps.forEach((step, index) => {
    const where = `steps[${index}].${step.kind}`;
    if (step.kind === 'distill' && (data === null || data.synthetic)) {
      throw new MinnowError('INVALID_ARGUMENT', `${where}: distillation trains the student on examples; pass --data (a folder of .npy files, mnist or fashion-mnist)`);
    }
    if (step.kind === 'quantize' && step.options.budget?.maxAccuracyDrop !== undefined && !data?.labelled) {
      throw new MinnowError('INVALID_ARGUMENT', `${where}.budget.maxAccuracyDrop needs labelled --data (mnist, fashion-mnist, or a folder with labels.npy)`);
    }
  });
}

function runStep(step: RecipeStep, context: StepContext): Promise<StepOutcome> | StepOutcome {
  switch (step.kind) {
    case 'distill': return distillStep(step.options, context);
    case 'prune': return pruneStep(step.options, context);
    case 'quantize': return quantizeStep(step.options, context);
    case 'convert': return convertStep(step.options, context);
    default: throw new MinnowError('INTERNAL', `no runner for step ${(step as { kind: string }).kind}`);
  }
}

function stepName(step: RecipeStep, outcome: StepOutcome): string {
  switch (step.kind) {
    case 'distill': return `student ${(outcome.details?.student as string | undefined) ?? step.options.student}`;
    case 'prune': return `pruned ${+(step.options.sparsity * 100).toFixed(2)}%`;
    case 'quantize': return step.options.budget ? `${step.options.weights} mixed` : step.options.weights;
    case 'convert': return step.options.sparse ? 'sparse storage' : 'dense storage';
  }
}

function record(name: string, kind: ReportStep['kind'], model: ModelProto, figures: Figures | undefined, seconds: number, outcome: StepOutcome): StepRecord {
  const bytes = writeModel(model).model;
  return {
    name, kind, params: onnxParamCount(model), bytes: bytes.length, gzipBytes: gzipSync(bytes).length, seconds, note: outcome.note,
    ...(figures?.accuracy === undefined ? {} : { accuracy: figures.accuracy }),
    ...(figures === undefined ? {} : { agreement: figures.agreement, relativeError: figures.relativeError }),
    warnings: outcome.warnings ?? [],
    ...(outcome.details ? { details: outcome.details } : {}),
  };
}
