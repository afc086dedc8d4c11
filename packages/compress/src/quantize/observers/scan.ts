import { MinnowError, formatShape } from '@minnow/core';

/**
 * The one pass every observer makes over a batch: it refuses NaN and Inf (a calibrated range
 * built on them would be NaN or infinite, and the model silently broken), naming the tensor and
 * the element, and finds the batch's extremes.
 */

export function nonFinite(name: string, values: ArrayLike<number>, shape: readonly number[]): MinnowError {
  let i = 0;
  while (i < values.length && Number.isFinite(values[i])) i++;
  return new MinnowError(
    'INVALID_ARGUMENT',
    `calibration: tensor '${name}' ${formatShape(shape)} holds ${values[i]} at element ${i}; calibration data must be finite (check the inputs, or the layer that overflowed)`,
  );
}

/** min and max of a batch (Infinity, -Infinity when it is empty); a MinnowError on NaN or Inf. */
export function batchExtrema(name: string, values: ArrayLike<number>, shape: readonly number[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  // v * 0 is NaN exactly when v is NaN or +-Inf: one sum checks the whole batch.
  let probe = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    probe += v * 0;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (probe !== 0) throw nonFinite(name, values, shape);
  return { min, max };
}

/** Extremes per index along `axis` (into `min`/`max`, which the caller sized to shape[axis]). */
export function channelExtrema(name: string, values: ArrayLike<number>, shape: readonly number[], axis: number, min: Float64Array, max: Float64Array): void {
  const channels = shape[axis];
  let inner = 1;
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  min.fill(Infinity);
  max.fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw nonFinite(name, values, shape);
    const c = Math.floor(i / inner) % channels;
    if (v < min[c]) min[c] = v;
    if (v > max[c]) max[c] = v;
  }
}

export function resolveAxis(name: string, axis: number, shape: readonly number[]): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new MinnowError('OUT_OF_RANGE', `calibration: tensor '${name}' ${formatShape(shape)} has no axis ${axis} to observe per channel`);
  }
  return axis < 0 ? axis + rank : axis;
}

export function noData(name: string): MinnowError {
  return new MinnowError('INVALID_ARGUMENT', `calibration: the observer of tensor '${name}' has seen no data (an empty calibration set, or a tensor that never held an element)`);
}
