import { MinnowError } from '@minnow/core';
import type { ModelProto } from '@minnow/onnx';
import type { QuantizeOnnxOptions } from './onnx/index.js';
import { describeQuantizedLayers } from './report.js';
import {
  OutputMeter, layerSensitivity, onlyLayer, resolveLayers, resolveQuantizer, runQuantizer, type EvaluationOptions, type LayerSensitivity,
  type OutputError, type QuantizeWith, type RankBy, type SensitivityResult,
} from './sensitivity.js';
import type { LayerPrecision, LayerReport } from './types.js';

/**
 * Automatic mixed precision: every candidate layer starts at the low precision; while the error
 * budget is not met, the most sensitive layer still low is promoted (to int8 or float), and the
 * whole model is measured again.
 */

/** The error the mixed-precision model may make against the float model, measured on the evaluation inputs. */
export type ErrorBudget =
  /** OutputError.relativeError: sum |q - ref| / sum |ref| over the measured outputs. */
  | { readonly maxRelativeError: number }
  /** Percentage points of accuracy on the labels (0.5 = half a point). */
  | { readonly maxAccuracyDrop: number }
  | { readonly minSqnrDb: number };

export interface MixedPrecisionOptions extends EvaluationOptions {
  /** The quantizer (default: quantizeOnnx with `quantizeOptions`, the precisions chosen overriding per node). */
  readonly quantizeWith?: QuantizeWith;
  /** Options of the default quantizer (default weight-only: int8 per channel, int4 in blocks of 32); not with quantizeWith. */
  readonly quantizeOptions?: QuantizeOnnxOptions;
  readonly budget: ErrorBudget;
  /** Node names the precision is chosen for (default: every MatMul, Gemm and Conv with an initialiser weight); others stay float. */
  readonly candidates?: readonly string[];
  /** Where every candidate starts (default int4). */
  readonly low?: Exclude<LayerPrecision, 'float'>;
  /** What a promoted layer becomes (default int8); must be above `low`. */
  readonly high?: Exclude<LayerPrecision, 'int4'>;
  /**
   * 'ranked' (default) promotes in the order of the one-layer-at-a-time sensitivity at `low`,
   * measuring the whole model after each promotion. 'greedy' re-measures every remaining layer at
   * each step and promotes the one whose promotion helps the whole model most: it sees interactions
   * between layers, at the cost of a model run per remaining layer per step.
   */
  readonly strategy?: 'ranked' | 'greedy';
  /** A sensitivity analysis at `low` over the same candidates and inputs, to reuse instead of measuring again. */
  readonly sensitivity?: SensitivityResult;
  /** Called after each whole-model measurement, for progress. */
  readonly onStep?: (step: MixedPrecisionStep) => void;
}

export interface MixedPrecisionStep {
  /** The layer promoted before this measurement (none for the all-low start). */
  readonly promoted?: string;
  readonly error: OutputError;
  readonly budgetMet: boolean;
}

export interface MixedPrecisionResult {
  /** The precision chosen for each candidate. */
  readonly precisions: ReadonlyMap<string, LayerPrecision>;
  /** The model quantized with those precisions. */
  readonly model: ModelProto;
  /** Its error against the float model. */
  readonly error: OutputError;
  /** False when even every candidate at `high` misses the budget: `model` is then all-high. */
  readonly budgetMet: boolean;
  /** Layers promoted, in order. */
  readonly promoted: readonly string[];
  readonly steps: readonly MixedPrecisionStep[];
  /** One row per candidate: precision, bits, scales and bytes (from the quantizer's report, else read from the QDQ model), and the error the layer alone causes at its precision. */
  readonly report: readonly LayerReport[];
  /** The one-layer-at-a-time analysis at `low` the promotions started from. */
  readonly sensitivity: SensitivityResult;
  /** Model runs over the evaluation inputs in all, the float reference's included. */
  readonly evaluations: number;
}

const ORDER: Record<LayerPrecision, number> = { int4: 0, int8: 1, float: 2 };

/** Checks a budget and returns whether an error meets it. */
export function budgetCheck(budget: ErrorBudget, hasLabels: boolean): (error: OutputError) => boolean {
  const keys = budget !== null && typeof budget === 'object' ? Object.keys(budget) : [];
  const [key] = keys;
  const limit = keys.length === 1 ? (budget as unknown as Record<string, unknown>)[key] : undefined;
  if (typeof limit !== 'number' || Number.isNaN(limit) || !['maxRelativeError', 'maxAccuracyDrop', 'minSqnrDb'].includes(key)) {
    throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: budget must be one of { maxRelativeError }, { maxAccuracyDrop }, { minSqnrDb } with a number, got ${JSON.stringify(budget)}`);
  }
  if ((key === 'maxRelativeError' || key === 'maxAccuracyDrop') && limit < 0) throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: budget ${key} must be >= 0, got ${limit}`);
  if (key === 'maxAccuracyDrop' && !hasLabels) throw new MinnowError('INVALID_ARGUMENT', 'mixedPrecision: an accuracy budget needs labels for the evaluation inputs');
  if (key === 'maxRelativeError') return (e) => e.relativeError <= limit;
  if (key === 'minSqnrDb') return (e) => e.sqnrDb >= limit;
  return (e) => (e.accuracyDrop ?? Infinity) <= limit;
}

/** How far an error is from the budget's direction, for choosing among promotions: lower is better. */
function budgetKey(budget: ErrorBudget): (e: OutputError) => number[] {
  if ('maxRelativeError' in budget) return (e) => [e.relativeError, -e.sqnrDb];
  if ('minSqnrDb' in budget) return (e) => [-e.sqnrDb];
  return (e) => [e.accuracyDrop ?? Infinity, -e.sqnrDb];
}

