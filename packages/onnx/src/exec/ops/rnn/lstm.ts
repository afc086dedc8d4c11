import { add, matmul, mul, scope, slice, sub, formatShape, type Tensor } from '@minnow/core';
import type { OpContext, OpOutput } from '../../operator.js';
import {
  assembleOutputs, columns, initialStates, inputProjection, masked, maskedOutput, readRecurrentInputs, stepOf, stepOrder, type RecurrentKind,
} from './common.js';

const LSTM: RecurrentKind = { opType: 'LSTM', gates: 4, activations: ['Sigmoid', 'Tanh', 'Tanh'], clipped: 2 };

/**
 * ONNX LSTM, gates in iofc order, with optional peepholes (P, iof order) and coupled input and
 * forget gates (input_forget: f = 1 - i, as onnxruntime computes it):
 *   i = f(Xi + Hi + Pi*C),  f = f(Xf + Hf + Pf*C),  c~ = g(Xc + Hc),  C' = f*C + i*c~,
 *   o = f(Xo + Ho + Po*C'), H' = o * h(C')
 */
export function runLstm(ctx: OpContext): OpOutput[] {
  const inputs = readRecurrentInputs(ctx, LSTM);
  const { hidden } = inputs;
  const h0 = initialStates(ctx, 5, 'initial_h', inputs);
  const c0 = initialStates(ctx, 6, 'initial_c', inputs);
  const p = ctx.optionalTensor(7);
  const numDirections = inputs.directions.length;
  if (p !== undefined && (p.dtype !== inputs.x.dtype || p.rank !== 2 || p.shape[0] !== numDirections || p.shape[1] !== 3 * hidden)) {
    throw ctx.error('INVALID_MODEL', `P is ${p.dtype}${formatShape(p.shape)}, expected ${inputs.x.dtype}${formatShape([numDirections, 3 * hidden])}`);
  }
  const inputForget = ctx.attrs.int('input_forget', 0) !== 0;
  const ys: Tensor[][] = [];
  const hs: Tensor[] = [];
  const cs: Tensor[] = [];
  for (const direction of inputs.directions) {
    const [gate, cell, output] = direction.activations;
    const d = direction.index;
    const bias = direction.wBias && direction.rBias && add(direction.wBias, direction.rBias);
    const xw = inputProjection(inputs.x, direction, bias);
    const peephole = (k: number): Tensor | undefined => (p === undefined ? undefined : slice(p, [d, k * hidden], [d + 1, (k + 1) * hidden]));
    const [pi, po, pf] = [peephole(0), peephole(1), peephole(2)];
    let h = h0[d];
    let c = c0[d];
    const y: Tensor[] = new Array<Tensor>(inputs.seqLength);
    for (const t of stepOrder(inputs.seqLength, direction.reverse)) {
      [y[t], h, c] = scope(() => {
        const gates = add(stepOf(xw, t), matmul(h, direction.rT));
        const withPeephole = (pre: Tensor, weight: Tensor | undefined, state: Tensor): Tensor => (weight === undefined ? pre : add(pre, mul(weight, state)));
        const i = gate(withPeephole(columns(gates, 0, hidden), pi, c));
        const f = inputForget ? sub(1, i) : gate(withPeephole(columns(gates, 2 * hidden, 3 * hidden), pf, c));
        const nextC = add(mul(f, c), mul(i, cell(columns(gates, 3 * hidden, 4 * hidden))));
        const o = gate(withPeephole(columns(gates, hidden, 2 * hidden), po, nextC));
        const nextH = mul(o, output(nextC));
        const mask = inputs.masks[t];
        return [maskedOutput(mask, nextH), masked(mask, nextH, h), masked(mask, nextC, c)];
      });
    }
    ys.push(y);
    hs.push(h);
    cs.push(c);
  }
  return assembleOutputs(ctx, inputs, ys, [hs, cs]);
}
