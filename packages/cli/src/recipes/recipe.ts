import { MinnowError } from '@minnow/core';
import {
  Problems, array, boolean, either, number, object, oneOf, optional, required, string, tagged, withDefault, type Parsed,
} from './schema.js';

/**
 * The recipe format of `minnow compress`: JSON listing compression steps, run in order on the
 * model. Each step is an object with one key naming it and its options as the value:
 *
 * ```json
 * { "name": "my-recipe",
 *   "steps": [
 *     { "distill":  { "student": "mlp:128", "epochs": 3, "temperature": 4, "alpha": 0.5 } },
 *     { "prune":    { "sparsity": 0.9, "fineTune": { "epochs": 2 } } },
 *     { "quantize": { "weights": "int8", "activations": "static" } },
 *     { "convert":  { "sparse": true } } ] }
 * ```
 *
 * The schemas below are the specification: every option, its type, range and default. The
 * runner (runner.ts) says what each step does with them. A recipe is checked whole before
 * anything runs; every mistake is reported with its path.
 */

const CALIBRATION_METHODS = ['minmax', 'moving-average', 'percentile', 'entropy', 'mse'] as const;

/** Training hyper-parameters shared by the steps that train (distillation, fine-tuning after pruning). */
const trainingFields = {
  epochs: withDefault(number({ min: 1, integer: true }), 2, 'passes over the training data'),
  lr: withDefault(number({ min: 0, exclusiveMin: true }), 1e-3, 'Adam learning rate'),
  batchSize: withDefault(number({ min: 1, integer: true }), 64, 'examples per optimiser step'),
  seed: withDefault(number({ min: 0, integer: true }), 0, 'seeds the data order and new weights'),
};

export const DISTILL_STEP = object({
  student: required(string(), "the student: 'mlp:<width>[,<width>...]' (a multilayer perceptron) or the path of an .onnx model"),
  ...trainingFields,
  epochs: withDefault(number({ min: 1, integer: true }), 3, 'passes over the training data'),
  temperature: withDefault(number({ min: 0, exclusiveMin: true }), 4, 'softening temperature T of the teacher and student outputs'),
  alpha: withDefault(number({ min: 0, max: 1 }), 0.5, 'weight of the hard-label loss (1 - alpha goes to the soft targets); 0 without labels'),
  reinit: withDefault(boolean(), false, 'an .onnx student: draw new weights for its Linear and Conv layers instead of starting from its own'),
});

export const FINE_TUNE = object({
  ...trainingFields,
  lr: withDefault(number({ min: 0, exclusiveMin: true }), 5e-4, 'Adam learning rate'),
  distill: withDefault(boolean(), true, 'learn from the unpruned model as teacher while fine-tuning (else labels alone)'),
  temperature: withDefault(number({ min: 0, exclusiveMin: true }), 4, 'distillation temperature'),
  alpha: withDefault(number({ min: 0, max: 1 }), 0.5, 'weight of the hard-label loss when distilling'),
});

export const PRUNE_STEP = object({
  sparsity: required(number({ min: 0, max: 1, exclusiveMax: true }), 'fraction of the weights set to zero, in [0, 1)'),
  scope: withDefault(oneOf(['layer', 'global'] as const), 'layer', "'layer': the same sparsity in every layer; 'global': one threshold across layers"),
  criterion: withDefault(oneOf(['magnitude', 'random'] as const), 'magnitude', 'which weights go: the smallest, or seeded random ones (a baseline)'),
  fineTune: optional(FINE_TUNE, 'with labelled data: prune gradually while training (Zhu and Gupta) instead of at once'),
});

/** An error budget: exactly one of its keys (mixedPrecision's ErrorBudget). */
const BUDGET = object({
  maxRelativeError: optional(number({ min: 0 }), 'sum |q - ref| / sum |ref| over the outputs'),
  maxAccuracyDrop: optional(number({ min: 0 }), 'percentage points of accuracy (needs labels)'),
  minSqnrDb: optional(number(), 'signal-to-quantization-noise ratio of the outputs, dB'),
}, (budget, path, problems) => {
  const given = Object.keys(budget);
  if (given.length !== 1) problems.add(path, `give exactly one of maxRelativeError, maxAccuracyDrop, minSqnrDb${given.length ? ` (got ${given.join(', ')})` : ''}`);
});

