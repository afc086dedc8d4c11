import { MinnowError } from '@minnow/core';
import type { Observer, QuantScheme, TensorRange } from '../types.js';
import { quantLimits } from '../scheme.js';
import { checkLength } from './minmax.js';
import { batchExtrema, noData } from './scan.js';
import { entropyRange, mseRange, percentileRange, type HistogramSnapshot } from './thresholds.js';

/**
 * A histogram observer with a fixed number of bins, so its memory is the same after ten batches
 * or ten million. The bins cover [-T, T] (centred on 0, so the entropy search can grow windows
 * around zero as TensorRT and onnxruntime do). The first batch sets T to its largest magnitude;
 * a later batch that reaches beyond T widens the range by an integer factor k, and the old
 * histogram is re-binned exactly by summing each run of k adjacent bins into one (PyTorch's
 * HistogramObserver does the same), so no count is ever re-estimated. onnxruntime instead adds
 * bins as the range grows, which is why its calibration memory grows with the data (#11020).
 *
 * The clipping range is picked from the histogram by one of three methods: the percentile of
 * values to keep, the KL-divergence (entropy) threshold search, or the range that minimises the
 * expected squared error of quantizing (rounding inside the range plus clipping outside it).
 * Every method's range is finally clipped to the exact min and max observed.
 */

export type HistogramMethod = 'percentile' | 'entropy' | 'mse';

/** The quantization a calibrated range is meant for: the entropy and MSE searches optimise for it. */
export type QuantTarget = Pick<QuantScheme, 'type' | 'symmetric' | 'reduceRange'>;

export interface HistogramObserverOptions {
  readonly method: HistogramMethod;
  /** The tensor observed, named in errors. */
  readonly name?: string;
  /** Number of bins, an even number >= 16 (default 2048). */
  readonly bins?: number;
  /** Percentile method: the fraction of values inside the range (default 0.9999). */
  readonly percentile?: number;
  /** What the range will quantize to (default uint8, affine, as onnxruntime quantizes activations). */
  readonly target?: QuantTarget;
  /**
   * Entropy method: the levels the reference distribution is quantized to (default 128 for
   * 8-bit targets as TensorRT and onnxruntime use, 64 with reduceRange, 8 for 4-bit ones; at
   * most bins / 2).
   */
  readonly quantizedBins?: number;
}

const DEFAULT_TARGET: QuantTarget = { type: 'uint8', symmetric: false };

export class HistogramObserver implements Observer {
  readonly name: string;
  readonly method: HistogramMethod;
  readonly target: QuantTarget;
  readonly percentile: number;
  readonly quantizedBins: number;
  private readonly counts: Float64Array;
  /** Half-width of the histogram: bins cover [-threshold, threshold]. 0 until a non-zero value is seen. */
  private threshold = 0;
  private min = Infinity;
  private max = -Infinity;
  private total = 0;
  /** Values seen while the threshold is 0 (they are all exactly 0). */
  private zeros = 0;

  constructor(options: HistogramObserverOptions) {
    this.name = options.name ?? 'tensor';
    this.method = options.method;
    if (!['percentile', 'entropy', 'mse'].includes(this.method)) {
      throw new MinnowError('INVALID_ARGUMENT', `calibration: unknown histogram method '${String(this.method)}' (percentile, entropy or mse)`);
    }
    const bins = options.bins ?? 2048;
    if (!Number.isInteger(bins) || bins < 16 || bins % 2 !== 0) {
      throw new MinnowError('INVALID_ARGUMENT', `calibration: bins must be an even integer >= 16, got ${bins}`);
    }
    this.target = options.target ?? DEFAULT_TARGET;
    quantLimits(this.target);
    this.percentile = options.percentile ?? 0.9999;
    if (!(this.percentile > 0 && this.percentile <= 1)) {
      throw new MinnowError('INVALID_ARGUMENT', `calibration: percentile is the fraction of values to keep, in (0, 1]; got ${this.percentile}`);
    }
    this.quantizedBins = options.quantizedBins ?? Math.min(defaultQuantizedBins(this.target), bins / 2);
    if (!Number.isInteger(this.quantizedBins) || this.quantizedBins < 2 || this.quantizedBins > bins / 2) {
      throw new MinnowError('INVALID_ARGUMENT', `calibration: quantizedBins must be an integer in [2, bins / 2 = ${bins / 2}], got ${this.quantizedBins}`);
    }
    this.counts = new Float64Array(bins);
  }

