import { full } from '@minnow/core';
import { DataType } from '../../../ir/types.js';
import type { OperatorDefinition, OpContext } from '../../operator.js';
import { Value } from '../../value.js';

/** The ratio and whether the node trains, from attributes (before opset 12) or inputs (from 12). */
function dropoutMode(ctx: OpContext): { ratio: number; training: boolean } {
  if (ctx.opset >= 12) {
    return { ratio: ctx.has(1) ? ctx.scalar(1) : 0.5, training: ctx.has(2) ? ctx.scalar(2) !== 0 : false };
  }
  // Before opset 7 Dropout trains unless is_test is set; from 7 to 11 it never trains.
  return { ratio: ctx.attrs.float('ratio', 0.5), training: ctx.opset < 7 && ctx.attrs.int('is_test', 0) === 0 };
}

/**
 * Dropout at inference is the identity, with a mask of all true (bool from opset 10, the input's
 * type before). Training with a non-zero ratio draws random numbers that no runtime agrees on
 * (the seed's meaning is the implementation's), so it is unsupported rather than approximated.
 */
export const Dropout: OperatorDefinition = {
  run: (ctx) => {
    const x = ctx.input(0);
    const { ratio, training } = dropoutMode(ctx);
    if (training && ratio !== 0) {
      throw ctx.error('UNSUPPORTED_OP', `training-mode Dropout with ratio ${ratio} is random and not supported (run with training_mode false or ratio 0)`);
    }
    if (ratio < 0 || ratio >= 1) throw ctx.error('INVALID_MODEL', `ratio ${ratio} must be in [0, 1)`);
    if (ctx.node.output.length < 2 || ctx.node.output[1] === '') return [x];
    const t = x.tensor(ctx.backend, ctx.label);
    const mask = ctx.opset >= 10
      ? Value.fromTensor(full(x.shape, 1, { dtype: 'bool', backend: ctx.backend }), DataType.BOOL)
      : Value.fromTensor(full(x.shape, 1, { dtype: t.dtype, backend: ctx.backend }), x.elemType);
    return [x, mask];
  },
};
