import { MinnowError, type Tensor } from '@minnow/core';
import type { AnyModule, Module } from '@minnow/nn';
import {
  checkNM, checkSparsity, globalMasks, layerwiseMasks, nmMask, parameterScores, type Criterion, type NMPattern,
} from './criteria.js';
import { PruningMasks, prunableParameters, type LayerSelection } from './masks.js';

/**
 * Unstructured and N:M pruning of an nn Module: choose the parameters (by layer type or name),
 * score them by the criterion, select the weights to keep per layer or globally, and hold the
 * result in a PruningMasks. pruneModule also zeroes the pruned weights.
 */

export interface PruneModuleOptions extends LayerSelection {
  /** Fraction of weights pruned, in [0, 1): exactly roundHalfToEven(sparsity * n) (see criteria.ts). Not with `nm`. */
  readonly sparsity?: number;
  /** N:M semi-structured instead: N of every M consecutive weights along the input axis kept (e.g. { n: 2, m: 4 }). */
  readonly nm?: NMPattern;
  /** How weights are ranked (default 'magnitude'). */
  readonly criterion?: Criterion;
  /** One threshold across the chosen layers instead of the same sparsity in each (default false: per layer). */
  readonly global?: boolean;
  /**
   * Masks already in force on this model: the new masks keep nothing they prune (iterative
   * pruning only removes more), and the sparsity counts the weights they already removed.
   */
  readonly previous?: PruningMasks;
}

/** The masks `options` ask for, without touching the weights. */
export function computeMasks(model: Module<[Tensor], Tensor>, options: PruneModuleOptions): PruningMasks {
  const op = 'prune';
  if (options === null || typeof options !== 'object') throw new MinnowError('INVALID_ARGUMENT', `${op}: options must be an object`);
  const { nm, previous } = options;
  if (nm === undefined && options.sparsity === undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: give a sparsity in [0, 1) or an N:M pattern`);
  if (nm !== undefined && options.sparsity !== undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: give either a sparsity or an N:M pattern, not both (N:M fixes the sparsity at 1 - N/M)`);
  if (nm !== undefined && options.global) throw new MinnowError('INVALID_ARGUMENT', `${op}: an N:M pattern holds in every group of every layer; it cannot be global`);
  const pattern = nm === undefined ? undefined : checkNM(op, nm);
  const sparsity = nm === undefined ? checkSparsity(op, options.sparsity) : 0;
  if (previous !== undefined && (!(previous instanceof PruningMasks) || previous.model !== (model as AnyModule))) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: previous must be the PruningMasks of this model`);
  }
  const params = prunableParameters(op, model, options);
  if (params.length === 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: no parameter is selected for pruning (the model has no ${options.types ? 'layer of the given types' : 'Linear or Conv2d layer'} left after include/exclude)`);
  const scores = parameterScores(op, model, params, options.criterion);
  const eligible = params.map(([name]) => previous?.mask(name));
  let kept: Uint8Array[];
  if (pattern) {
    kept = params.map(([name, p], i) => {
      if (p.rank < 2) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${pattern.n}:${pattern.m} sparsity runs along a weight's input axis; '${name}' ${formatDims(p.shape)} has none`);
      try {
        return nmMask(scores[i], p.shape, 1, pattern, eligible[i]);
      } catch (error) {
        if (error instanceof MinnowError) throw new MinnowError(error.code, `${error.message} ('${name}' is ${formatDims(p.shape)}; exclude it or pick another M)`, { cause: error });
        throw error;
      }
    });
  } else {
    kept = (options.global ? globalMasks : layerwiseMasks)(scores, sparsity, eligible);
  }
  const masks = new Map(params.map(([name], i) => [name, kept[i]] as const));
  // Masks of parameters this call did not select stay in force.
  for (const name of previous?.names ?? []) if (!masks.has(name)) masks.set(name, previous!.mask(name)!);
  return new PruningMasks(model, masks);
}

/**
 * Prunes `model` in place: computes the masks and zeroes the pruned weights. Returns the masks,
 * to hold them during fine-tuning (maskedTraining), report sparsity, or prune further.
 *
 * ```ts
 * const masks = pruneModule(model, { sparsity: 0.9, global: true });
 * console.log(masks.report().pruned.sparsity);
 * ```
 */
export function pruneModule(model: Module<[Tensor], Tensor>, options: PruneModuleOptions): PruningMasks {
  const masks = computeMasks(model, options);
  masks.apply();
  return masks;
}

const formatDims = (dims: readonly number[]): string => `[${dims.join(',')}]`;
