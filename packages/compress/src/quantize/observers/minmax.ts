import { MinnowError, formatShape } from '@minnow/core';
import type { Granularity, Observer, TensorRange } from '../types.js';
import { batchExtrema, channelExtrema, noData, resolveAxis } from './scan.js';

/**
 * Min-max observers: the running extremes of everything seen (MinMaxObserver) or an exponential
 * moving average of each batch's extremes (MovingAverageMinMaxObserver, as onnxruntime's
 * `moving_average` option and PyTorch's MovingAverageMinMaxObserver: the first batch sets the
 * range, each later one moves it by `averagingConstant` towards its own extremes). Both observe
 * per tensor or, with `axis`, per channel; their memory is two numbers per channel.
 */

export interface MinMaxObserverOptions {
  /** The tensor observed, named in errors. */
  readonly name?: string;
  /** Observe per index along this axis (per channel) instead of per tensor. */
  readonly axis?: number;
}

export interface MovingAverageObserverOptions extends MinMaxObserverOptions {
  /** Weight of each new batch, in (0, 1] (default 0.01). */
  readonly averagingConstant?: number;
}

abstract class ExtremaObserver implements Observer {
  readonly name: string;
  private readonly axis: number | undefined;
  private resolvedAxis = -1;
  protected min: Float64Array;
  protected max: Float64Array;
  private batchMin: Float64Array;
  private batchMax: Float64Array;
  protected seen = false;

  constructor(options: MinMaxObserverOptions = {}, channels = 1) {
    this.name = options.name ?? 'tensor';
    this.axis = options.axis;
    this.min = new Float64Array(channels);
    this.max = new Float64Array(channels);
    this.batchMin = new Float64Array(channels);
    this.batchMax = new Float64Array(channels);
  }

  get bytes(): number {
    return this.min.byteLength + this.max.byteLength + this.batchMin.byteLength + this.batchMax.byteLength;
  }

  observe(values: Float32Array, shape: readonly number[]): void {
    checkLength(this.name, values, shape);
    if (values.length === 0) return;
    if (this.axis === undefined) {
      const { min, max } = batchExtrema(this.name, values, shape);
      this.batchMin[0] = min;
      this.batchMax[0] = max;
    } else {
      const axis = resolveAxis(this.name, this.axis, shape);
      if (!this.seen) this.allocate(axis, shape[axis]);
      else if (axis !== this.resolvedAxis || shape[axis] !== this.min.length) {
        throw new MinnowError('SHAPE_MISMATCH', `calibration: tensor '${this.name}' ${formatShape(shape)} has ${shape[axis]} channels on axis ${axis}; earlier batches had ${this.min.length} on axis ${this.resolvedAxis}`);
      }
      channelExtrema(this.name, values, shape, axis, this.batchMin, this.batchMax);
    }
    this.merge(this.batchMin, this.batchMax);
    this.seen = true;
  }

  /** Folds one batch's extremes into the state. */
  protected abstract merge(batchMin: Float64Array, batchMax: Float64Array): void;

  range(): TensorRange {
    if (!this.seen) throw noData(this.name);
    const granularity: Granularity = this.axis === undefined ? { kind: 'tensor' } : { kind: 'axis', axis: this.resolvedAxis };
    return { min: Float32Array.from(this.min, roundDown), max: Float32Array.from(this.max, roundUp), granularity };
  }

  private allocate(axis: number, channels: number): void {
    this.resolvedAxis = axis;
    if (this.min.length === channels) return;
    this.min = new Float64Array(channels);
    this.max = new Float64Array(channels);
    this.batchMin = new Float64Array(channels);
    this.batchMax = new Float64Array(channels);
  }
}

/** The exact extremes of every value observed. */
export class MinMaxObserver extends ExtremaObserver {
  protected merge(batchMin: Float64Array, batchMax: Float64Array): void {
    for (let c = 0; c < batchMin.length; c++) {
      this.min[c] = this.seen ? Math.min(this.min[c], batchMin[c]) : batchMin[c];
      this.max[c] = this.seen ? Math.max(this.max[c], batchMax[c]) : batchMax[c];
    }
  }
}

/** An exponential moving average of each batch's extremes: outlier batches move the range only a little. */
export class MovingAverageMinMaxObserver extends ExtremaObserver {
  readonly averagingConstant: number;

  constructor(options: MovingAverageObserverOptions = {}) {
    super(options);
    const c = options.averagingConstant ?? 0.01;
    if (!(c > 0 && c <= 1)) throw new MinnowError('INVALID_ARGUMENT', `calibration: averagingConstant must be in (0, 1], got ${c}`);
    this.averagingConstant = c;
  }

  protected merge(batchMin: Float64Array, batchMax: Float64Array): void {
    const c = this.averagingConstant;
    for (let i = 0; i < batchMin.length; i++) {
      this.min[i] = this.seen ? this.min[i] + c * (batchMin[i] - this.min[i]) : batchMin[i];
      this.max[i] = this.seen ? this.max[i] + c * (batchMax[i] - this.max[i]) : batchMax[i];
    }
  }
}

export function checkLength(name: string, values: ArrayLike<number>, shape: readonly number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new MinnowError('SHAPE_MISMATCH', `calibration: tensor '${name}' has ${values.length} values for shape ${formatShape(shape)}`);
}

// The float32 range must still contain every value the float64 one did.
function roundDown(v: number): number {
  const f = Math.fround(v);
  return f > v ? nextFloat32Down(f) : f;
}

function roundUp(v: number): number {
  const f = Math.fround(v);
  return f < v ? -nextFloat32Down(-f) : f;
}

const scratch = new Float32Array(1);
const bits = new Int32Array(scratch.buffer);

/** The largest float32 below f (f finite). */
export function nextFloat32Down(f: number): number {
  if (f === 0) return -(2 ** -149);
  scratch[0] = f;
  bits[0] += f > 0 ? -1 : 1;
  return scratch[0];
}
