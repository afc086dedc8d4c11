import { MinnowError, Random } from '@minnow/core';

/**
 * One-dimensional k-means (Lloyd's algorithm) for weight sharing, as Deep Compression (Han et al.,
 * ICLR 2016, section 3.1) and TF-MOT's cluster_weights use it. In one dimension every cluster is a
 * contiguous run of the sorted values, so each iteration is one sweep over the sorted values and the
 * sorted centroids: O(n + k), after one O(n log n) sort.
 *
 * Centroids are float32 numbers (every update is rounded with Math.fround), so weights snapped to
 * them are exactly representable in float32 and in the compact container's codebook. Ties in
 * distance go to the smaller centroid. The result is a pure function of the values and options.
 */

/**
 * How the centroids start (Han et al. compare the three, figure 4): 'linear' spaces them evenly
 * between the smallest and largest value (their best: it keeps centroids on the rare large weights);
 * 'density' puts them at evenly spaced quantiles; 'random' picks k of the values (Forgy), seeded.
 */
export type CentroidInit = 'linear' | 'density' | 'random';

export interface KMeansOptions {
  /** At most this many clusters, a positive integer (2^bits for bits-wide indices). */
  readonly clusters: number;
  /** Default 'linear'. */
  readonly init?: CentroidInit;
  /** Seeds 'random' initialisation (required with it). */
  readonly seed?: number;
  /** Stop after this many centroid updates even if assignments still change (default 100). */
  readonly maxIterations?: number;
  /**
   * What happens to a cluster no value is nearest to: 'relocate' (default) moves its centroid to
   * the value farthest from its own centroid, as scikit-learn does, so all k shared values get used
   * (linear initialisation over a pruned layer's two-sided distribution leaves many centroids in the
   * pruned gap); 'drop' leaves it empty, and it is dropped from the result.
   */
  readonly emptyClusters?: 'relocate' | 'drop';
  /**
   * Leave exact zeros out (default true): in a pruned layer they are removed weights, not values to
   * share, so they take no cluster and stay zero.
   */
  readonly skipZeros?: boolean;
}

export interface KMeansResult {
  /**
   * Distinct float32 centroids in ascending order, each the nearest of at least one value (clusters
   * left empty and centroids that met are dropped, so there may be fewer than asked for).
   */
  readonly centroids: Float32Array;
  /** For each value, the index of its nearest centroid; -1 for a skipped zero. */
  readonly assignments: Int32Array;
  /** Centroid updates run. */
  readonly iterations: number;
  /** Whether the assignments stopped changing before maxIterations. */
  readonly converged: boolean;
}

export const DEFAULT_MAX_ITERATIONS = 100;

