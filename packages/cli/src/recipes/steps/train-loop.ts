import { Adam, DataLoader } from '@minnow/nn';
import type { LoopOptions, Progress } from '@minnow/compress';
import type { ProgressSink } from '../../progress.js';
import type { EvaluationData } from '../data.js';
import { trainingSet } from '../trainable.js';

/**
 * The loop options the training steps share (distillation, fine-tuning while pruning): the data's
 * training part in seeded shuffled batches, Adam, and progress that drives a bar and keeps the
 * reports for the loss curve.
 */
export function trainingLoop(
  data: EvaluationData,
  options: { readonly epochs: number; readonly lr: number; readonly batchSize: number; readonly seed: number },
  backend: string,
  progress: ProgressSink,
  label: string,
): { loop: LoopOptions; reports: Progress[]; finish: () => void } {
  const loader = new DataLoader(trainingSet(data.train, data), { batchSize: options.batchSize, shuffle: true, seed: options.seed, backend });
  const total = options.epochs * loader.length;
  const task = progress.task(label, total, 'steps');
  const reports: Progress[] = [];
  const loop: LoopOptions = {
    data: loader,
    optimizer: (params) => new Adam(params, { lr: options.lr }),
    epochs: options.epochs,
    // About 25 points per epoch for the curve, and as many bar updates.
    progressEvery: Math.max(1, Math.floor(loader.length / 25)),
    onProgress: (p) => {
      if (p.phase !== 'train') return;
      reports.push(p);
      task.update(p.epoch * p.stepsPerEpoch + p.step, `epoch ${p.epoch + 1}/${p.epochs}, loss ${p.loss.toFixed(4)}, ${Math.round(p.samplesPerSecond)} examples/s`);
    },
  };
  const finish = (): void => {
    const last = reports[reports.length - 1];
    task.finish(last ? `loss ${last.loss.toFixed(4)}` : undefined);
  };
  return { loop, reports, finish };
}
