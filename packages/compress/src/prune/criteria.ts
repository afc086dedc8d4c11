import {
  MinnowError, Random, Tensor, abs, formatShape, mul, noGrad, roundHalfToEven, scope, shapesEqual,
} from '@minnow/core';
import { crossEntropy, type Batch, type Module } from '@minnow/nn';

/**
 * Unstructured pruning, the arithmetic: importance scores per weight tensor and the selection of
 * which weights to keep. Everything here is a pure function over host arrays (Float32Array in,
 * Uint8Array masks out, 1 = kept): masks are computed once per pruning step, and host arrays
 * make the counts and the tie rule exact and identical on every backend.
 *
 * Counting. Pruning sparsity s of n weights removes exactly roundHalfToEven(s * n) of them: the
 * count PyTorch's prune.l1_unstructured removes (it calls Python's round(amount * n), which
 * rounds halves to even: 0.5 of 5 weights prunes 2, 0.5 of 7 prunes 4).
 *
 * Ties. The kept weights are those with the largest scores; among equal scores the one with the
 * lower flat (row-major) index is kept first. Across layers (global selection) the flat index
 * runs through the layers in the order given, so an earlier layer wins a tie.
 */

/** Keep N of every M consecutive weights along a weight's input axis (2:4 by default where one is asked for). */
export interface NMPattern {
  readonly n: number;
  readonly m: number;
}

export const DEFAULT_NM: NMPattern = Object.freeze({ n: 2, m: 4 });

/** INVALID_ARGUMENT unless 0 <= sparsity < 1 (pruning every weight of a layer is never what anyone means). */
export function checkSparsity(op: string, sparsity: unknown, what = 'sparsity'): number {
  if (typeof sparsity !== 'number' || !Number.isFinite(sparsity) || sparsity < 0 || sparsity >= 1) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} must be a number in [0, 1), got ${String(sparsity)}`);
  }
  return sparsity;
}

/** INVALID_ARGUMENT unless 1 <= n < m, both integers. */
export function checkNM(op: string, pattern: NMPattern): NMPattern {
  const { n, m } = pattern ?? {};
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(m) || n < 1 || n >= m) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: an N:M pattern needs integers 1 <= N < M, got ${String(n)}:${String(m)}`);
  }
  return { n, m };
}

/** Parses "2:4" (the CLI's spelling) into a checked pattern. */
export function parseNM(op: string, text: string): NMPattern {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  if (!match) throw new MinnowError('INVALID_ARGUMENT', `${op}: '${text}' is not an N:M pattern such as 2:4`);
  return checkNM(op, { n: Number(match[1]), m: Number(match[2]) });
}

/** How many of `size` weights sparsity `sparsity` prunes: roundHalfToEven(sparsity * size), as PyTorch. */
export function prunedCount(size: number, sparsity: number): number {
  return Math.min(size, roundHalfToEven(sparsity * size));
}

// ------------------------------------------------------------------------------------------------
// scores

/** |w|: the magnitude (L1) criterion. */
export function magnitudeScores(values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.abs(values[i]);
  return out;
}

/**
 * Uniform random scores, a baseline: one stream from `seed`, drawn tensor after tensor in the
 * order given, so the same seed and layers give the same masks, and a higher sparsity from the
 * same seed prunes a superset of what a lower one pruned.
 */
export function randomScores(sizes: readonly number[], seed: number): Float32Array[] {
  if (!Number.isSafeInteger(seed)) throw new MinnowError('INVALID_ARGUMENT', `prune: the random criterion needs an integer seed, got ${String(seed)}`);
  const rng = new Random(seed);
  return sizes.map((n) => Float32Array.from({ length: n }, () => rng.uniform()));
}

/** INVALID_ARGUMENT naming `what` when a score is NaN (a NaN weight or gradient cannot be ranked). */
export function checkScores(op: string, what: string, scores: Float32Array): Float32Array {
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new MinnowError('INVALID_ARGUMENT', `${op}: the importance score of ${what} at flat index ${i} is NaN`);
  }
  return scores;
}