/** Clusters `values` (any finite numbers) into at most `options.clusters` shared values. */
export function kmeans1d(values: ArrayLike<number>, options: KMeansOptions): KMeansResult {
  const { clusters, init = 'linear', seed, maxIterations = DEFAULT_MAX_ITERATIONS, skipZeros = true, emptyClusters = 'relocate' } = options;
  if (!Number.isSafeInteger(clusters) || clusters < 1) throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: clusters must be a positive integer, got ${String(clusters)}`);
  if (init !== 'linear' && init !== 'density' && init !== 'random') {
    throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: init must be 'linear', 'density' or 'random', got ${JSON.stringify(init)}`);
  }
  if (init === 'random' && !Number.isSafeInteger(seed)) throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: 'random' initialisation needs an integer seed, got ${String(seed)}`);
  if (emptyClusters !== 'relocate' && emptyClusters !== 'drop') {
    throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: emptyClusters must be 'relocate' or 'drop', got ${JSON.stringify(emptyClusters)}`);
  }
  if (!Number.isSafeInteger(maxIterations) || maxIterations < 0) {
    throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: maxIterations must be an integer >= 0, got ${String(maxIterations)}`);
  }
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new MinnowError('INVALID_ARGUMENT', `kmeans1d: value ${i} is ${v}; only finite values can be clustered`);
    if (!(skipZeros && v === 0)) count++;
  }
  const sorted = new Float64Array(count);
  for (let i = 0, n = 0; i < values.length; i++) if (!(skipZeros && values[i] === 0)) sorted[n++] = values[i];
  sorted.sort();
  const assignments = new Int32Array(values.length).fill(-1);
  if (count === 0) return { centroids: new Float32Array(0), assignments, iterations: 0, converged: true };

  let centroids = distinctAscending(initialCentroids(sorted, clusters, init, seed ?? 0));
  let sweep = assign(sorted, centroids);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    // Means stay in order (each cluster's values lie between its neighbours' centroids), but
    // rounding to float32 can make two equal: the sweep needs them distinct.
    const means = Array.from(centroids, (c, j) => (sweep.counts[j] > 0 ? Math.fround(sweep.sums[j] / sweep.counts[j]) : c));
    const relocated = emptyClusters === 'relocate' && relocateEmpty(sorted, sweep.counts, means);
    const next = distinctAscending(means);
    const nextSweep = assign(sorted, next);
    iterations++;
    centroids = next;
    // Clusters are runs of the sorted values, so equal counts in order mean equal assignments.
    const same = !relocated && nextSweep.counts.length === sweep.counts.length && nextSweep.counts.every((n, j) => n === sweep.counts[j]);
    sweep = nextSweep;
    if (same) {
      converged = true;
      break;
    }
  }
  if (maxIterations === 0) converged = false;
  // Drop empty clusters and merge centroids that rounding made equal: neither is anyone's unique nearest.
  const kept = distinctAscending(Array.from(centroids).filter((_, j) => sweep.counts[j] > 0));
  for (let i = 0; i < values.length; i++) if (!(skipZeros && values[i] === 0)) assignments[i] = nearest(kept, values[i]);
  return { centroids: kept, assignments, iterations, converged };
}

function distinctAscending(values: readonly number[] | Float32Array): Float32Array {
  const sorted = Float32Array.from(values, Math.fround).sort();
  let n = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
  return sorted.slice(0, n);
}

function initialCentroids(sorted: Float64Array, k: number, init: CentroidInit, seed: number): number[] {
  const n = sorted.length;
  const lo = sorted[0];
  const hi = sorted[n - 1];
  if (init === 'linear') return Array.from({ length: k }, (_, i) => (k === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * i) / (k - 1)));
  if (init === 'density') return Array.from({ length: k }, (_, i) => sorted[Math.min(n - 1, Math.floor(((i + 0.5) / k) * n))]);
  // Forgy: k distinct positions by Floyd's sampling, so the cost is O(k) whatever n is.
  const random = new Random(seed);
  const chosen = new Set<number>();
  for (let j = n - Math.min(k, n); j < n; j++) {
    const t = random.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].map((p) => sorted[p]);
}

/**
 * Moves the centroids of empty clusters (in `means`, in place) to the values farthest from their
 * own cluster's centroid. In one dimension those are the ends of each cluster's run of sorted
 * values. Values already a centroid are skipped (they would merge). Returns whether any moved.
 */
function relocateEmpty(sorted: Float64Array, counts: Float64Array, means: number[]): boolean {
  const empty: number[] = [];
  const candidates: { value: number; distance: number }[] = [];
  let start = 0;
  counts.forEach((n, j) => {
    if (n === 0) {
      empty.push(j);
      return;
    }
    for (const end of [start, start + n - 1]) candidates.push({ value: Math.fround(sorted[end]), distance: Math.abs(sorted[end] - means[j]) });
    start += n;
  });
  if (empty.length === 0) return false;
  candidates.sort((a, b) => b.distance - a.distance || a.value - b.value);
  const taken = new Set(means.filter((_, j) => counts[j] > 0));
  let moved = 0;
  for (const { value, distance } of candidates) {
    if (moved === empty.length || distance === 0) break;
    if (taken.has(value)) continue;
    taken.add(value);
    means[empty[moved++]] = value;
  }
  return moved > 0;
}

/** Per-cluster counts and sums for sorted values against sorted centroids (ties to the smaller). */
function assign(sorted: Float64Array, centroids: Float32Array): { counts: Float64Array; sums: Float64Array } {
  const k = centroids.length;
  const counts = new Float64Array(k);
  const sums = new Float64Array(k);
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    const x = sorted[i];
    while (j + 1 < k && Math.abs(x - centroids[j + 1]) < Math.abs(x - centroids[j])) j++;
    counts[j]++;
    sums[j] += x;
  }
  return { counts, sums };
}

/** The index of the centroid nearest to x (ascending centroids; ties to the smaller). */
export function nearest(centroids: Float32Array, x: number): number {
  let lo = 0;
  let hi = centroids.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (centroids[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  // lo: the first centroid >= x (or the last); the nearest is it or the one before.
  if (lo > 0 && Math.abs(x - centroids[lo - 1]) <= Math.abs(x - centroids[lo])) return lo - 1;
  return lo;
}
