import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Random } from '@minnow/core';
import {
  createObserver, dequantizeValues, type HistogramMethod, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, type Observer,
  quantizeValues, quantParams, type QuantScheme,
} from '@minnow/compress';
import { expectMinnowError, rng, runs } from '../helpers/reference.js';

/**
 * Calibration observers: min-max (per tensor and per channel) and its moving average against
 * plain references; the histogram observer's exact merging, fixed memory, and its three ways of
 * picking a range (percentile, entropy against an independent transcription of the TensorRT /
 * MXNet search, MSE against the real quantization error); NaN, Inf and no data refused.
 */

function batchesOf(seed: number, count: number, length: number, draw: (r: () => number, b: number) => number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, b) => Float32Array.from({ length }, () => draw(r, b)));
}

const gaussian = (random: Random, sigma = 1): number => sigma * random.normal();

describe('min-max observers', () => {
  it('keep the exact extremes, per tensor and per channel', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (seed) => {
      const r = rng(seed);
      const shape = [1 + Math.floor(r() * 4), 1 + Math.floor(r() * 5), 1 + Math.floor(r() * 3)];
      const batches = batchesOf(seed, 1 + Math.floor(r() * 4), shape[0] * shape[1] * shape[2], (u) => Math.fround((u() - 0.3) * 10));
      const whole = new MinMaxObserver({ name: 'x' });
      const channels = new MinMaxObserver({ name: 'x', axis: -2 });
      for (const b of batches) {
        whole.observe(b, shape);
        channels.observe(b, shape);
      }
      const all = batches.flatMap((b) => Array.from(b));
      expect(whole.range().min[0]).toBe(Math.min(...all));
      expect(whole.range().max[0]).toBe(Math.max(...all));
      const perChannel = channels.range();
      expect(perChannel.granularity).toEqual({ kind: 'axis', axis: 1 });
      for (let c = 0; c < shape[1]; c++) {
        const mine = batches.flatMap((b) => Array.from(b).filter((_, i) => Math.floor(i / shape[2]) % shape[1] === c));
        expect(perChannel.min[c]).toBe(Math.min(...mine));
        expect(perChannel.max[c]).toBe(Math.max(...mine));
      }
    }), runs(7201, 100));
  });

  it('moving average: the first batch sets the range, later ones move it by the averaging constant', () => {
    const observer = new MovingAverageMinMaxObserver({ name: 'act', averagingConstant: 0.25 });
    observer.observe(Float32Array.of(-1, 2), [2]);
    observer.observe(Float32Array.of(-5, 10), [2]);
    observer.observe(Float32Array.of(0, 1), [2]);
    const min = -1 + 0.25 * (-5 - -1);
    const max = 2 + 0.25 * (10 - 2);
    expect(observer.range().min[0]).toBeCloseTo(min + 0.25 * (0 - min), 6);
    expect(observer.range().max[0]).toBeCloseTo(max + 0.25 * (1 - max), 6);
    expectMinnowError(() => new MovingAverageMinMaxObserver({ averagingConstant: 0 }), 'INVALID_ARGUMENT', 'averagingConstant');
  });

  it('refuse a change in the channel count', () => {
    const observer = new MinMaxObserver({ name: 'conv1.output', axis: 1 });
    observer.observe(new Float32Array(6), [1, 3, 2]);
    expectMinnowError(() => observer.observe(new Float32Array(8), [1, 4, 2]), 'SHAPE_MISMATCH', "'conv1.output'", '4 channels');
  });
});

describe('bad data', () => {
  const kinds: [string, () => Observer][] = [
    ['minmax', () => createObserver({ method: 'minmax', name: 'layer3.out' })],
    ['per channel', () => createObserver({ method: 'minmax', name: 'layer3.out', axis: 0 })],
    ['moving-average', () => createObserver({ method: 'moving-average', name: 'layer3.out' })],
    ...(['percentile', 'entropy', 'mse'] as const).map((method): [string, () => Observer] => [method, () => createObserver({ method, name: 'layer3.out' })]),
  ];

  it('NaN and Inf are refused with a MinnowError naming the tensor and the element', () => {
    for (const [kind, make] of kinds) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const observer = make();
        observer.observe(Float32Array.of(1, 2, 3, 4), [2, 2]);
        const error = expectMinnowError(() => observer.observe(Float32Array.of(1, 2, bad, 4), [2, 2]), 'INVALID_ARGUMENT', "'layer3.out'", String(bad), 'element 2');
        expect(error.message, kind).toContain('finite');
      }
    }
  });

  it('an observer that saw no element has no range', () => {
    for (const [kind, make] of kinds) {
      const observer = make();
      expectMinnowError(() => observer.range(), 'INVALID_ARGUMENT', "'layer3.out'", 'no data');
      if (kind !== 'per channel') observer.observe(new Float32Array(0), [0, 4]);
      expectMinnowError(() => observer.range(), 'INVALID_ARGUMENT', 'no data');
    }
  });

  it('unknown methods, per-channel histograms and bad options are refused', () => {
    expectMinnowError(() => createObserver({ method: 'kl' as never }), 'INVALID_ARGUMENT', "'kl'");
    expectMinnowError(() => createObserver({ method: 'entropy', axis: 0 }), 'INVALID_ARGUMENT', 'per tensor');
    expectMinnowError(() => new HistogramObserver({ method: 'mse', bins: 101 }), 'INVALID_ARGUMENT', 'even');
    expectMinnowError(() => new HistogramObserver({ method: 'percentile', percentile: 99.99 }), 'INVALID_ARGUMENT', 'fraction');
  });
});

