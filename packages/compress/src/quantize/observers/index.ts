import { MinnowError } from '@minnow/core';
import type { CalibrationOptions, Observer } from '../types.js';
import { HistogramObserver, type QuantTarget } from './histogram.js';
import { MinMaxObserver, MovingAverageMinMaxObserver } from './minmax.js';

/**
 * Calibration observers: streaming range estimators with bounded memory. MinMax and moving-average
 * MinMax keep two numbers per channel; the histogram observer keeps a fixed number of bins and
 * picks its range by percentile, entropy (KL divergence) or MSE.
 */
export { MinMaxObserver, MovingAverageMinMaxObserver, type MinMaxObserverOptions, type MovingAverageObserverOptions } from './minmax.js';
export { HistogramObserver, type HistogramMethod, type HistogramObserverOptions, type QuantTarget } from './histogram.js';
export { entropyRange, mseRange, percentileRange, type HistogramSnapshot } from './thresholds.js';

export interface ObserverOptions extends CalibrationOptions {
  /** The tensor observed, named in errors. */
  readonly name?: string;
  /** Per-channel observation along this axis (minmax and moving-average only). */
  readonly axis?: number;
  /** What the range is for (histogram methods optimise for it; default uint8 affine). */
  readonly target?: QuantTarget;
}

/** The observer `options.method` names. */
export function createObserver(options: ObserverOptions): Observer {
  const { method, name, axis } = options;
  switch (method) {
    case 'minmax':
      return new MinMaxObserver({ name, axis });
    case 'moving-average':
      return new MovingAverageMinMaxObserver({ name, axis, averagingConstant: options.averagingConstant });
    case 'percentile':
    case 'entropy':
    case 'mse':
      if (axis !== undefined) {
        throw new MinnowError('INVALID_ARGUMENT', `calibration: the ${method} method observes per tensor; per-channel ranges come from minmax or moving-average`);
      }
      return new HistogramObserver({ method, name, bins: options.bins, percentile: options.percentile, target: options.target });
    default:
      throw new MinnowError('INVALID_ARGUMENT', `calibration: unknown method '${String(method)}' (minmax, moving-average, percentile, entropy or mse)`);
  }
}
