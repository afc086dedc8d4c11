import { add, concat, matmul, mul, scope, slice, sub, zeros, type Tensor } from '@minnow/core';
import type { OpContext, OpOutput } from '../../operator.js';
import {
  assembleOutputs, columns, initialStates, inputProjection, masked, maskedOutput, readRecurrentInputs, stepOf, stepOrder, type RecurrentKind,
} from './common.js';

const GRU: RecurrentKind = { opType: 'GRU', gates: 3, activations: ['Sigmoid', 'Tanh'], clipped: 2 };

/**
 * ONNX GRU, gates in zrh order:
 *   z = f(Xz + Hz),  r = f(Xr + Hr),
 *   h~ = g(Xh + (r*H) Rh^T + Rbh)         (linear_before_reset 0)
 *   h~ = g(Xh + r*(H Rh^T + Rbh))         (linear_before_reset 1)
 *   H' = (1 - z)*h~ + z*H
 */
export function runGru(ctx: OpContext): OpOutput[] {
  const inputs = readRecurrentInputs(ctx, GRU);
  const { hidden } = inputs;
  const h0 = initialStates(ctx, 5, 'initial_h', inputs);
  const linearBeforeReset = ctx.attrs.int('linear_before_reset', 0) !== 0;
  const ys: Tensor[][] = [];
  const hs: Tensor[] = [];
  for (const direction of inputs.directions) {
    const [gate, candidate] = direction.activations;
    const { wBias, rBias } = direction;
    // Every bias folds into the input projection except Rbh under linear_before_reset, which r scales.
    let bias: Tensor | undefined;
    let recurrentBiasH: Tensor | undefined;
    if (wBias !== undefined && rBias !== undefined) {
      if (linearBeforeReset) {
        const zeroH = zeros([hidden], { dtype: rBias.dtype, backend: rBias.backend.name });
        bias = add(wBias, concat([slice(rBias, [0], [2 * hidden]), zeroH], 0));
        recurrentBiasH = slice(rBias, [2 * hidden], [3 * hidden]);
      } else {
        bias = add(wBias, rBias);
      }
    }
    const xw = inputProjection(inputs.x, direction, bias);
    const rZR = columns(direction.rT, 0, 2 * hidden);
    const rH = columns(direction.rT, 2 * hidden, 3 * hidden);
    let h = h0[direction.index];
    const y: Tensor[] = new Array<Tensor>(inputs.seqLength);
    for (const t of stepOrder(inputs.seqLength, direction.reverse)) {
      [y[t], h] = scope(() => {
        const xt = stepOf(xw, t);
        const zr = add(columns(xt, 0, 2 * hidden), matmul(h, rZR));
        const z = gate(columns(zr, 0, hidden));
        const r = gate(columns(zr, hidden, 2 * hidden));
        let recurrent: Tensor;
        if (linearBeforeReset) {
          const hr = matmul(h, rH);
          recurrent = mul(r, recurrentBiasH === undefined ? hr : add(hr, recurrentBiasH));
        } else {
          recurrent = matmul(mul(r, h), rH);
        }
        const next = candidate(add(columns(xt, 2 * hidden, 3 * hidden), recurrent));
        const nextH = add(mul(sub(1, z), next), mul(z, h));
        const mask = inputs.masks[t];
        return [maskedOutput(mask, nextH), masked(mask, nextH, h)];
      });
    }
    ys.push(y);
    hs.push(h);
  }
  return assembleOutputs(ctx, inputs, ys, [hs]);
}
