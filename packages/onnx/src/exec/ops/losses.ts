import {
  arange, cast, div, equal, formatShape, logSoftmax, mul, neg, reshape, sum, unsqueeze, where, type Tensor,
} from '@minnow/core';
import { DataType } from '../../ir/types.js';
import type { OpContext, OperatorTable } from '../operator.js';
import type { Value } from '../value.js';
import { FLOAT_TYPES, expectType, output, readable, typeName } from './elementwise/common.js';

/**
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss over input [N, C, d1 ... dk] and target
 * [N, d1 ... dk]. The class picked at each position is a one-hot mask (target == c) summed over C,
 * which needs no gather and gives 0 where the target is ignore_index. Reductions follow the spec:
 * 'mean' divides by the summed weights of the positions not ignored.
 */

const REDUCTIONS = ['none', 'sum', 'mean'];

function lossOf(ctx: OpContext, logProb: Tensor, type: number): Tensor {
  const reduction = ctx.attrs.string('reduction', 'mean');
  if (!REDUCTIONS.includes(reduction)) throw ctx.error('INVALID_ARGUMENT', `reduction must be none, sum or mean, got '${reduction}'`);
  expectType(ctx, 1, [DataType.INT32, DataType.INT64]);
  const target = ctx.tensor(1);
  const [n, c] = logProb.shape;
  const expected = [n, ...logProb.shape.slice(2)];
  if (logProb.rank < 2 || target.rank !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
    throw ctx.error('SHAPE_MISMATCH', `target ${formatShape(target.shape)} does not match input ${formatShape(logProb.shape)} (input [N, C, d1...], target [N, d1...])`);
  }
  const ignore = ctx.attrs.has('ignore_index') ? ctx.attrs.int('ignore_index') : undefined;
  checkTargets(ctx, target, c, ignore);

  const classes = reshape(arange(0, c, 1, { dtype: 'int32', backend: target.backend.name }), logProb.shape.map((d, i) => (i === 1 ? d : 1)));
  const oneHot = equal(unsqueeze(target, 1), classes);
  const picked = sum(where(oneHot, logProb, 0), { axes: 1 });
  // Each position's weight: weight[target] (0 for a target outside [0, C)), 1 without weights; 0 where ignored.
  let weights: Tensor | undefined;
  if (ctx.has(2)) {
    const weightType = expectType(ctx, 2, FLOAT_TYPES);
    if (weightType !== type) throw ctx.error('DTYPE_MISMATCH', `weight is ${typeName(weightType)} but input is ${typeName(type)}`);
    const weight = ctx.tensor(2);
    if (weight.rank !== 1 || weight.shape[0] !== c) throw ctx.error('SHAPE_MISMATCH', `weight ${formatShape(weight.shape)} must be [${c}] (one per class)`);
    weights = sum(where(oneHot, reshape(weight, classes.shape), 0), { axes: 1 });
  }
  const kept = ignore === undefined ? undefined : equal(equal(target, ignore), false);
  if (kept !== undefined) weights = weights === undefined ? cast(kept, logProb.dtype) : where(kept, weights, 0);
  const loss = weights === undefined ? neg(picked) : mul(neg(picked), weights);
  if (reduction === 'none') return loss;
  if (reduction === 'sum') return sum(loss);
  return div(sum(loss), weights === undefined ? loss.size : sum(weights));
}

/** Every target not ignored must name a class: one outside [0, C) is the model's error, not a silent 0. */
function checkTargets(ctx: OpContext, target: Tensor, classes: number, ignore: number | undefined): void {
  if (!readable(ctx, target)) return;
  const values = target.dataSync();
  for (let i = 0; i < values.length; i++) {
    const t = values[i];
    if (t !== ignore && (t < 0 || t >= classes)) {
      throw ctx.error('OUT_OF_RANGE', `target element ${i} is ${t}, not a class in [0, ${classes})${ignore === undefined ? '' : ` nor ignore_index ${ignore}`}`);
    }
  }
}

export const lossesOperators: OperatorTable = {
  NegativeLogLikelihoodLoss: {
    sinceVersion: 12,
    run: (ctx) => {
      const type = expectType(ctx, 0, FLOAT_TYPES);
      return [output(ctx, lossOf(ctx, ctx.tensor(0), type), type)];
    },
  },
  SoftmaxCrossEntropyLoss: {
    sinceVersion: 12,
    run: (ctx): Value[] => {
      const type = expectType(ctx, 0, FLOAT_TYPES);
      const scores = ctx.tensor(0);
      if (scores.rank < 2) throw ctx.error('SHAPE_MISMATCH', `scores ${formatShape(scores.shape)} must be [N, C, d1...]`);
      const logProb = logSoftmax(scores, 1);
      const loss = output(ctx, lossOf(ctx, logProb, type), type);
      return ctx.node.output.length > 1 ? [loss, output(ctx, logProb, type)] : [loss];
    },
  },
};