describe('histogram observer', () => {
  it('holds the same bytes after 10 and after 1000 batches, whatever the range does', () => {
    for (const method of ['percentile', 'entropy', 'mse'] as HistogramMethod[]) {
      const observer = new HistogramObserver({ method, name: 'x' });
      const random = new Random(11);
      const bytes: number[] = [];
      for (let b = 1; b <= 1000; b++) {
        // Magnitudes grow with the batch number, so the range widens many times.
        observer.observe(Float32Array.from({ length: 256 }, () => gaussian(random, 1 + b / 10)), [256]);
        if (b === 10 || b === 1000) bytes.push(observer.bytes);
      }
      expect(bytes[0], method).toBe(bytes[1]);
      expect(bytes[0]).toBe(2048 * 8 + 48);
      expect(observer.histogram().total).toBe(256_000);
    }
  });

  it('merges exactly: a widened histogram equals binning every value at the final range', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (seed) => {
      const r = rng(seed);
      const bins = 2 * (8 + Math.floor(r() * 60));
      const observer = new HistogramObserver({ method: 'percentile', bins, name: 'x' });
      const batches = batchesOf(seed, 2 + Math.floor(r() * 6), 40, (u, b) => Math.fround((u() - 0.4) * (b === 0 ? 0 : 3 ** b)));
      for (const b of batches) observer.observe(b, [b.length]);
      const { counts, threshold } = observer.histogram();
      const direct = new Float64Array(bins);
      let nearEdge = 0;
      for (const v of batches.flatMap((b) => Array.from(b))) {
        const position = ((v + threshold) * bins) / (2 * threshold);
        if (Math.abs(position - Math.round(position)) < 1e-9 * bins) nearEdge++;
        direct[Math.min(bins - 1, Math.max(0, Math.floor(position)))]++;
      }
      const moved = counts.reduce((s, c, i) => s + Math.abs(c - direct[i]), 0);
      expect(moved).toBeLessThanOrEqual(2 * nearEdge);
    }), runs(7202, 100));
  });

  it('percentile: keeps at least the fraction asked for, per tail (affine) or by magnitude (symmetric)', () => {
    const random = new Random(5);
    const values = Float32Array.from({ length: 100_000 }, () => (random.uniform() < 0.5 ? gaussian(random) : 3 + 0.5 * gaussian(random)));
    for (const symmetric of [false, true]) {
      const observer = new HistogramObserver({ method: 'percentile', percentile: 0.99, target: { type: 'int8', symmetric } });
      for (let i = 0; i < values.length; i += 1000) observer.observe(values.subarray(i, i + 1000), [1000]);
      const { min, max } = observer.range();
      const inside = values.filter((v) => v >= min[0] && v <= max[0]).length / values.length;
      expect(inside).toBeGreaterThanOrEqual(0.99);
      expect(inside).toBeLessThan(0.995);
      const sorted = Float32Array.from(values).sort();
      if (!symmetric) {
        expect(min[0]).toBeCloseTo(sorted[Math.floor(0.005 * values.length)], 1);
        expect(max[0]).toBeCloseTo(sorted[Math.ceil(0.995 * values.length)], 1);
      }
    }
  });

  it('entropy: picks the threshold an independent transcription of the TensorRT/MXNet search picks', () => {
    for (const seed of [1, 2, 3]) {
      const random = new Random(seed);
      const observer = new HistogramObserver({ method: 'entropy', bins: 256, quantizedBins: 32, name: 'x' });
      for (let b = 0; b < 20; b++) {
        observer.observe(Float32Array.from({ length: 500 }, () => (random.uniform() < 0.002 ? 40 * gaussian(random) : gaussian(random) + seed - 2)), [500]);
      }
      const h = observer.histogram();
      const [lo, hi] = referenceEntropyThreshold(Array.from(h.counts), h.threshold, 32);
      const range = observer.range();
      expect(range.min[0]).toBe(Math.fround(Math.max(lo, h.min)));
      expect(range.max[0]).toBe(Math.fround(Math.min(hi, h.max)));
      // The outliers are clipped away: the range is far inside the extremes.
      expect(range.max[0]).toBeLessThan(h.max / 2);
    }
  });

  it('mse: the chosen range quantizes the data as well as the best of a brute-force search, and beats min-max (by half at 4 bits)', () => {
    const random = new Random(9);
    const values = Float32Array.from({ length: 20_000 }, () => (random.uniform() < 0.001 ? 60 * random.uniform() : Math.abs(gaussian(random))));
    for (const [type, symmetric] of [['uint8', false], ['int8', true], ['uint4', false]] as const) {
      const scheme: QuantScheme = { type, symmetric, granularity: { kind: 'tensor' } };
      const observer = new HistogramObserver({ method: 'mse', target: scheme });
      const minmax = new MinMaxObserver();
      for (let i = 0; i < values.length; i += 2000) {
        observer.observe(values.subarray(i, i + 2000), [2000]);
        minmax.observe(values.subarray(i, i + 2000), [2000]);
      }
      const chosen = quantizationError(values, observer.range().min[0], observer.range().max[0], scheme);
      let best = Infinity;
      for (let hi = 0.25; hi <= 60; hi *= 1.05) best = Math.min(best, quantizationError(values, 0, hi, scheme));
      expect(chosen, `${type}`).toBeLessThan(best * 1.1);
      // Rare outliers cost little rounding at 8 bits, so min-max is near optimal there; at 4 bits clipping pays.
      const minmaxError = quantizationError(values, minmax.range().min[0], minmax.range().max[0], scheme);
      expect(chosen).toBeLessThan(minmaxError * (type === 'uint4' ? 0.6 : 1));
    }
  });

  it('a tensor of zeros has the range [0, 0]; zeros seen before the first non-zero value are kept', () => {
    const observer = new HistogramObserver({ method: 'percentile', percentile: 0.5, name: 'z' });
    observer.observe(new Float32Array(100), [100]);
    expect(Array.from(observer.range().max)).toEqual([0]);
    observer.observe(Float32Array.of(5, 5, 5), [3]);
    expect(observer.histogram().total).toBe(103);
    expect(observer.range().max[0]).toBeLessThan(0.1);
  });
});

