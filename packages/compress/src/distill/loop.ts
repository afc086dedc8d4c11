import {
  MinnowError, argmax, cast, defaultBackendName, equal, noGrad, scope, sum, type Tensor,
} from '@minnow/core';
import {
  LRSchedule, Module, Optimizer, clipGradNorm as clipGradients, crossEntropy, type BaseHyperparameters, type Batch,
  type DataLoader,
} from '@minnow/nn';

/**
 * The one training loop behind `train` (cross-entropy) and `distill` (teacher-student): epochs over
 * a DataLoader, one scope per step (so no step leaves a tensor behind), backward, optional gradient
 * clipping, an optimiser step, an optional schedule, an optional evaluation after each epoch, a
 * progress callback, and a history. Everything here is synchronous: on backend-js and backend-wasm
 * a run is a pure function of the seeds of the models, the loader and any dropout.
 */

/** A model from inputs [N, ...] to logits [N, C]. */
export type Classifier = Module<[Tensor], Tensor>;

/** Any minnow optimiser. */
export type AnyOptimizer = Optimizer<BaseHyperparameters>;

/**
 * An optimiser over the trained parameters, or a factory that receives them (then the loop owns the
 * optimiser and disposes it at the end; distill with hints needs a factory, since the parameters of
 * the hint regressor it creates are known only inside distill).
 */
export type OptimizerInput = AnyOptimizer | ((params: Tensor[]) => AnyOptimizer);

/** A schedule over the optimiser, or a factory that receives the optimiser (needed with an optimiser factory). */
export type ScheduleInput = LRSchedule | ((optimizer: AnyOptimizer) => LRSchedule);

/** What the progress callback receives, after every `progressEvery` steps and at the end of each phase. */
export interface Progress {
  /** 'train': a training step; 'evaluate': the evaluation after an epoch. */
  readonly phase: 'train' | 'evaluate';
  /** The epoch of this run, counted from 0. */
  readonly epoch: number;
  readonly epochs: number;
  /** Steps (batches) done in this phase of this epoch, from 1. */
  readonly step: number;
  /** Batches in this phase of an epoch. */
  readonly stepsPerEpoch: number;
  /** Samples seen in this phase of this epoch. */
  readonly samples: number;
  /** Mean loss over the phase so far (train: the objective being minimised; evaluate: cross-entropy). */
  readonly loss: number;
  /** Fraction of samples whose argmax logit is the label, over the phase so far (train: in training mode). */
  readonly accuracy: number;
  /** Samples per second over the phase so far (wall clock, including data loading). */
  readonly samplesPerSecond: number;
  /** The learning rate of the optimiser's first group. */
  readonly lr: number;
  /** distill with hints: the mean hint (feature regression) loss so far. */
  readonly hintLoss?: number;
}

/** One epoch of history. */
export interface EpochRecord {
  readonly epoch: number;
  /** Mean training objective over the epoch's samples. */
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  /** With hints: the mean hint loss (already included in trainLoss, times its weight). */
  readonly hintLoss?: number;
  /** With `evaluate`: cross-entropy, accuracy and misclassified count on the evaluation data, in eval mode. */
  readonly testLoss?: number;
  readonly testAccuracy?: number;
  readonly testErrors?: number;
  /** The learning rate the epoch's last step used. */
  readonly lr: number;
  /** Wall-clock seconds of the training phase (not the evaluation). */
  readonly seconds: number;
  readonly samplesPerSecond: number;
}

export interface LoopOptions {
  /**
   * The training data. Each epoch is one `for ... of` over the loader, which moves its epoch
   * counter on; with `shuffle` the loader's seed (and that counter) decides the order, so a new
   * loader with the same seed replays a run exactly.
   */
  readonly data: DataLoader;
  readonly optimizer: OptimizerInput;
  /** Passes over `data`, a positive integer. */
  readonly epochs: number;
  readonly schedule?: ScheduleInput;
  /** When the schedule steps: after every epoch (default) or after every optimiser step. */
  readonly scheduleEvery?: 'epoch' | 'step';
  /** Clip the total 2-norm of the gradients to this before each step (nn's clipGradNorm). */
  readonly clipGradNorm?: number;
  /** Evaluate on `data` after every `every` epochs (default 1) and after the last. */
  readonly evaluate?: { readonly data: DataLoader; readonly every?: number };
  readonly onProgress?: (progress: Progress) => void;
  /** Call onProgress every this many steps (default 1) and at the end of every phase. */
  readonly progressEvery?: number;
  /** Callbacks around every optimiser step, for methods that constrain training (pruning holds its masks with them). */
  readonly stepHooks?: StepHooks;
}

/** Callbacks around each optimiser step; `step` counts the optimiser steps of this run from 1. */
export interface StepHooks {
  /** After backward, before gradient clipping and the optimiser step (the gradients are in the parameters' .grad). */
  readonly afterBackward?: (step: number, optimizer: AnyOptimizer) => void;
  /** After the optimiser step and the gradients are cleared, before a per-step learning-rate schedule moves. */
  readonly afterStep?: (step: number, optimizer: AnyOptimizer) => void;
}

