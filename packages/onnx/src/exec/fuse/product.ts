import type { NodeProto } from '../../ir/types.js';
import type { GraphIndex } from './graph-index.js';
import { hasPositiveScales, isOp, quantizeAfter, quantizedRange, type QuantParams } from './qdq.js';

/** New nodes standing in for a product and the Q/DQ/Relu nodes around it, and the nodes they replace (the product first). */
export interface Rewrite {
  readonly nodes: NodeProto[];
  readonly removed: NodeProto[];
}

/**
 * Products summing fewer terms than this stay in float (as the QDQ graph has them): the integer
 * path's fixed cost per output (gathering patches, requantizing the int32 accumulator in two
 * passes) outweighs what the int8 kernel saves on so short a sum. A first convolution over one
 * channel (3x3: 9 terms) and depthwise convolutions are the usual cases.
 */
export const MIN_DEPTH = 32;

/**
 * Where the float output of a product goes: into a QuantizeLinear (its sole reader, per tensor),
 * possibly through a Relu that the quantization makes redundant, or on as float.
 */
export interface ProductOutput {
  /** The QuantizeLinear that requantizes the product, when there is one. */
  readonly quantize: QuantParams | undefined;
  /** A Relu between product and QuantizeLinear that the rewrite drops. */
  readonly relu: NodeProto | undefined;
  /** The name the rewritten nodes must produce: the QuantizeLinear's output, else the product's own. */
  readonly name: string;
}

/**
 * Relu followed by QuantizeLinear clips twice: when the zero point is the type's lowest value (and
 * the scale positive), every x < 0 quantizes to at most qmin and saturates to qmin, which is what
 * Relu's 0 quantizes to. Q(Relu(x)) = Q(x) exactly, so the Relu can go (onnxruntime's QDQ selectors
 * drop it the same way).
 */
export function reluMadeRedundant(index: GraphIndex, relu: NodeProto, opset: number): QuantParams | undefined {
  if (!isOp(relu, 'Relu') || relu.input.length !== 1 || relu.output.length !== 1) return undefined;
  const q = quantizeAfter(index, relu.output[0], opset);
  if (q === undefined || !hasPositiveScales(q) || q.zeroPoint[0] !== quantizedRange(q.elemType)[0]) return undefined;
  return q;
}

export function productOutput(index: GraphIndex, product: string, opset: number): ProductOutput {
  const next = index.soleReader(product);
  if (isOp(next, 'Relu')) {
    const q = reluMadeRedundant(index, next, opset);
    if (q !== undefined) return { quantize: q, relu: next, name: q.node.output[0] };
  }
  const q = quantizeAfter(index, product, opset);
  return q === undefined ? { quantize: undefined, relu: undefined, name: product } : { quantize: q, relu: undefined, name: q.node.output[0] };
}
