import { MinnowError } from '@minnow/core';
import type { Histogram } from './types.js';

/**
 * Histograms of weight values for the report. Two histograms drawn on one chart (a weight before
 * and after quantization) must share their bins, so the range can be given; by default it is the
 * finite values' own range.
 */

export const DEFAULT_BINS = 48;

export interface HistogramOptions {
  /** Number of equal-width bins, a positive integer (default 48). */
  readonly bins?: number;
  /** The binned range; values outside it go to the first or last bin. Default: the values' finite min and max. */
  readonly min?: number;
  readonly max?: number;
}

/** The finite min and max over several arrays (undefined when none has a finite value). */
export function finiteRange(...arrays: readonly ArrayLike<number>[]): { min: number; max: number } | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const values of arrays) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return Number.isFinite(min) && Number.isFinite(max) ? { min, max } : undefined;
}

/**
 * Counts `values` in equal-width bins. A range of one value (all weights equal) gets a width of 1
 * around it, so the bins stay drawable; with no finite value the histogram has empty bins over
 * [0, 1] and `total` 0, which the renderer shows as "no data".
 */
export function histogram(values: ArrayLike<number>, options: HistogramOptions = {}): Histogram {
  const bins = options.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < 1) throw new MinnowError('INVALID_ARGUMENT', `report: histogram bins must be a positive integer, got ${bins}`);
  const own = finiteRange(values);
  let min = options.min ?? own?.min ?? 0;
  let max = options.max ?? own?.max ?? 1;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new MinnowError('INVALID_ARGUMENT', `report: histogram range [${min}, ${max}] must be finite with min <= max`);
  }
  if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  const counts = new Array<number>(bins).fill(0);
  const width = (max - min) / bins;
  let total = 0;
  let zeros = 0;
  let nonFinite = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    const bin = Math.min(bins - 1, Math.max(0, Math.floor((v - min) / width)));
    counts[bin]++;
    total++;
    if (v === 0) zeros++;
  }
  return { min, max, counts, total, zeros, nonFinite };
}

/** Signal-to-noise ratio of `approx` against `exact`, dB: Infinity when they are equal, NaN when lengths differ or nothing is finite. */
export function sqnrDb(exact: ArrayLike<number>, approx: ArrayLike<number>): number {
  if (exact.length !== approx.length || exact.length === 0) return NaN;
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < exact.length; i++) {
    signal += exact[i] * exact[i];
    noise += (exact[i] - approx[i]) ** 2;
  }
  if (!Number.isFinite(signal) || !Number.isFinite(noise)) return NaN;
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}