  get bins(): number {
    return this.counts.length;
  }

  /** The histogram's own array plus its six numbers; nothing else is kept between batches. */
  get bytes(): number {
    return this.counts.byteLength + 6 * 8;
  }

  observe(values: Float32Array, shape: readonly number[]): void {
    checkLength(this.name, values, shape);
    if (values.length === 0) return;
    const { min, max } = batchExtrema(this.name, values, shape);
    this.min = Math.min(this.min, min);
    this.max = Math.max(this.max, max);
    this.total += values.length;
    const magnitude = Math.max(-min, max);
    if (this.threshold === 0) {
      if (magnitude === 0) {
        this.zeros += values.length;
        return;
      }
      this.threshold = magnitude;
      this.counts[this.binOf(0)] += this.zeros;
      this.zeros = 0;
    } else if (magnitude > this.threshold) {
      this.widen(magnitude);
    }
    const bins = this.counts.length;
    const t = this.threshold;
    const perUnit = bins / (2 * t);
    for (let i = 0; i < values.length; i++) {
      let b = Math.floor((values[i] + t) * perUnit);
      if (b >= bins) b = bins - 1;
      else if (b < 0) b = 0;
      this.counts[b]++;
    }
  }

  range(): TensorRange {
    if (this.total === 0) throw noData(this.name);
    const granularity = { kind: 'tensor' } as const;
    if (this.threshold === 0) return { min: new Float32Array(1), max: new Float32Array(1), granularity };
    const snapshot: HistogramSnapshot = { counts: this.counts, threshold: this.threshold, min: this.min, max: this.max, total: this.total };
    let picked: { min: number; max: number };
    switch (this.method) {
      case 'percentile':
        picked = percentileRange(snapshot, this.percentile, this.target.symmetric);
        break;
      case 'entropy':
        picked = entropyRange(snapshot, this.quantizedBins);
        break;
      case 'mse': {
        const { qmin, qmax } = quantLimits(this.target);
        picked = mseRange(snapshot, qmax - qmin, this.target.symmetric);
        break;
      }
    }
    const lo = Math.max(this.min, Math.min(picked.min, 0));
    const hi = Math.min(this.max, Math.max(picked.max, 0));
    return { min: Float32Array.of(lo), max: Float32Array.of(hi), granularity };
  }

  /** A copy of the counts and the range they cover (for reports and tests). */
  histogram(): { counts: Float64Array; threshold: number; min: number; max: number; total: number } {
    return { counts: this.counts.slice(), threshold: this.threshold, min: this.min, max: this.max, total: this.total };
  }

  private binOf(v: number): number {
    const bins = this.counts.length;
    return Math.min(bins - 1, Math.max(0, Math.floor(((v + this.threshold) * bins) / (2 * this.threshold))));
  }

  /**
   * Grows [-T, T] to [-kT, kT] with the smallest integer k that covers `magnitude`. In units of the
   * old bin width the new bins are k wide and start (k - 1) * bins / 2 units left of the old
   * first bin; with an even bin count that offset is whole, so every old bin falls inside exactly
   * one new bin and the merge is exact.
   */
  private widen(magnitude: number): void {
    const t = this.threshold;
    let k = Math.ceil(magnitude / t);
    while (k * t < magnitude) k++;
    const bins = this.counts.length;
    const old = this.counts.slice();
    this.counts.fill(0);
    const offset = ((k - 1) * bins) / 2;
    for (let i = 0; i < bins; i++) {
      if (old[i] !== 0) this.counts[Math.floor((offset + i) / k)] += old[i];
    }
    this.threshold = k * t;
  }
}

function defaultQuantizedBins(target: QuantTarget): number {
  const { qmin, qmax } = quantLimits(target);
  // Half the levels, rounded to a power of two: 128 for 8 bits (onnxruntime's and TensorRT's default), 8 for 4 bits.
  return 2 ** Math.floor(Math.log2((qmax - qmin + 1) / 2));
}
