import type { NodeProto } from '../../ir/types.js';
import type { GraphIndex } from './graph-index.js';
import { hasPositiveScales, isOp, quantizeAfter, quantizedRange, type QuantParams } from './qdq.js';

/** New nodes standing in for a product and the Q/DQ/Relu nodes around it, and the nodes they replace (the product first). */
export interface Rewrite {
  readonly nodes: NodeProto[];
  readonly removed: NodeProto[];
}

/**
 * Matrix products and grouped convolutions summing fewer terms than this stay in float (as the QDQ
 * graph has them): their integer path's fixed cost per output outweighs what the int8 kernel saves
 * on so short a sum. Depthwise convolutions are the usual case; ungrouped convolutions have their
 * own, lower bound (conv.ts).
 */
export const MIN_DEPTH = 32;

/**
 * Where the float output of a product goes: into a QuantizeLinear (per tensor), possibly through a
 * Relu that the quantization makes redundant and a chain of order-preserving ops, or on as float.
 */
export interface ProductOutput {
  /** The QuantizeLinear that requantizes the product, when there is one. */
  readonly quantize: QuantParams | undefined;
  /** A Relu between product and QuantizeLinear that the rewrite drops. */
  readonly relu: NodeProto | undefined;
  /** Order-preserving ops (MaxPool, Flatten, Reshape, ...) between them, which then run on the quantized values. */
  readonly chain: readonly NodeProto[];
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
  return q !== undefined && clipsAtZero(q) ? q : undefined;
}

const clipsAtZero = (q: QuantParams): boolean => hasPositiveScales(q) && q.zeroPoint[0] === quantizedRange(q.elemType)[0];

/** Ops that only move, drop or pick elements (never combine them): they commute with any non-decreasing map. */
const MOVEMENT = ['Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity'];

/**
 * An op through which a QuantizeLinear can move up: Q(op(x)) = op(Q(x)) because Q (positive scale)
 * never reverses an order. MaxPool picks a maximum (its padding, -inf, quantizes to the lowest
 * value, which is what it pads quantized inputs with; NaN inputs aside); it takes 8-bit inputs from
 * opset 12. Extra inputs (Reshape's shape, axes) must be constants, so that the op can run where
 * the product stood.
 */
function commutesWithQuantize(index: GraphIndex, node: NodeProto, opset: number): boolean {
  if (node.output.length !== 1 || node.input.length < 1 || node.input.slice(1).some((i) => i !== '' && index.constant(i) === undefined)) return false;
  if (isOp(node, 'MaxPool')) return opset >= 12 && node.input.length === 1;
  return MOVEMENT.some((op) => isOp(node, op));
}

export function productOutput(index: GraphIndex, product: string, opset: number): ProductOutput {
  const none: ProductOutput = { quantize: undefined, relu: undefined, chain: [], name: product };
  let name = product;
  let next = index.soleReader(name);
  let relu: NodeProto | undefined;
  if (isOp(next, 'Relu') && next.input.length === 1 && next.output.length === 1) {
    relu = next;
    name = next.output[0];
    next = index.soleReader(name);
  }
  const chain: NodeProto[] = [];
  while (next !== undefined && commutesWithQuantize(index, next, opset)) {
    chain.push(next);
    name = next.output[0];
    next = index.soleReader(name);
  }
  const q = quantizeAfter(index, name, opset);
  if (q === undefined || (relu !== undefined && !clipsAtZero(q)) || (chain.length > 0 && !hasPositiveScales(q))) return none;
  return { quantize: q, relu, chain, name: q.node.output[0] };
}

/** The nodes a rewrite replaces for this output: the Relu, the chain and the QuantizeLinear. */
export const outputNodes = (out: ProductOutput): NodeProto[] => [...(out.relu ? [out.relu] : []), ...out.chain, ...(out.quantize ? [out.quantize.node] : [])];

/**
 * The chain re-emitted on the quantized values after a rewritten product: returns the name the
 * product must now write (the chain's new input) and the chain's nodes, the last writing out.name.
 */
export function quantizedChain(index: GraphIndex, out: ProductOutput, label: string): { productName: string; nodes: NodeProto[] } {
  if (out.chain.length === 0) return { productName: out.name, nodes: [] };
  const productName = index.freshName(`${label}_quantized`);
  let input = productName;
  const nodes = out.chain.map((n, i) => {
    const output = i === out.chain.length - 1 ? out.name : index.freshName(`${n.output[0]}_quantized`);
    const moved = { ...n, input: [input, ...n.input.slice(1)], output: [output] };
    input = output;
    return moved;
  });
  return { productName, nodes };
}