export const QUANTIZE_STEP = object({
  weights: withDefault(oneOf(['int8', 'int4'] as const), 'int8', 'weight precision'),
  granularity: optional(
    either(number({ min: 1, integer: true }), (v) => typeof v === 'number', oneOf(['per-channel', 'per-tensor'] as const)),
    "'per-channel', 'per-tensor', or a block size (weights per scale); default per-channel for int8, blocks of 32 for int4",
  ),
  activations: withDefault(oneOf(['static', 'dynamic', 'none'] as const), 'static', 'static: ranges calibrated on the data; dynamic: at run time; none: weight-only'),
  activationType: withDefault(oneOf(['uint8', 'int8'] as const), 'uint8', 'static activations stored as'),
  method: withDefault(oneOf(CALIBRATION_METHODS), 'minmax', 'calibration method'),
  format: withDefault(oneOf(['qdq', 'qop'] as const), 'qdq', 'qdq: QuantizeLinear/DequantizeLinear pairs; qop: QLinear operators'),
  calibrationSamples: withDefault(number({ min: 1, integer: true }), 256, 'training examples used for calibration and for the error budget'),
  exclude: withDefault(array(string()), [], 'node names or op types kept in float'),
  budget: optional(BUDGET, 'mixed precision: keep the most sensitive layers at `high` until the error is within it'),
  high: optional(oneOf(['int8', 'float'] as const), 'what a layer kept back by the budget becomes (default int8 for int4 weights, float for int8)'),
}, (q, path, problems) => {
  if (q.weights === 'int8' && q.high === 'int8') problems.add(`${path}.high`, "must be above the weights' precision: with int8 weights, 'float'");
  if (q.high !== undefined && q.budget === undefined) problems.add(`${path}.high`, 'only means something with a budget');
});

export const CONVERT_STEP = object({
  sparse: withDefault(boolean(), true, 'store float weights that are mostly zeros as ONNX sparse initialisers'),
  minSparsity: withDefault(number({ min: 0, max: 1 }), 0.7, 'a weight is stored sparse from this fraction of zeros'),
  minElements: withDefault(number({ min: 0, integer: true }), 64, 'smaller weights stay dense'),
});

const STEP = tagged({ distill: DISTILL_STEP, prune: PRUNE_STEP, quantize: QUANTIZE_STEP, convert: CONVERT_STEP });

export const RECIPE = object({
  name: optional(string(), 'what the recipe is called in reports'),
  description: optional(string(), 'one line on what it does'),
  steps: required(array(STEP, { minItems: 1 }), 'the compression steps, in order'),
});

export type DistillStep = Parsed<typeof DISTILL_STEP.fields>;
export type FineTune = Parsed<typeof FINE_TUNE.fields>;
export type PruneStep = Parsed<typeof PRUNE_STEP.fields>;
export type QuantizeStep = Parsed<typeof QUANTIZE_STEP.fields>;
export type ConvertStep = Parsed<typeof CONVERT_STEP.fields>;
export type RecipeStep =
  | { readonly kind: 'distill'; readonly options: DistillStep }
  | { readonly kind: 'prune'; readonly options: PruneStep }
  | { readonly kind: 'quantize'; readonly options: QuantizeStep }
  | { readonly kind: 'convert'; readonly options: ConvertStep };
export type StepKind = RecipeStep['kind'];

export interface Recipe {
  readonly name: string;
  readonly description?: string;
  readonly steps: readonly RecipeStep[];
  /** Where it came from: 'built-in', or the file's path (relative student paths are resolved from its folder). */
  readonly source: string;
}

/**
 * Checks a parsed JSON document against the recipe schema. Every problem is reported at once,
 * each with its path: `recipe my.json: steps[1].prune.sparsty: unknown key (did you mean sparsity?)`.
 */
export function parseRecipe(document: unknown, source: string, fallbackName: string): Recipe {
  const problems = new Problems();
  const parsed = RECIPE.check(document, '', problems);
  if (parsed === undefined) {
    throw new MinnowError('INVALID_ARGUMENT', `recipe ${source}: ${problems.list.join('; ')}`);
  }
  return {
    name: parsed.name ?? fallbackName,
    ...(parsed.description === undefined ? {} : { description: parsed.description }),
    steps: parsed.steps as RecipeStep[],
    source,
  };
}

/** One line per step, for people ('prune 90% (layer), fine-tuned 2 epochs'). */
export function describeStep(step: RecipeStep): string {
  switch (step.kind) {
    case 'distill':
      return `distill into ${step.options.student} (${step.options.epochs} epochs, T=${step.options.temperature}, alpha=${step.options.alpha})`;
    case 'prune':
      return `prune ${pct(step.options.sparsity)} by ${step.options.criterion} (${step.options.scope})${step.options.fineTune ? `, fine-tuned ${step.options.fineTune.epochs} epochs with labels` : ''}`;
    case 'quantize': {
      const q = step.options;
      const granularity = q.granularity === undefined ? (q.weights === 'int4' ? 'blocks of 32' : 'per channel') : typeof q.granularity === 'number' ? `blocks of ${q.granularity}` : q.granularity;
      const budget = q.budget ? `, budget ${Object.entries(q.budget).map(([k, v]) => `${k} ${v}`).join('')}` : '';
      return `quantize ${q.weights} weights ${granularity}, ${q.activations === 'none' ? 'float' : q.activations} activations${budget}`;
    }
    case 'convert':
      return step.options.sparse ? `convert: sparse initialisers from ${pct(step.options.minSparsity)} zeros` : 'convert: dense initialisers';
  }
}

const pct = (x: number): string => `${+(x * 100).toFixed(2)}%`;
