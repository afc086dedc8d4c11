import { MinnowError, formatShape, reshape, type Tensor } from '@minnow/core';
import { Module } from '../module.js';

/** Collapses dims [startDim, endDim] (inclusive; negative counts from the end) into one; default keeps the batch dim. */
export class Flatten extends Module<[Tensor], Tensor> {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  override forward(x: Tensor): Tensor {
    const rank = Math.max(1, x.rank);
    const start = this.startDim < 0 ? this.startDim + rank : this.startDim;
    const end = this.endDim < 0 ? this.endDim + rank : this.endDim;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end >= rank || start > end) {
      throw new MinnowError('OUT_OF_RANGE', `Flatten: dims ${this.startDim}..${this.endDim} do not fit shape ${formatShape(x.shape)}`);
    }
    if (x.rank === 0) return reshape(x, [1]);
    const merged = x.shape.slice(start, end + 1).reduce((a, b) => a * b, 1);
    return reshape(x, [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)]);
  }
}