// ------------------------------------------------------------------------------------------------
// selection

/**
 * The mask keeping the `keep` largest scores among the eligible positions (all, when `eligible`
 * is undefined; a weight pruned earlier is not eligible, so iterative pruning only removes more),
 * ties kept by lower index. Exact: sorts a copy of the scores to find the keep-th largest value,
 * keeps everything above it, then the first positions that equal it.
 */
export function keepLargest(scores: Float32Array, keep: number, eligible?: Uint8Array): Uint8Array {
  const n = scores.length;
  const mask = new Uint8Array(n);
  let candidates: Float32Array;
  if (eligible === undefined) {
    candidates = Float32Array.from(scores);
  } else {
    let count = 0;
    for (let i = 0; i < n; i++) count += eligible[i];
    candidates = new Float32Array(count);
    for (let i = 0, k = 0; i < n; i++) if (eligible[i]) candidates[k++] = scores[i];
  }
  if (keep <= 0 || candidates.length === 0) return mask;
  if (keep >= candidates.length) {
    for (let i = 0; i < n; i++) mask[i] = eligible === undefined ? 1 : eligible[i];
    return mask;
  }
  candidates.sort();
  const threshold = candidates[candidates.length - keep];
  let above = 0;
  for (let i = 0; i < n; i++) if ((eligible === undefined || eligible[i]) && scores[i] > threshold) above++;
  let ties = keep - above;
  for (let i = 0; i < n; i++) {
    if (eligible !== undefined && !eligible[i]) continue;
    const s = scores[i];
    if (s > threshold) mask[i] = 1;
    else if (s === threshold && ties > 0) {
      mask[i] = 1;
      ties--;
    }
  }
  return mask;
}

/**
 * Each tensor pruned to `sparsity` on its own: of its n weights, n - prunedCount(n, s) are kept
 * (fewer when earlier pruning, `eligible`, already removed more).
 */
export function layerwiseMasks(scores: readonly Float32Array[], sparsity: number, eligible?: readonly (Uint8Array | undefined)[]): Uint8Array[] {
  return scores.map((s, i) => keepLargest(s, s.length - prunedCount(s.length, sparsity), eligible?.[i]));
}

/**
 * One threshold across all the tensors: prunedCount(total, s) of all their weights together are
 * removed, the lowest scores wherever they are, so layers end up with different sparsities
 * (PyTorch's prune.global_unstructured). Ties go to the earlier tensor, then the lower index.
 */
export function globalMasks(scores: readonly Float32Array[], sparsity: number, eligible?: readonly (Uint8Array | undefined)[]): Uint8Array[] {
  const total = scores.reduce((a, s) => a + s.length, 0);
  const all = new Float32Array(total);
  const allEligible = eligible?.some((e) => e !== undefined) ? new Uint8Array(total).fill(1) : undefined;
  let offset = 0;
  scores.forEach((s, i) => {
    all.set(s, offset);
    const e = eligible?.[i];
    if (allEligible && e) allEligible.set(e, offset);
    offset += s.length;
  });
  const mask = keepLargest(all, total - prunedCount(total, sparsity), allEligible);
  offset = 0;
  return scores.map((s) => {
    const part = mask.slice(offset, offset + s.length);
    offset += s.length;
    return part;
  });
}

/**
 * N:M semi-structured sparsity: along `axis` of a tensor of shape `dims`, every run of M
 * consecutive weights (for one position on every other axis) keeps its N largest scores, ties to
 * the lower index. For a Linear weight [out, in] the axis is 1 (groups of M inputs in each row),
 * for a Conv weight [out, in/groups, kh, kw] also 1 (groups of M input channels at each kernel
 * tap, as NVIDIA's ASP lays them out). The axis length must be a multiple of M. Positions not
 * `eligible` are never kept, so a group may keep fewer than N after earlier pruning.
 */
