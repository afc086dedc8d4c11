import { MinnowError } from '@minnow/core';
import type { ModelProto } from '@minnow/onnx';
import { graphScopes } from './model-edit.js';

/**
 * Raising a model's default-domain opset to what the quantized ops need (13 for per-axis
 * DequantizeLinear, 21 for int4 and blocked). Most ops only gained types or attributes between
 * opsets, so a raise keeps their meaning; the ones listed here changed their inputs or semantics
 * (an attribute moved to an input, Softmax's axis), and a model that uses one below the version
 * where it changed cannot simply be relabelled: that is an error naming the node.
 */

/** Op -> the opsets at which its signature or meaning changed in a way older nodes do not follow. */
const BREAKING: Readonly<Record<string, readonly number[]>> = {
  Slice: [10], TopK: [10], Upsample: [10],
  Pad: [11], Clip: [11], Resize: [11], Scatter: [11],
  Dropout: [12],
  Split: [13], Squeeze: [13], Unsqueeze: [13], ReduceSum: [13], Softmax: [13], LogSoftmax: [13], Hardmax: [13],
  ReduceMean: [18], ReduceMax: [18], ReduceMin: [18], ReduceProd: [18], ReduceL1: [18], ReduceL2: [18],
  ReduceLogSum: [18], ReduceLogSumExp: [18], ReduceSumSquare: [18],
  GridSample: [20], DFT: [20],
  GroupNormalization: [21],
};

/** The IR version that brought each opset: the least a raised model must declare. */
const IR_FOR_OPSET: readonly [number, number][] = [[10, 5], [11, 6], [12, 7], [13, 7], [15, 8], [19, 9], [21, 10]];

export function defaultOpset(model: ModelProto): number {
  return model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx')?.version ?? 1;
}

/** Sets the default-domain opset to at least `target` (and the IR version with it), or explains why it cannot. */
export function raiseOpset(model: ModelProto, target: number, why: string): void {
  const current = defaultOpset(model);
  if (current >= target) return;
  for (const { graph, path } of graphScopes(model)) {
    for (const node of graph.node) {
      if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') continue;
      const changed = (BREAKING[node.opType ?? ''] ?? []).find((v) => v > current && v <= target);
      if (changed !== undefined) {
        throw new MinnowError(
          'UNSUPPORTED_OP',
          `quantize: ${why} needs opset ${target}, the model is opset ${current}, and its node '${node.name || node.output[0]}' (${node.opType}, in ${path}) changed meaning at opset ${changed}: convert the model to opset ${target} first (onnx.version_converter), or quantize without ${why}`,
        );
      }
    }
  }
  const entry = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  if (entry) entry.version = target;
  else model.opsetImport.push({ domain: '', version: target });
  const ir = IR_FOR_OPSET.filter(([opset]) => opset <= target).at(-1)?.[1] ?? 3;
  if ((model.irVersion ?? 0) < ir) model.irVersion = ir;
}
