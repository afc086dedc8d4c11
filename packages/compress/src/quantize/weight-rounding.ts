import { MinnowError, quantizedRange, roundHalfToEven } from '@minnow/core';
import { upperCholeskyOfInverse } from './linalg.js';
import { paramIndexer, quantLimits, quantParams, quantizeValues, rangeOf } from './scheme.js';
import type { QuantParams, QuantScheme } from './types.js';

/**
 * How a weight's scales and codes are chosen. Round-to-nearest with min-max scales minimises
 * nothing in particular; the alternatives minimise an error:
 *
 * - clipping 'mse': each scale (per channel, tensor or block) is the one of the clipped ranges
 *   absmax x (1, 0.95, ..., 0.2, then 0.01 steps around the best) with the least squared error,
 *   the grid search of the MSE observers in GPTQ's and llm-compressor's tools. Without input statistics the error is the weights' own
 *   sum (w_q - w)^2; with them it is the error at the layer's output, sum over rows of
 *   d^T E[x x^T] d (d = w_q - w), so inputs that are large or correlated weigh more. The min-max
 *   range is a candidate, so the chosen error is never larger than min-max's.
 * - rounding 'gptq' (Frantar et al. 2022, Optimal Brain Quantization per row): columns are rounded
 *   one at a time and each rounding error is spread over the columns not yet rounded through the
 *   inverse of H = E[x x^T] + damping, so the output error w.x - w_q.x stays small over the
 *   calibration inputs. Scales are fixed before (by the clipping method, 'static groups').
 * - outputShift: the bias correction of Nagel et al. 2019 (data-free quantization): the mean
 *   change of each output channel, (W_q - W) E[x], which the caller subtracts from the bias.
 *
 * A weight is seen as rows: row m holds output channel m's weights (the output axis removed, the
 * rest row-major), which is the order of the input vector it multiplies (see onnx/layer-inputs).
 */

export type WeightClipping = 'minmax' | 'mse';
export type WeightRounding = 'nearest' | 'gptq';

/** First and second moments of the vectors a weight's rows multiply, per group of output channels. */
export interface InputMoments {
  /** Length of one input vector (a weight row's length). */
  readonly size: number;
  /** Vectors seen. */
  readonly count: number;
  /** E[x] per group. */
  readonly mean: readonly Float64Array[];
  /** max |x| per group (per element of the input vector). */
  readonly absMax: readonly Float64Array[];
  /** E[x x^T] per group, size x size row-major; undefined when not collected. */
  readonly secondMoment: readonly Float64Array[] | undefined;
}

export interface WeightProblem {
  /** For messages. */
  readonly name: string;
  readonly values: Float32Array;
  readonly dims: readonly number[];
  /** The axis of output channels. */
  readonly outputAxis: number;
  readonly scheme: QuantScheme;
  /** What the weight's rows multiply; needed by GPTQ and by output-weighted clipping. */
  readonly moments?: InputMoments;
}

export interface RoundingOptions {
  readonly clipping?: WeightClipping;
  readonly rounding?: WeightRounding;
  /** GPTQ: damping added to H's diagonal, as a fraction of its mean diagonal (default 0.01). */
  readonly damping?: number;
  /** GPTQ: round the columns of largest E[x_i^2] first (default true). */
  readonly actOrder?: boolean;
}

export interface RoundedWeight {
  readonly params: QuantParams;
  readonly codes: Int32Array;
  /** Set when a method could not be applied as asked and a simpler one was (the reason). */
  readonly note?: string;
}

/** The weight seen as rows: rowFlat[m * rowSize + j] is the flat index of row m's element j. */
interface Rows {
  readonly count: number;
  readonly size: number;
  readonly flat: Int32Array;
  /** The group of output channels each row belongs to (a grouped Conv's group). */
  readonly groupOf: (m: number) => number;
}

function rowsOf(problem: WeightProblem, groups: number): Rows {
  const { dims, outputAxis } = problem;
  const count = dims[outputAxis];
  const inner = dims.slice(outputAxis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, outputAxis).reduce((a, b) => a * b, 1);
  const size = outer * inner;
  const flat = new Int32Array(count * size);
  for (let m = 0; m < count; m++) {
    for (let a = 0; a < outer; a++) for (let b = 0; b < inner; b++) flat[m * size + a * inner + b] = (a * count + m) * inner + b;
  }
  const perGroup = count / groups;
  return { count, size, flat, groupOf: (m) => Math.floor(m / perGroup) };
}

