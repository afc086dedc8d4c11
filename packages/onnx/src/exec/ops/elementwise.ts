import { add, div, mul, sub } from '@minnow/core';
import type { OperatorTable } from '../operator.js';

/** Elementwise ops with numpy/ONNX broadcasting. Integer division truncates toward zero, as ONNX's reference does. */
export const elementwiseOperators: OperatorTable = {
  Add: { run: (ctx) => [add(ctx.tensor(0), ctx.tensor(1))] },
  Sub: { run: (ctx) => [sub(ctx.tensor(0), ctx.tensor(1))] },
  Mul: { run: (ctx) => [mul(ctx.tensor(0), ctx.tensor(1))] },
  Div: { run: (ctx) => [div(ctx.tensor(0), ctx.tensor(1))] },
  Identity: { run: (ctx) => [ctx.input(0)] },
};
