/**
 * Picking a clipping range from a histogram over [-threshold, threshold]: by percentile, by the
 * KL-divergence (entropy) search of TensorRT and onnxruntime, or by the smallest expected squared
 * quantization error. Each returns a raw [min, max] that the observer then clips to the exact
 * extremes it saw. Candidate ranges end on bin edges.
 */

export interface HistogramSnapshot {
  readonly counts: Float64Array;
  readonly threshold: number;
  readonly min: number;
  readonly max: number;
  readonly total: number;
}

const edge = (h: HistogramSnapshot, i: number): number => -h.threshold + (i * 2 * h.threshold) / h.counts.length;

/**
 * The narrowest range holding at least `fraction` of the values. Symmetric targets get [-t, t]
 * (the fraction measured on magnitudes); affine ones cut (1 - fraction) / 2 from each tail.
 * A cut ends on the bin edge that keeps the whole bin where the percentile falls, so the range
 * never holds less than asked (onnxruntime takes that bin's lower edge, which can).
 */
export function percentileRange(h: HistogramSnapshot, fraction: number, symmetric: boolean): { min: number; max: number } {
  const { counts, total } = h;
  const bins = counts.length;
  const half = bins / 2;
  const tolerance = total * 1e-12;
  if (symmetric) {
    let inside = 0;
    for (let k = 1; k <= half; k++) {
      inside += counts[half - k] + counts[half + k - 1];
      if (inside >= fraction * total - tolerance) return { min: edge(h, half - k), max: edge(h, half + k) };
    }
    return { min: -h.threshold, max: h.threshold };
  }
  const cut = ((1 - fraction) / 2) * total;
  let lo = 0;
  for (let cumulative = 0; lo < bins - 1; lo++) {
    cumulative += counts[lo];
    if (cumulative > cut + tolerance) break;
  }
  let hi = bins - 1;
  for (let cumulative = 0; hi > 0; hi--) {
    cumulative += counts[hi];
    if (cumulative > cut + tolerance) break;
  }
  return { min: edge(h, lo), max: edge(h, hi + 1) };
}

/**
 * The KL-divergence threshold search (TensorRT's entropy calibration, as onnxruntime's
 * HistogramCollector.get_entropy_threshold and MXNet run it): for windows of 2i + 1 bins around
 * the bin holding 0, i from quantizedBins / 2 to bins / 2, the reference distribution p is the
 * window with the outliers on each side added to its end bins; the candidate q merges the window
 * into `quantizedBins` levels and spreads each level back evenly over the bins where p is not
 * zero. Both are smoothed (zeros raised by 1e-4, the mass taken from the non-zero bins), and the
 * window with the smallest KL(p || q) gives the range. Where onnxruntime builds q in an integer
 * array (truncating each share) and leaves bins past the last whole level at zero, this follows
 * MXNet and TensorRT: float shares, and the last level runs to the end of the window.
 */
export function entropyRange(h: HistogramSnapshot, quantizedBins: number): { min: number; max: number } {
  const { counts } = h;
  const bins = counts.length;
  const zeroBin = bins / 2;
  const prefix = new Float64Array(bins + 1);
  for (let i = 0; i < bins; i++) prefix[i + 1] = prefix[i] + counts[i];
  const p = new Float64Array(bins + 1);
  const q = new Float64Array(bins + 1);
  let best = Infinity;
  let bestStart = 0;
  let bestEnd = bins;
  for (let i = Math.floor(quantizedBins / 2); i <= zeroBin; i++) {
    const start = zeroBin - i;
    const end = Math.min(zeroBin + i + 1, bins);
    const size = end - start;
    for (let j = 0; j < size; j++) p[j] = counts[start + j];
    p[0] += prefix[start];
    p[size - 1] += prefix[bins] - prefix[end];
    const merged = Math.floor(size / quantizedBins);
    for (let level = 0; level < quantizedBins; level++) {
      const from = level * merged;
      const to = level === quantizedBins - 1 ? size : from + merged;
      const mass = prefix[start + to] - prefix[start + from];
      let nonZero = 0;
      for (let j = from; j < to; j++) if (p[j] !== 0) nonZero++;
      const share = nonZero === 0 ? 0 : mass / nonZero;
      for (let j = from; j < to; j++) q[j] = p[j] === 0 ? 0 : share;
    }
    const divergence = smoothedKl(p, q, size);
    if (divergence < best) {
      best = divergence;
      bestStart = start;
      bestEnd = end;
    }
  }
  return { min: edge(h, bestStart), max: edge(h, bestEnd) };
}

const SMOOTHING = 1e-4;

