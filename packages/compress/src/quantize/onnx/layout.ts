import { tensorByteLength, type NodeProto, type TensorProto } from '@minnow/onnx';
import type { Granularity } from '../types.js';
import { findInitializer, intAttribute, type GraphScope } from './model-edit.js';

/**
 * Where a weight op keeps its weight and bias, and which weight axis holds its output channels
 * (one scale each when per channel) and which its reduction (split into blocks when blocked):
 * Conv W [M, C/g, k...]: output axis 0, blocks along 1; MatMul B [..., K, N]: output the last
 * axis, blocks along K; Gemm B [K, N], or [N, K] with transB: likewise.
 */
export interface WeightLayout {
  readonly weightIndex: number;
  readonly weight: TensorProto;
  readonly owner: GraphScope;
  readonly outputAxis: number;
  readonly reduceAxis: number;
  /** The activation inputs (by index) that feed the op. */
  readonly activations: readonly number[];
  /** A 1-D bias of one value per output channel, quantizable to int32 (Conv's B, Gemm's C). */
  readonly bias?: { readonly index: number; readonly tensor: TensorProto; readonly owner: GraphScope };
}

export type LayoutResult = { readonly layout: WeightLayout } | { readonly reason: string };

/** The ops minnow quantizes weights of. */
export const WEIGHT_OPS: ReadonlySet<string> = new Set(['Conv', 'MatMul', 'Gemm']);

/** Ops whose float activation inputs the static QDQ form can quantize (no weights of their own). */
export const ACTIVATION_OPS: ReadonlySet<string> = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Concat', 'Softmax',
]);

/** Ops that carry weights minnow does not quantize: named in the report as left in float. */
export const UNQUANTIZED_WEIGHT_OPS: ReadonlySet<string> = new Set(['LSTM', 'GRU', 'RNN', 'ConvTranspose', 'Einsum', 'Attention', 'LayerNormalization', 'BatchNormalization', 'InstanceNormalization']);

/** Bytes of the float initialisers a node reads (its weights and biases), for the report. */
export function initializerBytes(node: NodeProto, scope: GraphScope): number {
  let bytes = 0;
  for (const name of new Set(node.input)) {
    const found = name === '' ? undefined : findInitializer(scope, name);
    if (found) bytes += tensorByteLength(found.tensor);
  }
  return bytes;
}

/** The weight layout of a Conv, MatMul or Gemm, or why it has none minnow can quantize. */
export function weightLayout(node: NodeProto, scope: GraphScope): LayoutResult {
  const op = node.opType ?? '';
  const constant = (i: number): { tensor: TensorProto; owner: GraphScope } | undefined =>
    node.input[i] === undefined || node.input[i] === '' ? undefined : findInitializer(scope, node.input[i]);
  const weight = constant(1);
  if (constant(0) !== undefined) return { reason: `its first input '${node.input[0]}' is a constant: minnow quantizes the second operand as the weight` };
  if (weight === undefined) return { reason: `its weight '${node.input[1] ?? ''}' is not a constant initialiser` };
  const dims = weight.tensor.dims;
  const rank = dims.length;
  if (weight.tensor.dataType !== 1) return { reason: `its weight '${node.input[1]}' is not float32` };
  const biasOf = (index: number, channels: number): WeightLayout['bias'] => {
    const b = constant(index);
    if (b === undefined || b.tensor.dataType !== 1) return undefined;
    const count = b.tensor.dims.reduce((a, d) => a * d, 1);
    return count === channels && b.tensor.dims.filter((d) => d !== 1).length <= 1 ? { index, ...b } : undefined;
  };
  const base = { weightIndex: 1, weight: weight.tensor, owner: weight.owner };
  if (op === 'Conv') {
    if (rank < 3) return { reason: `its weight '${node.input[1]}' has rank ${rank}, not 3 or more` };
    return { layout: { ...base, outputAxis: 0, reduceAxis: 1, activations: [0], bias: biasOf(2, dims[0]) } };
  }
  if (op === 'MatMul') {
    if (rank < 2) return { reason: `its weight '${node.input[1]}' is 1-D` };
    return { layout: { ...base, outputAxis: rank - 1, reduceAxis: rank - 2, activations: [0] } };
  }
  if (op === 'Gemm') {
    if (rank !== 2) return { reason: `its weight '${node.input[1]}' is not 2-D` };
    const transB = intAttribute(node, 'transB', 0) !== 0;
    const bias = biasOf(2, transB ? dims[0] : dims[1]);
    // Gemm's C can also be an activation or broadcast oddly: then it stays as it is, in float.
    return { layout: { ...base, outputAxis: transB ? 0 : 1, reduceAxis: transB ? 1 : 0, activations: [0], bias } };
  }
  return { reason: `minnow does not quantize ${op}` };
}

/**
 * The weight granularity a precision asks for, on this layout. A reduction axis shorter than one
 * block (Silero's STFT Conv has one input channel) would get a scale per weight: such a weight is
 * quantized per output channel instead.
 */
export function weightGranularity(layout: WeightLayout, perChannel: boolean, blockSize: number | undefined): Granularity {
  if (blockSize !== undefined && layout.weight.dims[layout.reduceAxis] < blockSize) return { kind: 'axis', axis: layout.outputAxis };
  if (blockSize !== undefined) return { kind: 'block', axis: layout.reduceAxis, blockSize };
  return perChannel ? { kind: 'axis', axis: layout.outputAxis } : { kind: 'tensor' };
}