export function nmMask(scores: Float32Array, dims: readonly number[], axis: number, pattern: NMPattern, eligible?: Uint8Array): Uint8Array {
  const { n, m } = checkNM('prune', pattern);
  if (!Number.isInteger(axis) || axis < 0 || axis >= dims.length) {
    throw new MinnowError('OUT_OF_RANGE', `prune: N:M axis ${axis} is outside a tensor of rank ${dims.length}`);
  }
  const length = dims[axis];
  if (length % m !== 0) {
    throw new MinnowError('INVALID_ARGUMENT', `prune: ${n}:${m} sparsity needs the input axis (length ${length}) to be a multiple of ${m}`);
  }
  const inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1);
  const outer = dims.slice(0, axis).reduce((a, d) => a * d, 1);
  const mask = new Uint8Array(scores.length);
  const taken = new Uint8Array(m);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let g = 0; g < length; g += m) {
        const at = (j: number): number => (o * length + g + j) * inner + i;
        taken.fill(0);
        for (let pick = 0; pick < n; pick++) {
          let best = -1;
          for (let j = 0; j < m; j++) {
            const k = at(j);
            if (taken[j] || (eligible !== undefined && !eligible[k])) continue;
            // Strictly greater: on a tie the earlier (lower index) weight stays the pick.
            if (best < 0 || scores[k] > scores[at(best)]) best = j;
          }
          if (best < 0) break;
          taken[best] = 1;
          mask[at(best)] = 1;
        }
      }
    }
  }
  return mask;
}

// ------------------------------------------------------------------------------------------------
// criteria over named parameters

/** User-given importance per parameter name: a Tensor or a Float32Array of the parameter's size. */
export type ScoreTable = ReadonlyMap<string, Tensor | Float32Array> | Readonly<Record<string, Tensor | Float32Array>>;

/**
 * How weights are ranked (the largest scores are kept):
 * - 'magnitude': |w| (the L1 criterion of PyTorch's l1_unstructured and TF-MOT);
 * - random: uniform scores from a seed, a baseline;
 * - scores: importance the caller computed, one entry per pruned parameter, shape-checked;
 * - taylor: first-order Taylor |w · Σ_b ∂L_b/∂w| over the batches of `data` (Molchanov et al.,
 *   arXiv:1611.06440 and 1906.10771), the estimated change of the summed loss if w were zeroed.
 *   Modules only: it runs the model (in eval mode, so batch-norm statistics do not move) and
 *   autograd; `loss` defaults to cross-entropy of model(batch.x) against batch.y.
 */
export type Criterion =
  | 'magnitude'
  | { readonly kind: 'magnitude' }
  | { readonly kind: 'random'; readonly seed: number }
  | { readonly kind: 'scores'; readonly scores: ScoreTable }
  | { readonly kind: 'taylor'; readonly data: Iterable<Batch>; readonly loss?: (model: Module<[Tensor], Tensor>, batch: Batch) => Tensor };

/** The criterion's kind, refusing what is not one. */
export function criterionKind(op: string, criterion: Criterion | undefined): 'magnitude' | 'random' | 'scores' | 'taylor' {
  if (criterion === undefined || criterion === 'magnitude') return 'magnitude';
  const kind = typeof criterion === 'object' && criterion !== null ? (criterion as { kind?: unknown }).kind : undefined;
  if (kind === 'magnitude' || kind === 'random' || kind === 'scores' || kind === 'taylor') return kind;
  throw new MinnowError('INVALID_ARGUMENT', `${op}: criterion must be 'magnitude' or { kind: 'magnitude' | 'random' | 'scores' | 'taylor', ... }, got ${JSON.stringify(criterion)}`);
}

