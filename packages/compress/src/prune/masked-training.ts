import { MinnowError } from '@minnow/core';
import { Module } from '@minnow/nn';
import { distill } from '../distill/distill.js';
import type { DistillationKind } from '../distill/loss.js';
import type { AnyOptimizer, Classifier, EpochRecord, LoopOptions, StepHooks } from '../distill/loop.js';
import { train } from '../distill/train.js';
import type { Criterion } from './criteria.js';
import { PruningMasks, type LayerSelection } from './masks.js';
import { computeMasks } from './prune-module.js';
import { checkSchedule, type SparsitySchedule } from './schedule.js';

/**
 * Training with pruning masks held in force, on the one training loop (train() and distill()):
 * after backward the pruned weights' gradients are zeroed (so clipping sees only live weights);
 * after the optimiser step its state at pruned positions is zeroed (SGD momentum, Adam moments:
 * history that would otherwise move a pruned weight) and the weights are masked again. A pruned
 * weight therefore stays exactly zero through any number of steps.
 */

/**
 * Step hooks that hold `masks` during train() or distill() (pass them as `stepHooks`), for
 * fine-tuning after one-shot pruning. Extra hooks run after the masking ones.
 *
 * ```ts
 * const masks = pruneModule(model, { sparsity: 0.8 });
 * train({ model, data, optimizer, epochs: 2, stepHooks: maskedTraining(masks) });
 * ```
 */
export function maskedTraining(masks: PruningMasks, extra?: StepHooks): StepHooks {
  if (!(masks instanceof PruningMasks)) throw new MinnowError('INVALID_ARGUMENT', 'maskedTraining: masks must be a PruningMasks');
  return holdMasks(() => masks, extra);
}

/** The hooks, reading the masks in force at each call (gradual pruning replaces them). */
function holdMasks(current: () => PruningMasks | null, extra: StepHooks | undefined, onStep?: (step: number) => void): StepHooks {
  return {
    afterBackward: (step: number, optimizer: AnyOptimizer): void => {
      current()?.maskGradients();
      extra?.afterBackward?.(step, optimizer);
    },
    afterStep: (step: number, optimizer: AnyOptimizer): void => {
      onStep?.(step);
      const masks = current();
      if (masks) {
        masks.maskOptimizerState(optimizer);
        masks.apply();
      }
      extra?.afterStep?.(step, optimizer);
    },
  };
}

export interface GradualPruningOptions extends LoopOptions, LayerSelection {
  /** The model pruned and trained, from inputs [N, ...] to logits [N, C]. */
  readonly model: Classifier;
  /**
   * When masks are recomputed and to what sparsity, in optimiser steps (data.length per epoch).
   * Its end step must come within epochs * data.length steps.
   */
  readonly pruningSchedule: SparsitySchedule;
  /** How weights are ranked at each pruning step (default 'magnitude'). */
  readonly criterion?: Criterion;
  /** One threshold across the pruned layers instead of the same sparsity in each (default false). */
  readonly global?: boolean;
  /** Masks already in force (say from an earlier run): kept, and only ever extended. */
  readonly masks?: PruningMasks;
  /**
   * Distil from this model while pruning: pass the unpruned model (a separate copy: the model
   * being pruned cannot teach itself). The loss is distill()'s, with `temperature`, `alpha`, `loss`.
   */
  readonly teacher?: Classifier;
  readonly temperature?: number;
  readonly alpha?: number;
  readonly loss?: DistillationKind;
  readonly cacheTeacher?: boolean;
  /** Without a teacher: cross-entropy label smoothing (default 0). */
  readonly labelSmoothing?: number;
}

/** One mask update of a gradual run. */
export interface PruningEvent {
  /** Optimiser steps taken before it (0: before training). */
  readonly step: number;
  /** The schedule's sparsity for this step. */
  readonly target: number;
  /** The fraction of the pruned layers' weights the masks remove afterwards. */
  readonly sparsity: number;
}

export interface GradualPruningResult {
  readonly history: EpochRecord[];
  /** The masks in force at the end (the model's weights are masked by them); dispose() frees their device copies. */
  readonly masks: PruningMasks;
  readonly events: readonly PruningEvent[];
}

/**
 * Gradual pruning with fine-tuning (Zhu and Gupta, arXiv:1710.01878): trains `model` with
 * train() (or distill() from `teacher`), and at every pruning step of the schedule recomputes
 * the masks to the schedule's sparsity (weights pruned earlier stay pruned) and holds them in
 * force until the next. Step 0 prunes before the first batch.
 *
 * ```ts
 * const stepsPerEpoch = data.length;
 * const { masks, history } = pruneGradually({
 *   model, data, epochs: 10, optimizer: (p) => new Adam(p, { lr: 1e-3 }),
 *   pruningSchedule: polynomialDecay({ finalSparsity: 0.9, endStep: 6 * stepsPerEpoch, frequency: stepsPerEpoch / 4 }),
 *   teacher: unprunedCopy, temperature: 4, alpha: 0.5,
 * });
 * ```
 */
export function pruneGradually(options: GradualPruningOptions): GradualPruningResult {
  const op = 'pruneGradually';
  const { model, teacher, data, epochs } = options;
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', `${op}: model must be a Module`);
  const schedule = checkSchedule(op, options.pruningSchedule);
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: epochs must be a positive integer, got ${String(epochs)}`);
  const totalSteps = epochs * data.length;
  if (schedule.endStep > totalSteps) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: the schedule ends at step ${schedule.endStep}, but ${epochs} epoch(s) of ${data.length} batches take only ${totalSteps} steps, so it would never reach its final sparsity`);
  }
  if (options.masks !== undefined && (!(options.masks instanceof PruningMasks) || options.masks.model !== model)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: masks must be PruningMasks of this model`);
  }
  let masks: PruningMasks | null = options.masks ?? null;
  const events: PruningEvent[] = [];
  const prune = (step: number): void => {
    const target = schedule.sparsityAt(step);
    const next = computeMasks(model, {
      sparsity: target, criterion: options.criterion, global: options.global,
      types: options.types, include: options.include, exclude: options.exclude, previous: masks ?? undefined,
    });
    // The caller's starting masks are theirs to dispose; the ones made here are ours.
    if (masks !== options.masks) masks?.dispose();
    masks = next;
    masks.apply();
    events.push({ step, target, sparsity: maskedFraction(masks) });
  };
  if (schedule.isPruningStep(0)) prune(0);
  else masks?.apply();
  const stepHooks = holdMasks(() => masks, options.stepHooks, (step) => {
    if (schedule.isPruningStep(step)) prune(step);
  });
  const history = teacher === undefined
    ? train({ ...options, model, stepHooks })
    : distill({ ...options, teacher, student: model, stepHooks });
  if (!masks) throw new MinnowError('INTERNAL', `${op}: the schedule never pruned`);
  return { history, masks, events };
}

/** Pruned weights over all masked weights. */
function maskedFraction(masks: PruningMasks): number {
  let pruned = 0;
  let total = 0;
  for (const name of masks.names) {
    pruned += masks.prunedCount(name);
    total += masks.mask(name)!.length;
  }
  return total ? pruned / total : 0;
}
