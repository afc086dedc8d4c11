import { MinnowError, formatShape, fromArray, noGrad, scope, type Tensor } from '@minnow/core';
import { Module, type AnyModule } from '@minnow/nn';
import type { AnyOptimizer, StepHooks } from '../distill/loop.js';
import { prunableParameters, type LayerSelection } from '../prune/masks.js';
import { DEFAULT_MAX_ITERATIONS, kmeans1d, type CentroidInit } from './kmeans.js';

/**
 * Weight clustering of a Module (Deep Compression's weight sharing; TF-MOT's cluster_weights): each
 * chosen weight tensor (Linear and Conv2d weights by default) is k-means clustered on its own, its
 * weights replaced by their centroids. Exact zeros (pruned weights) take no cluster and stay zero.
 *
 * Fine-tuning keeps the sharing: after backward each weight's gradient is replaced by the sum (Han
 * et al., eq. 3; or the mean) of the gradients of its cluster, so every member of a cluster gets
 * the same update; after the optimiser step each centroid becomes the mean of its members' values
 * (they are equal unless optimiser state from before clustering differs between them) and the
 * weights are snapped to it. Pruned positions get a zero gradient and are snapped back to zero, so
 * a layer never holds more than k distinct nonzero values.
 */

export interface LayerClusters {
  /** Clusters for this tensor: a positive integer. */
  readonly clusters?: number;
  /** Or index bits: 2^bits clusters (Han et al. use 5 for fully connected layers, 8 for convolutions). */
  readonly bits?: number;
}

export interface ClusterWeightsOptions extends LayerSelection, LayerClusters {
  /** Per-tensor overrides of clusters/bits, by parameter name ('fc1.weight'). */
  readonly layers?: Readonly<Record<string, LayerClusters>>;
  /** Centroid initialisation (default 'linear', Han et al.'s best). */
  readonly init?: CentroidInit;
  /** Seeds 'random' initialisation (required with it; each tensor draws from seed + its position). */
  readonly seed?: number;
  /** Lloyd iterations at most (default 100). */
  readonly maxIterations?: number;
  /** How a centroid's gradient is made from its members' during fine-tuning (default 'sum', as Han et al.). */
  readonly gradient?: 'sum' | 'mean';
}

/** One clustered tensor in a report. */
export interface ClusteredTensorReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly params: number;
  /** Weights that are not zero now. */
  readonly nonzeros: number;
  /** Clusters asked for. */
  readonly clusters: number;
  /** Centroids in use (at most `clusters`). */
  readonly centroids: number;
  /** Distinct nonzero values the weights hold now (at most `centroids`). */
  readonly distinct: number;
  /** Lloyd iterations the initial clustering ran, and whether its assignments had settled. */
  readonly iterations: number;
  readonly converged: boolean;
}

interface LayerState {
  readonly clusters: number;
  centroids: Float32Array;
  /** Cluster of each weight; -1 for a pruned (zero) weight. */
  readonly assignments: Int32Array;
  readonly iterations: number;
  readonly converged: boolean;
}

const MAX_BITS = 16;