/** Why the moments cannot weight this weight's rows, if they cannot. */
function momentsMismatch(problem: WeightProblem, needSecond: boolean): string | undefined {
  const m = problem.moments;
  if (m === undefined) return 'no input statistics for it';
  if (m.count === 0) return 'calibration never reached it';
  if (needSecond && m.secondMoment === undefined) return 'its input statistics have no second moment (input vectors too long)';
  const channels = problem.dims[problem.outputAxis];
  const size = problem.values.length / channels;
  if (m.size !== size || channels % m.mean.length !== 0) return `its rows (${size} values) do not match its input vectors (${m.size})`;
  return undefined;
}

/** Each scale group's elements, row by row: members[p] lists [row, positions in that row]. */
function groupMembers(rows: Rows, index: (flat: number) => number, groups: number): [number, number[]][][] {
  const members: [number, number[]][][] = Array.from({ length: groups }, () => []);
  for (let m = 0; m < rows.count; m++) {
    const seen = new Map<number, number[]>();
    for (let j = 0; j < rows.size; j++) {
      const p = index(rows.flat[m * rows.size + j]);
      let positions = seen.get(p);
      if (positions === undefined) {
        seen.set(p, (positions = []));
        members[p].push([m, positions]);
      }
      positions.push(j);
    }
  }
  return members;
}

/** Clip factors tried: 1 (min-max) down to 0.2 in steps of 0.05, then 0.01 steps around the best. */
const COARSE = Array.from({ length: 17 }, (_, i) => 1 - i * 0.05);

/**
 * Scales chosen by the clipping method: min-max, or per scale group the clipped range with the
 * least error (the weights' squared error, or the output error d^T E[x x^T] d when `weighted`,
 * counted within the group only: blocks of one row are judged apart).
 */
function clippedParams(problem: WeightProblem, clipping: WeightClipping, weighted: boolean): QuantParams {
  const { values, dims, scheme } = problem;
  const range = rangeOf(values, dims, scheme.granularity, problem.name);
  const minmax = quantParams(range, scheme, dims);
  if (clipping === 'minmax') return minmax;
  const index = paramIndexer(scheme.granularity, dims);
  const groups = minmax.scale.length;
  const rows = rowsOf(problem, weighted ? problem.moments!.mean.length : 1);
  const members = groupMembers(rows, index, groups);
  const { min: qmin, max: qmax } = quantizedRange(scheme.type);
  const single: QuantScheme = { ...scheme, granularity: { kind: 'tensor' } };
  const scale = Float32Array.from(minmax.scale);
  const zeroPoint = Int32Array.from(minmax.zeroPoint);
  const d = new Float64Array(rows.size);
  for (let p = 0; p < groups; p++) {
    const error = (factor: number): { error: number; scale: number; zeroPoint: number } => {
      const params = factor === 1 ? { scale: [minmax.scale[p]], zeroPoint: [minmax.zeroPoint[p]] }
        : quantParams({ min: Float32Array.of(range.min[p] * factor), max: Float32Array.of(range.max[p] * factor), granularity: { kind: 'tensor' } }, single, []);
      const [s, zp] = [params.scale[0], params.zeroPoint[0]];
      let total = 0;
      for (const [m, positions] of members[p]) {
        const h = weighted ? problem.moments!.secondMoment![rows.groupOf(m)] : undefined;
        for (let a = 0; a < positions.length; a++) {
          const w = values[rows.flat[m * rows.size + positions[a]]];
          const q = Math.min(qmax, Math.max(qmin, roundHalfToEven(Math.fround(Math.fround(w) / s)) + zp));
          d[a] = (q - zp) * s - w;
          if (h === undefined) total += d[a] * d[a];
        }
        if (h === undefined) continue;
        // d^T H d over the group's positions, from the upper triangle.
        const K = rows.size;
        for (let a = 0; a < positions.length; a++) {
          const da = d[a];
          if (da === 0) continue;
          const row = positions[a] * K;
          let cross = 0;
          for (let b = a + 1; b < positions.length; b++) cross += h[row + positions[b]] * d[b];
          total += da * (h[row + positions[a]] * da + 2 * cross);
        }
      }
      return { error: total, scale: s, zeroPoint: zp };
    };
    let best = error(1);
    let bestFactor = 1;
    const consider = (factor: number): void => {
      const e = error(factor);
      if (e.error < best.error) [best, bestFactor] = [e, factor];
    };
    for (const f of COARSE.slice(1)) consider(f);
    const centre = bestFactor;
    for (let k = -4; k <= 4; k++) {
      const f = Math.round((centre + k * 0.01) * 100) / 100;
      if (k !== 0 && f >= 0.2 && f < 1) consider(f);
    }
    scale[p] = best.scale;
    zeroPoint[p] = best.zeroPoint;
  }
  return { ...minmax, scale, zeroPoint };
}