/** What one training step computed; the loop runs backward on `loss`. */
export interface StepOutput {
  readonly loss: Tensor;
  /** The trained model's logits, for the accuracy. */
  readonly logits: Tensor;
  readonly hintLoss?: Tensor;
}

/** The part of a run that differs between train and distill. */
export interface LoopSpec {
  /** 'train' or 'distill', for messages. */
  readonly op: string;
  /** The model being trained: set to training mode each epoch, and what `evaluate` measures. */
  readonly model: Classifier;
  /** Every parameter the optimiser must update (the model's, plus any the loss owns). */
  readonly params: Tensor[];
  /** One step's forward and loss, called inside a scope with the tape on. */
  readonly step: (batch: Batch) => StepOutput;
}

export interface Evaluation {
  /** Mean cross-entropy over the samples. */
  readonly loss: number;
  readonly accuracy: number;
  /** Misclassified samples (argmax logit != label). */
  readonly errors: number;
  readonly samples: number;
}

/**
 * Loss, accuracy and error count of `model` on every batch of `data`, in eval mode (dropout off,
 * batch norm on running statistics) and under noGrad; the model's mode is restored afterwards.
 * One `for ... of` over the loader (so it counts as one of the loader's epochs).
 */
export function evaluate(model: Classifier, data: DataLoader): Evaluation {
  checkBackends('evaluate', [['model', model]], [['data', data]]);
  return evaluateBatches(model, data);
}

/** evaluate(), reporting the totals so far after every batch. */
function evaluateBatches(model: Classifier, data: DataLoader, onBatch?: (e: Evaluation & { step: number; seconds: number }) => void): Evaluation {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  let step = 0;
  const start = performance.now();
  try {
    for (const batch of data) {
      try {
        const [loss, hits] = noGrad(() => scope(() => {
          const logits = model.forward(batch.x);
          return [crossEntropy(logits, batch.y).itemSync(), countCorrect(logits, batch.y)] as const;
        }));
        const n = batch.y.shape[0];
        lossSum += loss * n;
        correct += hits;
        samples += n;
      } finally {
        batch.dispose();
      }
      step++;
      onBatch?.({ ...summarise(lossSum, correct, samples), step, seconds: (performance.now() - start) / 1000 });
    }
  } finally {
    model.train(wasTraining);
  }
  return summarise(lossSum, correct, samples);
}

function summarise(lossSum: number, correct: number, samples: number): Evaluation {
  return { loss: samples ? lossSum / samples : NaN, accuracy: samples ? correct / samples : NaN, errors: samples - correct, samples };
}

/** How many rows of `logits` [N, C] have their first maximum at `labels` [N]. Reads one number back. */
export function countCorrect(logits: Tensor, labels: Tensor): number {
  return noGrad(() => scope(() => sum(cast(equal(argmax(logits, -1), labels), 'int32')).itemSync()));
}