/** KL(p || q) of the first `size` entries after onnxruntime's smooth_distribution of each; Infinity where smoothing fails. */
function smoothedKl(p: Float64Array, q: Float64Array, size: number): number {
  const ps = smoothing(p, size);
  const qs = smoothing(q, size);
  if (ps === undefined || qs === undefined) return Infinity;
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < size; j++) {
    pSum += p[j] === 0 ? ps.raise : p[j] - ps.lower;
    qSum += q[j] === 0 ? qs.raise : q[j] - qs.lower;
  }
  let kl = 0;
  for (let j = 0; j < size; j++) {
    const pj = (p[j] === 0 ? ps.raise : p[j] - ps.lower) / pSum;
    const qj = (q[j] === 0 ? qs.raise : q[j] - qs.lower) / qSum;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

/** How much smooth_distribution raises the zero entries and lowers the others; undefined when it cannot (all zero, or a count would drop to zero). */
function smoothing(values: Float64Array, size: number): { raise: number; lower: number } | undefined {
  let zeros = 0;
  let smallest = Infinity;
  for (let j = 0; j < size; j++) {
    if (values[j] === 0) zeros++;
    else if (values[j] < smallest) smallest = values[j];
  }
  const nonZeros = size - zeros;
  if (nonZeros === 0) return undefined;
  const lower = (SMOOTHING * zeros) / nonZeros;
  if (lower >= smallest) return undefined;
  return { raise: SMOOTHING, lower };
}

/**
 * The range with the smallest expected squared error of quantizing to `steps` steps: rounding
 * inside the range costs step^2 / 12 per value (values spread evenly within a step), clipping
 * costs (x - edge)^2 for every value beyond an edge (values spread evenly within their bin).
 * Symmetric targets search [-t, t]; affine ones search both ends independently, each on the bin
 * edges between 0 and the extreme observed on its side. Prefix sums of n, n x and n x^2 make each
 * candidate O(1).
 */
export function mseRange(h: HistogramSnapshot, steps: number, symmetric: boolean): { min: number; max: number } {
  const { counts, min, max } = h;
  const bins = counts.length;
  const half = bins / 2;
  const width = (2 * h.threshold) / bins;
  const n = new Float64Array(bins + 1);
  const nx = new Float64Array(bins + 1);
  const nxx = new Float64Array(bins + 1);
  for (let i = 0; i < bins; i++) {
    const c = edge(h, i) + width / 2;
    n[i + 1] = n[i] + counts[i];
    nx[i + 1] = nx[i] + counts[i] * c;
    nxx[i + 1] = nxx[i] + counts[i] * c * c;
  }
  const withinBin = (width * width) / 12;
  // Squared distance to `to` of the values in bins [from, until), spread evenly within each bin.
  const clipError = (from: number, until: number, to: number): number => {
    const count = n[until] - n[from];
    if (count === 0) return 0;
    const sum = nx[until] - nx[from];
    const squares = nxx[until] - nxx[from];
    return Math.max(0, squares - 2 * to * sum + to * to * count) + withinBin * count;
  };
  const error = (a: number, b: number): number => {
    const lo = Math.max(edge(h, a), min);
    const hi = Math.min(edge(h, b), max);
    const span = symmetric ? 2 * Math.max(-Math.min(lo, 0), Math.max(hi, 0)) : Math.max(hi, 0) - Math.min(lo, 0);
    if (span <= 0) return Infinity;
    const step = span / steps;
    const inside = n[b] - n[a];
    return clipError(0, a, edge(h, a)) + clipError(b, bins, edge(h, b)) + (inside * step * step) / 12;
  };
  let best = Infinity;
  let bestA = 0;
  let bestB = bins;
  if (symmetric) {
    for (let k = half; k >= 1; k--) {
      const e = error(half - k, half + k);
      if (e < best) {
        best = e;
        bestA = half - k;
        bestB = half + k;
      }
    }
  } else {
    // Ends beyond the data clip nothing more: search each side only up to the bin holding its extreme.
    const firstA = Math.max(0, Math.min(half, Math.floor(((min + h.threshold) * bins) / (2 * h.threshold))));
    const lastB = Math.min(bins, Math.max(half, Math.ceil(((max + h.threshold) * bins) / (2 * h.threshold))));
    for (let a = firstA; a <= half; a++) {
      for (let b = lastB; b >= half; b--) {
        const e = error(a, b);
        if (e < best) {
          best = e;
          bestA = a;
          bestB = b;
        }
      }
    }
  }
  return { min: edge(h, bestA), max: edge(h, bestB) };
}