function clustersFor(op: string, name: string, spec: LayerClusters): number | undefined {
  const { clusters, bits } = spec;
  if (clusters !== undefined && bits !== undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${name} gives both clusters and bits; give one`);
  if (bits !== undefined) {
    if (!Number.isInteger(bits) || bits < 1 || bits > MAX_BITS) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${name} bits must be an integer in 1..${MAX_BITS}, got ${String(bits)}`);
    return 2 ** bits;
  }
  if (clusters !== undefined && (!Number.isSafeInteger(clusters) || clusters < 1 || clusters > 2 ** MAX_BITS)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: ${name} clusters must be an integer in 1..${2 ** MAX_BITS}, got ${String(clusters)}`);
  }
  return clusters;
}

function floatArray(dtype: string, n: number): Float32Array | Float64Array {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/**
 * Clusters the chosen weights of `model` in place (they are snapped to their centroids at once) and
 * returns the clustering, which holds the assignments for fine-tuning and reporting.
 *
 * ```ts
 * const clustering = clusterWeights(model, { bits: 5 });            // 32 shared values per layer
 * train({ model, data, optimizer, epochs: 2, stepHooks: clustering.stepHooks() });
 * ```
 */
export function clusterWeights(model: AnyModule, options: ClusterWeightsOptions): WeightClustering {
  const op = 'clusterWeights';
  if (options === null || typeof options !== 'object') throw new MinnowError('INVALID_ARGUMENT', `${op}: options must be an object with bits or clusters`);
  const params = prunableParameters(op, model, options);
  if (params.length === 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: no weight is selected (the model has no Linear or Conv2d layer, or include/exclude leave none)`);
  const fallback = clustersFor(op, 'options', options);
  const overrides = options.layers ?? {};
  const chosen = new Set(params.map(([name]) => name));
  for (const name of Object.keys(overrides)) {
    if (!chosen.has(name)) throw new MinnowError('INVALID_ARGUMENT', `${op}: layers names '${name}', which is not a clustered weight (chosen: ${[...chosen].join(', ')})`);
  }
  const { gradient = 'sum' } = options;
  if (gradient !== 'sum' && gradient !== 'mean') throw new MinnowError('INVALID_ARGUMENT', `${op}: gradient must be 'sum' or 'mean', got ${JSON.stringify(gradient)}`);
  const states = new Map<string, LayerState>();
  params.forEach(([name, p], position) => {
    const k = clustersFor(op, `layers['${name}']`, overrides[name] ?? {}) ?? fallback;
    if (k === undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: give bits or clusters (for all weights, or for '${name}' in layers)`);
    if (p.dtype !== 'float32' && p.dtype !== 'float64') throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: '${name}' is ${p.dtype}; only float weights are clustered`);
    let result;
    try {
      result = kmeans1d(p.dataSync(), {
        clusters: k, init: options.init, seed: options.seed === undefined ? undefined : options.seed + position,
        maxIterations: options.maxIterations ?? DEFAULT_MAX_ITERATIONS,
      });
    } catch (error) {
      if (error instanceof MinnowError) throw new MinnowError(error.code, `${op}: '${name}' ${formatShape(p.shape)}: ${error.message}`, { cause: error });
      throw error;
    }
    states.set(name, { clusters: k, centroids: result.centroids, assignments: result.assignments, iterations: result.iterations, converged: result.converged });
  });
  const clustering = new WeightClustering(model, states, gradient);
  clustering.snap(false);
  return clustering;
}

