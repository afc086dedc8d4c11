/**
 * What a compression report shows, as plain data: commands fill it in as they run (collect.ts has
 * helpers that build the parts from minnow's own objects), renderReport() turns it into one HTML
 * page, and it serialises to JSON as it is (no class instances, no typed arrays), so a report can
 * be kept and rendered again later.
 */

/** What a step of the main job did. */
export type StepKind = 'train' | 'distill' | 'prune' | 'quantize' | 'convert' | 'export';

export const STEP_KINDS: readonly StepKind[] = ['train', 'distill', 'prune', 'quantize', 'convert', 'export'];

/** One model the job produced, with what it cost and what it kept. */
export interface ReportStep {
  /** What people call the model after this step ('teacher', 'student int8'). */
  readonly name: string;
  readonly kind: StepKind;
  /** Parameters (weights) of the model after the step. */
  readonly params: number;
  /** Bytes of the model on disk after the step. */
  readonly bytes: number;
  /** Fraction of evaluation samples classified correctly, in [0, 1] (with labels). */
  readonly accuracy?: number;
  /** Fraction of samples whose top class agrees with the original model's, in [0, 1] (without labels). */
  readonly agreement?: number;
  /** Wall-clock seconds the step took. */
  readonly seconds: number;
  /** One line on what the step did ('50% of weights pruned, per layer'). */
  readonly note?: string;
}

/** A loss curve: [x, loss] points, x increasing (optimiser steps or epochs). */
export interface ReportCurve {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Curves with the same chart title are drawn together (default 'Loss'). */
  readonly chart?: string;
  /** What x counts (default 'step'). */
  readonly xLabel?: string;
}

/**
 * Counts of values in equal-width bins over [min, max]: bin i holds [min + i w, min + (i + 1) w),
 * the last bin also holds max. Values that are NaN or infinite are counted apart, never binned.
 */
export interface Histogram {
  readonly min: number;
  readonly max: number;
  readonly counts: readonly number[];
  /** Finite values binned (the sum of counts). */
  readonly total: number;
  /** Values exactly zero among them (pruned weights show up here). */
  readonly zeros: number;
  /** NaN and infinite values, not binned. */
  readonly nonFinite: number;
}

/** How a quantized weight's scales are laid out. */
export type GridGranularity = 'tensor' | 'channel' | 'block';

/**
 * A weight's quantization grid: the values its integers stand for, (q - zeroPoint) * scale for q in
 * [qmin, qmax]. Per channel or per block there is one grid per scale; `scale` and `zeroPoint` are
 * then those of the channel or block holding the largest weight (whose grid spans the histogram),
 * and `scales` sums up the rest.
 */
export interface QuantGrid {
  readonly bits: number;
  readonly signed: boolean;
  readonly qmin: number;
  readonly qmax: number;
  readonly scale: number;
  readonly zeroPoint: number;
  readonly granularity: GridGranularity;
  /** Per channel: the axis; per block: the axis the blocks run along. */
  readonly axis?: number;
  readonly blockSize?: number;
  /** How many scales the weight has, and their range. */
  readonly scales: { readonly count: number; readonly min: number; readonly max: number };
  /** Where the grid was read: the quantized model's stored scales, or only the quantizer's report (no after histogram then). */
  readonly source: 'model' | 'report';
}

/** The error a layer alone causes when it is quantized and every other layer stays float. */
export interface LayerSensitivityFigures {
  readonly precision: string;
  /** Signal-to-quantization-noise ratio at the outputs, dB (Infinity when the outputs are identical). */
  readonly sqnrDb: number;
  readonly mse: number;
  /** Float accuracy minus the accuracy with this layer quantized, in percentage points (with labels). */
  readonly accuracyDrop?: number;
}

/** One layer, as far as the steps that ran can say. */
export interface ReportLayer {
  /** The layer's name (the ONNX node's, or the module path of its weight). */
  readonly name: string;
  /** The name of its weight tensor (an ONNX initialiser or a module parameter): how records from different steps are matched. */
  readonly weight?: string;
  readonly op?: string;
  /** Elements of the weight. */
  readonly params?: number;
  /** 'float', 'int8', 'int4' ... after quantization. */
  readonly precision?: string;
  /** The float weight's values. */
  readonly before?: Histogram;
  /** The quantized weight's values as they dequantize, over the same bins as `before`. */
  readonly after?: Histogram;
  readonly grid?: QuantGrid;
  /** Signal-to-noise ratio of the quantized weight against the float one, dB. */
  readonly weightSqnrDb?: number;
  /** Fraction of the weight that is zero after pruning, in [0, 1]. */
  readonly sparsity?: number;
  readonly sensitivity?: LayerSensitivityFigures;
}

export interface ReportData {
  readonly title: string;
  /** ISO 8601 time the report was made. */
  readonly createdAt?: string;
  /** The steps in the order they ran. */
  readonly steps: readonly ReportStep[];
  readonly curves: readonly ReportCurve[];
  readonly layers: readonly ReportLayer[];
  /** Lines for people: warnings, what was skipped and why. */
  readonly notes: readonly string[];
  /** Where it ran: Node version, backend and its build, minnow version, machine. */
  readonly environment: Readonly<Record<string, string>>;
}
