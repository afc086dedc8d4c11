import { add, div, mul, sub } from '@minnow/core';
import type { OperatorTable } from '../operator.js';
import { activationOperators } from './elementwise/activations.js';
import { binaryOperators } from './elementwise/binary.js';
import { castOperators } from './elementwise/cast.js';
import { binaryOperands } from './elementwise/common.js';
import { logicOperators } from './elementwise/logic.js';
import { unaryOperators } from './elementwise/unary.js';

/** Elementwise ops with numpy/ONNX broadcasting. Integer division truncates toward zero, as ONNX's reference does. */
export const elementwiseOperators: OperatorTable = {
  Add: { run: (ctx) => [add(...binaryOperands(ctx))] },
  Sub: { run: (ctx) => [sub(...binaryOperands(ctx))] },
  Mul: { run: (ctx) => [mul(...binaryOperands(ctx))] },
  Div: { run: (ctx) => [div(...binaryOperands(ctx))] },
  Identity: { run: (ctx) => [ctx.input(0)] },
  ...unaryOperators,
  ...binaryOperators,
  ...logicOperators,
  ...castOperators,
  ...activationOperators,
};