/** Mean squared error of quantizing `values` with the range [lo, hi] under `scheme`. */
function quantizationError(values: Float32Array, lo: number, hi: number, scheme: QuantScheme): number {
  const params = quantParams({ min: Float32Array.of(lo), max: Float32Array.of(hi), granularity: { kind: 'tensor' } }, scheme, [values.length]);
  const restored = dequantizeValues(quantizeValues(values, params, [values.length]), params, [values.length]);
  return values.reduce((s, v, i) => s + (v - restored[i]) ** 2, 0) / values.length;
}

/**
 * The threshold search as MXNet's _get_optimal_threshold writes it (which onnxruntime's
 * get_entropy_threshold follows), transcribed with plain arrays and slices: a second,
 * independent reading of the algorithm for the observer to agree with.
 */
function referenceEntropyThreshold(hist: number[], threshold: number, quantizedBins: number): [number, number] {
  const bins = hist.length;
  const edges = Array.from({ length: bins + 1 }, (_, i) => -threshold + (i * 2 * threshold) / bins);
  const zero = Math.floor(bins / 2);
  const half = Math.floor(quantizedBins / 2);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const smooth = (p: number[]): number[] | null => {
    const zeros = p.filter((v) => v === 0).length;
    const nonZeros = p.length - zeros;
    if (nonZeros === 0) return null;
    const eps1 = (1e-4 * zeros) / nonZeros;
    const out = p.map((v) => (v === 0 ? 1e-4 : v - eps1));
    return out.some((v) => v <= 0) ? null : out;
  };
  let best = Infinity;
  let result: [number, number] = [edges[0], edges[bins]];
  for (let i = half; i <= zero; i++) {
    const start = zero - i;
    const stop = Math.min(zero + i + 1, bins);
    const sliced = hist.slice(start, stop);
    const p = [...sliced];
    p[0] += sum(hist.slice(0, start));
    p[p.length - 1] += sum(hist.slice(stop));
    const merged = Math.floor(sliced.length / quantizedBins);
    const q = new Array<number>(sliced.length).fill(0);
    for (let j = 0; j < quantizedBins; j++) {
      const from = j * merged;
      const to = j === quantizedBins - 1 ? sliced.length : from + merged;
      const mass = sum(sliced.slice(from, to));
      const norm = p.slice(from, to).filter((v) => v !== 0).length;
      for (let k = from; k < to; k++) q[k] = norm === 0 || p[k] === 0 ? 0 : mass / norm;
    }
    const ps = smooth(p);
    const qs = smooth(q);
    let kl = Infinity;
    if (ps && qs) {
      const pt = sum(ps);
      const qt = sum(qs);
      kl = ps.reduce((s, v, k) => s + (v / pt) * Math.log(v / pt / (qs[k] / qt)), 0);
    }
    if (kl < best) {
      best = kl;
      result = [edges[start], edges[stop]];
    }
  }
  return result;
}