/** Runs the loop of `spec` with `options`; the history, one record per epoch. */
export function runLoop(spec: LoopSpec, options: LoopOptions): EpochRecord[] {
  const { op, model, params } = spec;
  const { data, epochs, onProgress } = options;
  checkLoopOptions(op, options);
  const every = options.progressEvery ?? 1;
  const ownsOptimizer = typeof options.optimizer === 'function';
  const optimizer = ownsOptimizer ? (options.optimizer as (p: Tensor[]) => AnyOptimizer)(params) : (options.optimizer as AnyOptimizer);
  try {
    if (!(optimizer instanceof Optimizer)) throw new MinnowError('INVALID_ARGUMENT', `${op}: optimizer must be a minnow Optimizer or a function returning one`);
    const schedule = typeof options.schedule === 'function' ? options.schedule(optimizer) : options.schedule;
    if (schedule !== undefined && (!(schedule instanceof LRSchedule) || schedule.optimizer !== optimizer)) {
      throw new MinnowError('INVALID_ARGUMENT', `${op}: schedule must be an LRSchedule over the run's optimiser (with an optimiser factory, pass a schedule factory too)`);
    }
    const lr = (): number => optimizer.paramGroups[0].lr;
    const wasTraining = model.training;
    for (const p of params) p.zeroGrad();
    const history: EpochRecord[] = [];
    let optimizerSteps = 0;
    try {
      for (let epoch = 0; epoch < epochs; epoch++) {
        model.train();
        const stepsPerEpoch = data.length;
        const start = performance.now();
        let lossSum = 0;
        let hintSum = 0;
        let hasHint = false;
        let correct = 0;
        let samples = 0;
        let step = 0;
        let stepLr = lr();
        const report = (final: boolean): void => {
          if (!onProgress || !(final || step % every === 0)) return;
          const seconds = (performance.now() - start) / 1000;
          onProgress({
            phase: 'train', epoch, epochs, step, stepsPerEpoch, samples, loss: lossSum / samples, accuracy: correct / samples,
            samplesPerSecond: samples / seconds, lr: stepLr, ...(hasHint ? { hintLoss: hintSum / samples } : {}),
          });
        };
        for (const batch of data) {
          let values: readonly [number, number, number | undefined];
          try {
            values = scope(() => {
              const out = spec.step(batch);
              out.loss.backward();
              return [out.loss.itemSync(), countCorrect(out.logits, batch.y), out.hintLoss?.itemSync()] as const;
            });
          } finally {
            batch.dispose();
          }
          options.stepHooks?.afterBackward?.(optimizerSteps + 1, optimizer);
          if (options.clipGradNorm !== undefined) clipGradients(params, options.clipGradNorm);
          stepLr = lr();
          optimizer.step();
          for (const p of params) p.zeroGrad();
          options.stepHooks?.afterStep?.(++optimizerSteps, optimizer);
          if (schedule && options.scheduleEvery === 'step') schedule.step();
          const n = batch.indices.length;
          lossSum += values[0] * n;
          correct += values[1];
          if (values[2] !== undefined) {
            hintSum += values[2] * n;
            hasHint = true;
          }
          samples += n;
          step++;
          if (step < stepsPerEpoch) report(false);
        }
        if (step > 0) report(true);
        const seconds = (performance.now() - start) / 1000;
        if (schedule && options.scheduleEvery !== 'step') schedule.step();
        let test: Evaluation | undefined;
        const evalEvery = options.evaluate?.every ?? 1;
        if (options.evaluate && ((epoch + 1) % evalEvery === 0 || epoch === epochs - 1)) {
          test = runEvaluation(model, options.evaluate.data, epoch, epochs, stepLr, every, onProgress);
        }
        history.push({
          epoch,
          trainLoss: lossSum / samples,
          trainAccuracy: correct / samples,
          ...(hasHint ? { hintLoss: hintSum / samples } : {}),
          ...(test ? { testLoss: test.loss, testAccuracy: test.accuracy, testErrors: test.errors } : {}),
          lr: stepLr,
          seconds,
          samplesPerSecond: samples / seconds,
        });
      }
    } finally {
      model.train(wasTraining);
      for (const p of params) if (!p.isDisposed) p.zeroGrad();
    }
    return history;
  } finally {
    if (ownsOptimizer) optimizer.dispose();
  }
}

function runEvaluation(
  model: Classifier, data: DataLoader, epoch: number, epochs: number, lr: number, every: number, onProgress: LoopOptions['onProgress'],
): Evaluation {
  const stepsPerEpoch = data.length;
  return evaluateBatches(model, data, onProgress && (({ step, seconds, loss, accuracy, samples }) => {
    if (step % every !== 0 && step !== stepsPerEpoch) return;
    onProgress({ phase: 'evaluate', epoch, epochs, step, stepsPerEpoch, samples, loss, accuracy, samplesPerSecond: samples / seconds, lr });
  }));
}

function checkLoopOptions(op: string, options: LoopOptions): void {
  const { epochs, progressEvery, clipGradNorm, scheduleEvery } = options;
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: epochs must be a positive integer, got ${String(epochs)}`);
  if (progressEvery !== undefined && (!Number.isSafeInteger(progressEvery) || progressEvery < 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: progressEvery must be a positive integer, got ${String(progressEvery)}`);
  }
  if (clipGradNorm !== undefined && !(clipGradNorm >= 0)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: clipGradNorm must be a number >= 0, got ${String(clipGradNorm)}`);
  }
  if (scheduleEvery !== undefined && scheduleEvery !== 'epoch' && scheduleEvery !== 'step') {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: scheduleEvery must be 'epoch' or 'step', got ${JSON.stringify(scheduleEvery)}`);
  }
  const every = options.evaluate?.every;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: evaluate.every must be a positive integer, got ${String(every)}`);
  }
  if (options.data.length === 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: the training data loader yields no batches`);
}

/**
 * Every model's parameters and every loader's batches must live on one backend: a step cannot
 * mix them, and finding out at the first matmul would name neither the model nor the loader.
 */
export function checkBackends(op: string, models: readonly (readonly [string, Classifier])[], loaders: readonly (readonly [string, DataLoader])[]): string {
  const places: [string, string][] = [];
  for (const [name, m] of models) {
    if (!(m instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${name} must be a Module`);
    const first = m.parameters()[0] ?? m.buffers()[0];
    if (first) places.push([name, first.backend.name]);
  }
  for (const [name, loader] of loaders) {
    const backend = loader.backend ?? defaultBackendName();
    if (backend) places.push([`${name} (its batches)`, backend]);
  }
  const backend = places[0]?.[1] ?? defaultBackendName() ?? 'js';
  const other = places.find(([, b]) => b !== backend);
  if (other) {
    throw new MinnowError('BACKEND_MISMATCH', `${op}: ${places[0][0]} lives on "${backend}" but ${other[0]} on "${other[1]}"; move models with await model.to(name) and give loaders { backend: name }`);
  }
  return backend;
}