/** Scales and codes for a weight, by the clipping and rounding asked for; falls back to what the statistics allow, with a note. */
export function roundWeight(problem: WeightProblem, options: RoundingOptions = {}): RoundedWeight {
  const clipping = options.clipping ?? 'minmax';
  const rounding = options.rounding ?? 'nearest';
  const mismatch = momentsMismatch(problem, true);
  const notes: string[] = [];
  if (mismatch !== undefined && rounding === 'gptq') notes.push(`GPTQ not applied: ${mismatch}`);
  const weighted = mismatch === undefined && problem.moments !== undefined;
  const params = clippedParams(problem, clipping, weighted);
  if (rounding === 'gptq' && mismatch === undefined) {
    const result = gptq(problem, params, options.damping ?? 0.01, options.actOrder ?? true);
    if (typeof result !== 'string') return { params, codes: result };
    notes.push(`GPTQ not applied: ${result}`);
  }
  const codes = quantizeValues(problem.values, params, problem.dims);
  return notes.length > 0 ? { params, codes, note: notes.join('; ') } : { params, codes };
}

/** GPTQ's codes, or why the Hessian could not be inverted. */
function gptq(problem: WeightProblem, params: QuantParams, damping: number, actOrder: boolean): Int32Array | string {
  if (!(damping >= 0)) throw new MinnowError('INVALID_ARGUMENT', `quantize: GPTQ damping must be 0 or more, got ${damping}`);
  const moments = problem.moments!;
  const rows = rowsOf(problem, moments.mean.length);
  const K = rows.size;
  const index = paramIndexer(params.scheme.granularity, problem.dims);
  // The scheme's grid (symmetric int8 stops at -127), which the updated weights may overrun.
  const { qmin, qmax } = quantLimits(params.scheme);
  const codes = new Int32Array(problem.values.length);
  const w = new Float64Array(K);
  for (let group = 0; group < moments.mean.length; group++) {
    const h = Float64Array.from(moments.secondMoment![group]);
    let trace = 0;
    for (let i = 0; i < K; i++) trace += h[i * K + i];
    // An input that was always 0 has no say in the output error: give it a unit diagonal.
    for (let i = 0; i < K; i++) if (h[i * K + i] === 0) h[i * K + i] = 1;
    const order = Array.from({ length: K }, (_, i) => i);
    if (actOrder) order.sort((a, b) => h[b * K + b] - h[a * K + a] || a - b);
    const permuted = new Float64Array(K * K);
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) permuted[i * K + j] = h[order[i] * K + order[j]];
    let u: Float64Array | undefined;
    // More damping until H + lambda I factors (a singular H from few calibration vectors).
    for (let tries = 0, lambda = Math.max(damping, 1e-8) * Math.max(trace / K, 1e-12); u === undefined && tries < 4; tries++, lambda *= 10) {
      const damped = Float64Array.from(permuted);
      for (let i = 0; i < K; i++) damped[i * K + i] += lambda;
      u = upperCholeskyOfInverse(damped, K);
    }
    if (u === undefined) return 'its input second moment is not positive definite even damped';
    for (let m = 0; m < rows.count; m++) {
      if (rows.groupOf(m) !== group) continue;
      for (let t = 0; t < K; t++) w[t] = problem.values[rows.flat[m * K + order[t]]];
      for (let t = 0; t < K; t++) {
        const flat = rows.flat[m * K + order[t]];
        const p = index(flat);
        const s = params.scale[p];
        const zp = params.zeroPoint[p];
        const q = Math.min(qmax, Math.max(qmin, roundHalfToEven(Math.fround(Math.fround(w[t]) / s)) + zp));
        codes[flat] = q;
        const e = (w[t] - (q - zp) * s) / u[t * K + t];
        for (let v = t + 1, row = t * K; v < K; v++) w[v] -= e * u[row + v];
      }
    }
  }
  return codes;
}

/** Per output channel, the mean change of its output (W_q - W) E[x] over the calibration inputs; undefined without first moments that fit. */
export function outputShift(problem: WeightProblem, rounded: RoundedWeight): Float64Array | undefined {
  if (momentsMismatch(problem, false) !== undefined) return undefined;
  const moments = problem.moments!;
  const rows = rowsOf(problem, moments.mean.length);
  const index = paramIndexer(rounded.params.scheme.granularity, problem.dims);
  const shift = new Float64Array(rows.count);
  for (let m = 0; m < rows.count; m++) {
    const mean = moments.mean[rows.groupOf(m)];
    let s = 0;
    for (let j = 0; j < rows.size; j++) {
      const flat = rows.flat[m * rows.size + j];
      const p = index(flat);
      s += ((rounded.codes[flat] - rounded.params.zeroPoint[p]) * rounded.params.scale[p] - problem.values[flat]) * mean[j];
    }
    shift[m] = s;
  }
  return shift;
}
