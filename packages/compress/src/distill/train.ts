import { crossEntropy } from '@minnow/nn';
import { checkBackends, runLoop, type Classifier, type EpochRecord, type LoopOptions } from './loop.js';

export interface TrainOptions extends LoopOptions {
  /** The model to train, from inputs [N, ...] to logits [N, C]. */
  readonly model: Classifier;
  /** Cross-entropy label smoothing (default 0). */
  readonly labelSmoothing?: number;
}

/**
 * Trains `model` on `data` with cross-entropy against the labels: the plain baseline that
 * `distill` is compared with, on the same loop (same steps, schedule, clipping, evaluation and
 * progress reports). Returns the history, one record per epoch.
 *
 * ```ts
 * const history = train({
 *   model, data: new DataLoader(trainSet, { batchSize: 128, shuffle: true, seed: 1, backend: 'wasm' }),
 *   optimizer: (params) => new Adam(params, { lr: 1e-3 }), epochs: 10,
 *   evaluate: { data: new DataLoader(testSet, { batchSize: 1000, backend: 'wasm' }) },
 *   onProgress: (p) => console.log(p.phase, p.epoch, p.step, p.loss, p.accuracy, p.samplesPerSecond),
 * });
 * ```
 */
export function train(options: TrainOptions): EpochRecord[] {
  const { model, labelSmoothing = 0 } = options;
  checkBackends('train', [['model', model]], [['data', options.data], ...(options.evaluate ? [['evaluate.data', options.evaluate.data] as const] : [])]);
  return runLoop({
    op: 'train',
    model,
    params: model.parameters(),
    step: (batch) => {
      const logits = model.forward(batch.x);
      return { loss: crossEntropy(logits, batch.y, { labelSmoothing }), logits };
    },
  }, options);
}
