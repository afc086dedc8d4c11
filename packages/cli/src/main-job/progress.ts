import type { Progress } from '@minnow/compress';
import type { ProgressSink, ProgressTask } from '../progress.js';

/**
 * The training loop's progress reports, shown through the CLI's progress sink (a bar on a
 * terminal, a few lines per run in a log, nothing with --quiet or --json) as one task per run
 * counted in optimiser steps, with the epoch, the running loss and the last test accuracy as its
 * detail. Every report is also kept, so the report's loss curves are drawn from the same numbers.
 */

export interface TrainingProgress {
  /** Hand to train / distill / pruneGradually as `onProgress` (with the default progressEvery of 1). */
  readonly onProgress: (progress: Progress) => void;
  /** Every report received, in order. */
  readonly reports: Progress[];
  /** Ends the task (call once the run returns). */
  finish(): void;
}

/** A task named `label` of `steps` optimiser steps in all (epochs times batches per epoch). */
export function trainingProgress(sink: ProgressSink, label: string, steps: number): TrainingProgress {
  const reports: Progress[] = [];
  const task: ProgressTask = sink.task(label, steps, 'steps');
  let tested = '';
  let last = '';
  const onProgress = (p: Progress): void => {
    reports.push(p);
    if (p.phase === 'evaluate') {
      if (p.step === p.stepsPerEpoch) tested = `, test accuracy ${percent(p.accuracy)}`;
      return;
    }
    last = `epoch ${p.epoch + 1}/${p.epochs}, loss ${p.loss.toFixed(4)}, train accuracy ${percent(p.accuracy)}`;
    task.update(p.epoch * p.stepsPerEpoch + p.step, `${last}${tested}`);
  };
  return { onProgress, reports, finish: () => task.finish(`${last}${tested}`) };
}

export const percent = (fraction: number): string => `${(100 * fraction).toFixed(2)}%`;
