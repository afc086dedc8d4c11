import { add, matmul, scope, type Tensor } from '@minnow/core';
import type { OpContext, OpOutput } from '../../operator.js';
import {
  assembleOutputs, initialStates, inputProjection, masked, maskedOutput, readRecurrentInputs, stepOf, stepOrder, type RecurrentKind,
} from './common.js';

const RNN: RecurrentKind = { opType: 'RNN', gates: 1, activations: ['Tanh'], clipped: 1 };

/** ONNX RNN (the simple one): H' = f(X Wi^T + H Ri^T + Wbi + Rbi). */
export function runSimpleRnn(ctx: OpContext): OpOutput[] {
  const inputs = readRecurrentInputs(ctx, RNN);
  const h0 = initialStates(ctx, 5, 'initial_h', inputs);
  const ys: Tensor[][] = [];
  const hs: Tensor[] = [];
  for (const direction of inputs.directions) {
    const [activation] = direction.activations;
    const bias = direction.wBias && direction.rBias && add(direction.wBias, direction.rBias);
    const xw = inputProjection(inputs.x, direction, bias);
    let h = h0[direction.index];
    const y: Tensor[] = new Array<Tensor>(inputs.seqLength);
    for (const t of stepOrder(inputs.seqLength, direction.reverse)) {
      [y[t], h] = scope(() => {
        const nextH = activation(add(stepOf(xw, t), matmul(h, direction.rT)));
        const mask = inputs.masks[t];
        return [maskedOutput(mask, nextH), masked(mask, nextH, h)];
      });
    }
    ys.push(y);
    hs.push(h);
  }
  return assembleOutputs(ctx, inputs, ys, [hs]);
}
