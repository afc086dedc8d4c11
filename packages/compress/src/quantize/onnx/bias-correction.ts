import { tensorValues, type NodeProto } from '@minnow/onnx';
import { outputShift } from '../weight-rounding.js';
import { weightLayout } from './layout.js';
import { floatAttribute, floatTensor } from './model-edit.js';
import { quantizeStoredWeight, weightScheme, type RewriteContext, type WeightChoice } from './rewrite.js';
import { floatWeightValues } from './weights.js';

/**
 * Bias correction (Nagel et al. 2019, section 4.2): rounding a weight shifts each output channel's
 * mean by (W_q - W) E[x], a systematic error that the next layers (and a ReLU) do not average
 * away. With the layer's mean input from calibration (calibrateLayerInputs) that shift is
 * subtracted from the bias before the node is rewritten, so the QDQ / QOperator rewrite quantizes
 * the corrected bias to int32 like any other. A Conv or Gemm without a bias gets one. The shift is
 * measured on the weight as stored, rounded as the options ask (the store keeps that rounding, so
 * the rewrite reads the same codes).
 */

export interface BiasCorrection {
  /** The bias initialiser the node read before (no longer read by it), if any. */
  readonly replaced: string | undefined;
  /** Puts the node's old bias input back (when its rewrite fails and it stays float). */
  undo(): void;
}

/** Corrects `node`'s bias in place; a string says why it was not corrected. */
export function correctBias(node: NodeProto, choice: WeightChoice, ctx: RewriteContext): BiasCorrection | string {
  const found = weightLayout(node, ctx.scope);
  if ('reason' in found) return found.reason;
  const layout = found.layout;
  const op = node.opType ?? '';
  if (op === 'MatMul') return 'bias correction skipped: MatMul has no bias input';
  const moments = ctx.rounding?.statistics?.forLayout(node, layout);
  if (moments === undefined || moments.count === 0) return 'bias correction skipped: no input statistics for it (calibration never reached it)';
  const biasInput = node.input[2];
  if (biasInput !== undefined && biasInput !== '' && layout.bias === undefined) return `bias correction skipped: its bias '${biasInput}' is not a constant of one value per channel`;
  const weight = quantizeStoredWeight(ctx, node, layout, choice);
  const values = floatWeightValues(layout.weight);
  const shift = outputShift({ name: layout.weight.name ?? '', values, dims: layout.weight.dims, outputAxis: layout.outputAxis, scheme: weightScheme(layout, choice), moments }, weight);
  if (shift === undefined) return 'bias correction skipped: its input statistics do not fit its weight';
  // Gemm: Y = alpha A B + beta C, so the output moves by alpha x shift and C takes it divided by beta.
  const alpha = op === 'Gemm' ? floatAttribute(node, 'alpha', 1) : 1;
  const beta = op === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1;
  if (beta === 0) return 'bias correction skipped: Gemm beta is 0';
  const channels = layout.weight.dims[layout.outputAxis];
  const old = layout.bias ? (tensorValues(layout.bias.tensor) as Float32Array) : new Float32Array(channels);
  const corrected = old.map((b, m) => b - (alpha * shift[m]) / beta);
  const name = ctx.names.fresh(`${layout.bias?.tensor.name ?? `${node.name || node.output[0]}_bias`}_corrected`);
  ctx.scope.graph.initializer.push(floatTensor(name, layout.bias?.tensor.dims ?? [channels], corrected));
  const before = [...node.input];
  while (node.input.length < 3) node.input.push('');
  node.input[2] = name;
  return { replaced: layout.bias?.tensor.name, undo: () => { node.input = before; } };
}