const lexicographic = (a: number[], b: number[]): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
};

/**
 * Chooses a precision per layer: all at `low`, then promoting the most sensitive to `high` until
 * the budget is met. Returns the precisions, the final model, its measured error and a per-layer
 * report. Deterministic for a deterministic quantizer.
 */
export async function mixedPrecision(model: ModelProto, options: MixedPrecisionOptions): Promise<MixedPrecisionResult> {
  const low = options.low ?? 'int4';
  const high = options.high ?? 'int8';
  if (low !== 'int4' && low !== 'int8') throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: low must be int4 or int8, got ${JSON.stringify(low)}`);
  if (!(high in ORDER) || ORDER[high] <= ORDER[low]) throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: high must be above low (${low}): int8 or float, got ${JSON.stringify(high)}`);
  const strategy = options.strategy ?? 'ranked';
  if (strategy !== 'ranked' && strategy !== 'greedy') throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: strategy must be 'ranked' or 'greedy', got ${JSON.stringify(strategy)}`);
  const meets = budgetCheck(options.budget, options.labels !== undefined);
  const quantizeWith = resolveQuantizer(model, options.quantizeWith, options.quantizeOptions);
  const names = resolveLayers(model, options.candidates).map((l) => l.name);
  const meter = await OutputMeter.create(model, options);
  const rankBy: RankBy = 'maxAccuracyDrop' in options.budget ? 'accuracy' : 'minSqnrDb' in options.budget ? 'sqnr' : 'relative';
  const sensitivity = options.sensitivity ?? (await layerSensitivity(model, { ...options, quantizeWith, quantizeOptions: undefined, candidates: names, precision: low, rankBy }, meter));
  checkReusedSensitivity(sensitivity, names, low);

  const precisions = new Map<string, LayerPrecision>(names.map((n) => [n, low]));
  const steps: MixedPrecisionStep[] = [];
  const promoted: string[] = [];
  const measure = async (candidate: ReadonlyMap<string, LayerPrecision>) => {
    const quantized = await runQuantizer(quantizeWith, candidate);
    return { ...quantized, error: await meter.measure(quantized.model) };
  };
  const record = (error: OutputError, layer?: string): boolean => {
    const step: MixedPrecisionStep = { ...(layer === undefined ? {} : { promoted: layer }), error, budgetMet: meets(error) };
    steps.push(step);
    options.onStep?.(step);
    return step.budgetMet;
  };

  let current = await measure(precisions);
  let met = record(current.error);
  const remaining = sensitivity.layers.map((l) => l.layer);
  const key = budgetKey(options.budget);
  while (!met && remaining.length > 0) {
    let choice = 0;
    let best: Awaited<ReturnType<typeof measure>> | undefined;
    if (strategy === 'greedy' && remaining.length > 1) {
      for (let i = 0; i < remaining.length; i++) {
        const trial = await measure(new Map(precisions).set(remaining[i], high));
        if (best === undefined || lexicographic(key(trial.error), key(best.error)) < 0) [best, choice] = [trial, i];
      }
    }
    const [layer] = remaining.splice(choice, 1);
    precisions.set(layer, high);
    promoted.push(layer);
    current = best ?? (await measure(precisions));
    met = record(current.error, layer);
  }

  const report = await layerReport(model, current, precisions, sensitivity.layers, high, async (layer) => (await measure(onlyLayer(names, layer, high))).error);
  return {
    precisions, model: current.model, error: current.error, budgetMet: met, promoted, steps, report, sensitivity, evaluations: meter.evaluations,
  };
}

function checkReusedSensitivity(sensitivity: SensitivityResult, names: readonly string[], low: LayerPrecision): void {
  const measured = new Set(sensitivity.layers.map((l) => l.layer));
  if (sensitivity.precision !== low || measured.size !== names.length || names.some((n) => !measured.has(n))) {
    throw new MinnowError('INVALID_ARGUMENT', `mixedPrecision: the sensitivity given was measured at ${sensitivity.precision} over [${[...measured].join(', ')}]; it must be at ${low} over [${names.join(', ')}]`);
  }
}

/**
 * A row per candidate in graph order: the quantizer's own row where it gave one (else what the QDQ
 * model shows), with the error the layer alone causes at its final precision.
 */
async function layerReport(
  floatModel: ModelProto, final: { model: ModelProto; report?: readonly LayerReport[] }, precisions: ReadonlyMap<string, LayerPrecision>,
  atLow: readonly LayerSensitivity[], high: LayerPrecision, measureAtHigh: (layer: string) => Promise<OutputError>,
): Promise<LayerReport[]> {
  const base = final.report ?? describeQuantizedLayers(floatModel, final.model, precisions);
  const rows: LayerReport[] = [];
  for (const [layer, precision] of precisions) {
    const row = base.find((r) => r.layer === layer) ?? { layer, op: atLow.find((l) => l.layer === layer)?.op ?? '?', precision };
    const promoted = precision === high && precision !== atLow.find((l) => l.layer === layer)?.precision;
    // A float override's own reason only echoes the promotion; any other note of the quantizer's is kept.
    const note = row.precision === 'float' && promoted ? undefined : row.reason;
    const reason = promoted ? [`promoted to ${high} for the error budget`, ...(note ? [note] : [])].join('; ') : note;
    let error: OutputError | undefined;
    if (precision !== 'float') error = promoted ? await measureAtHigh(layer) : atLow.find((l) => l.layer === layer);
    rows.push({ ...row, ...(reason === undefined ? {} : { reason }), ...(error === undefined ? {} : { sqnrDb: error.sqnrDb, mse: error.mse }) });
  }
  return rows;
}