/** The entries of a score table, checked against the names that are pruned: every one given, none unknown. */
export function scoreEntries(op: string, table: ScoreTable, targets: readonly { name: string; dims: readonly number[] }[]): Float32Array[] {
  if (table === null || typeof table !== 'object') throw new MinnowError('INVALID_ARGUMENT', `${op}: criterion.scores must be a Map or a record of scores by parameter name`);
  const given = new Map<string, Tensor | Float32Array>(table instanceof Map ? table : Object.entries(table));
  const known = new Set(targets.map((t) => t.name));
  const unknown = [...given.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: scores are given for ${unknown.map((u) => `'${u}'`).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not among the pruned weights (${[...known].join(', ')})`);
  }
  return targets.map(({ name, dims }) => {
    const s = given.get(name);
    const size = dims.reduce((a, d) => a * d, 1);
    if (s === undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: no score given for '${name}'`);
    if (s instanceof Tensor) {
      if (!shapesEqual(s.shape, dims)) throw new MinnowError('SHAPE_MISMATCH', `${op}: the scores of '${name}' have shape ${formatShape(s.shape)}, the weight ${formatShape(dims)}`);
      return checkScores(op, `'${name}'`, Float32Array.from(s.dataSync() as ArrayLike<number>));
    }
    if (!(s instanceof Float32Array)) throw new MinnowError('INVALID_ARGUMENT', `${op}: the scores of '${name}' must be a Tensor or a Float32Array`);
    if (s.length !== size) throw new MinnowError('SHAPE_MISMATCH', `${op}: the scores of '${name}' hold ${s.length} values, the weight ${formatShape(dims)} has ${size}`);
    return checkScores(op, `'${name}'`, s);
  });
}

/**
 * First-order Taylor scores |w · G| of the named parameters, G the gradient summed over every
 * batch of `data` (each batch's loss is backpropagated and the gradients accumulate; batches are
 * disposed after use, as the training loop does). The model runs in eval mode; its mode is
 * restored, and every parameter's .grad is cleared before and after.
 */
export function taylorScores(op: string, model: Module<[Tensor], Tensor>, params: readonly (readonly [string, Tensor])[], criterion: Extract<Criterion, { kind: 'taylor' }>): Float32Array[] {
  const { data } = criterion;
  if (data === null || typeof data !== 'object' || !(Symbol.iterator in data)) throw new MinnowError('INVALID_ARGUMENT', `${op}: the taylor criterion needs data, an iterable of batches (a DataLoader)`);
  const loss = criterion.loss ?? ((m: Module<[Tensor], Tensor>, batch: Batch): Tensor => crossEntropy(m.forward(batch.x), batch.y));
  const wasTraining = model.training;
  const all = model.parameters();
  for (const p of all) p.zeroGrad();
  model.eval();
  let batches = 0;
  try {
    for (const batch of data) {
      try {
        scope(() => {
          const value = loss(model, batch);
          if (!(value instanceof Tensor) || value.size !== 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: the taylor loss must return a one-element Tensor`);
          value.backward();
        });
      } finally {
        batch.dispose?.();
      }
      batches++;
    }
    if (batches === 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: the taylor criterion's data yields no batches`);
    return params.map(([name, p]) => {
      const grad = p.grad;
      // A weight the loss does not reach has no gradient: its first-order importance is zero.
      if (grad === null) return new Float32Array(p.size);
      const values = noGrad(() => scope(() => abs(mul(p, grad)).dataSync()));
      return checkScores(op, `'${name}' (taylor)`, Float32Array.from(values as ArrayLike<number>));
    });
  } finally {
    model.train(wasTraining);
    for (const p of all) if (!p.isDisposed) p.zeroGrad();
  }
}

/** The criterion's scores for the named parameters (in their order), on the host. */
export function parameterScores(op: string, model: Module<[Tensor], Tensor>, params: readonly (readonly [string, Tensor])[], criterion: Criterion | undefined): Float32Array[] {
  const kind = criterionKind(op, criterion);
  if (kind === 'magnitude') return params.map(([name, p]) => checkScores(op, `'${name}'`, magnitudeScores(p.dataSync() as ArrayLike<number>)));
  if (kind === 'random') return randomScores(params.map(([, p]) => p.size), (criterion as { seed: number }).seed);
  if (kind === 'scores') return scoreEntries(op, (criterion as { scores: ScoreTable }).scores, params.map(([name, p]) => ({ name, dims: p.shape })));
  return taylorScores(op, model, params, criterion as Extract<Criterion, { kind: 'taylor' }>);
}