export class WeightClustering {
  /** @internal Built by clusterWeights. */
  constructor(
    readonly model: AnyModule,
    private readonly layers: ReadonlyMap<string, LayerState>,
    readonly gradient: 'sum' | 'mean',
  ) {
    if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'WeightClustering: model must be a Module');
  }

  /** The clustered parameters' names, in model order. */
  get names(): string[] {
    return [...this.layers.keys()];
  }

  /** The current centroids of `name`, ascending (a copy). */
  centroids(name: string): Float32Array {
    return this.state(name).centroids.slice();
  }

  /** The cluster of each weight of `name` (row-major; -1 for a pruned zero). Do not write into it. */
  assignments(name: string): Int32Array {
    return this.state(name).assignments;
  }

  private state(name: string): LayerState {
    const s = this.layers.get(name);
    if (!s) throw new MinnowError('INVALID_ARGUMENT', `WeightClustering: '${name}' is not clustered (clustered: ${this.names.join(', ')})`);
    return s;
  }

  /** Parameters are looked up by name each time: `model.to()` replaces the tensor objects. */
  private each(fn: (p: Tensor, s: LayerState, name: string) => void): void {
    const params = new Map(this.model.namedParameters());
    for (const [name, s] of this.layers) {
      const p = params.get(name);
      if (!p) throw new MinnowError('INVALID_ARGUMENT', `WeightClustering: the model no longer has a parameter '${name}'`);
      if (p.size !== s.assignments.length) {
        throw new MinnowError('SHAPE_MISMATCH', `WeightClustering: '${name}' now has ${p.size} weights, it had ${s.assignments.length} when clustered`);
      }
      fn(p, s, name);
    }
  }

  /**
   * Replaces each clustered weight's gradient by its cluster's sum (or mean) of gradients, and a
   * pruned weight's by zero. Call between backward and the optimiser step.
   */
  shareGradients(): void {
    noGrad(() => this.each((p, s) => {
      const grad = p.grad;
      if (!grad) return;
      const g = grad.dataSync();
      const k = s.centroids.length;
      const sums = new Float64Array(k);
      const counts = new Float64Array(k);
      const a = s.assignments;
      for (let i = 0; i < a.length; i++) {
        if (a[i] < 0) continue;
        sums[a[i]] += g[i];
        counts[a[i]]++;
      }
      if (this.gradient === 'mean') for (let j = 0; j < k; j++) if (counts[j] > 0) sums[j] /= counts[j];
      const out = floatArray(grad.dtype, a.length);
      for (let i = 0; i < a.length; i++) out[i] = a[i] < 0 ? 0 : sums[a[i]];
      scope(() => void grad.assign(fromArray(out, grad.shape, { backend: grad.backend.name })));
    }));
  }

  /**
   * Moves each centroid to the mean of its members' current values (unless `update` is false) and
   * writes the centroids into the weights; pruned weights are set to zero. Call after the optimiser step.
   */
  snap(update = true): void {
    noGrad(() => this.each((p, s) => {
      const a = s.assignments;
      if (update) {
        const w = p.dataSync();
        const k = s.centroids.length;
        const sums = new Float64Array(k);
        const counts = new Float64Array(k);
        for (let i = 0; i < a.length; i++) {
          if (a[i] < 0) continue;
          sums[a[i]] += w[i];
          counts[a[i]]++;
        }
        s.centroids = s.centroids.map((c, j) => (counts[j] > 0 ? Math.fround(sums[j] / counts[j]) : c));
      }
      const out = floatArray(p.dtype, a.length);
      for (let i = 0; i < a.length; i++) out[i] = a[i] < 0 ? 0 : s.centroids[a[i]];
      scope(() => void p.assign(fromArray(out, p.shape, { backend: p.backend.name })));
    }));
  }

  /**
   * Step hooks for train() or distill() (`stepHooks`) that fine-tune the shared values: gradients
   * shared after backward, weights snapped after each step. `extra` hooks run after these (after
   * backward) and before them (after the step: so masks another method applies are seen by the snap).
   */
  stepHooks(extra?: StepHooks): StepHooks {
    return {
      afterBackward: (step: number, optimizer: AnyOptimizer): void => {
        this.shareGradients();
        extra?.afterBackward?.(step, optimizer);
      },
      afterStep: (step: number, optimizer: AnyOptimizer): void => {
        extra?.afterStep?.(step, optimizer);
        this.snap();
      },
    };
  }

  /** Per-tensor counts, reading the current weights. */
  report(): ClusteredTensorReport[] {
    const rows: ClusteredTensorReport[] = [];
    this.each((p, s, name) => {
      const w = p.dataSync();
      const distinct = new Set<number>();
      let nonzeros = 0;
      for (let i = 0; i < w.length; i++) {
        if (w[i] === 0) continue;
        nonzeros++;
        distinct.add(w[i]);
      }
      rows.push({
        name, shape: [...p.shape], params: p.size, nonzeros, clusters: s.clusters, centroids: s.centroids.length, distinct: distinct.size,
        iterations: s.iterations, converged: s.converged,
      });
    });
    return rows;
  }
}
