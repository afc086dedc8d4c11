import { DataType, type NodeProto } from '../../ir/types.js';
import { makeTensor, tensorRawBytes } from '../../ir/tensor.js';
import { MICROSOFT_DOMAIN } from '../registry.js';
import { integerBias } from './conv.js';
import { intAttribute, makeNode, type GraphIndex } from './graph-index.js';
import { MIN_DEPTH, outputNodes, productOutput, quantizedChain, type Rewrite } from './product.js';
import { dequantizeOf, floatInitializer, isOp, isPerTensor, productZeroPoint, zeroPointName, type QuantParams } from './qdq.js';

function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a?.f === undefined ? fallback : a.f;
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a?.i === undefined ? fallback : Number(a.i);
}

/** [rows, cols] 8-bit weight data transposed to [cols, rows], as a new initialiser. */
function transposedWeight(index: GraphIndex, weight: QuantParams): string | undefined {
  const t = index.constant(weight.input);
  if (t === undefined || t.dims.length !== 2) return undefined;
  const [rows, cols] = t.dims;
  const source = tensorRawBytes(t);
  const out = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = source[r * cols + c];
  return index.addInitializer(`${weight.input}_transposed`, makeTensor('', t.dataType ?? DataType.INT8, [cols, rows], out));
}

/**
 * The weight operand B [K, N] of an integer product, per tensor or per column: a constant 2-D
 * DequantizeLinear input as it is (per column is axis 1), or transposed from Gemm's [N, K] (per row, axis 0).
 */
function weightOperand(index: GraphIndex, weight: QuantParams, transposed: boolean): string | undefined {
  if (!transposed) return isPerTensor(weight) || (weight.axis === 1 && index.constant(weight.input)?.dims.length === 2) ? weight.input : undefined;
  if (!isPerTensor(weight) && weight.axis !== 0) return undefined;
  return transposedWeight(index, weight);
}

/**
 * DequantizeLinear on both operands of Gemm (alpha 1, A not transposed, beta 1 when there is a C)
 * with a constant 2-D weight, rewritten as onnxruntime's QDQ transformer rewrites it: one
 * com.microsoft QGemm, the bias in int32 (in the accumulator's scale, as quantizers write it, or
 * rounded into it), B as stored (transB kept: no transposed copy), and the output requantized when
 * a QuantizeLinear follows (through a redundant Relu or not), float32 otherwise. A per tensor; B
 * per tensor or per output column.
 */
function fuseGemm(index: GraphIndex, node: NodeProto, opset: number): Rewrite | undefined {
  if (floatAttr(node, 'alpha', 1) !== 1 || intAttr(node, 'transA', 0) !== 0) return undefined;
  const bias = node.input[2] || undefined;
  if (bias !== undefined && floatAttr(node, 'beta', 1) !== 1) return undefined;
  const a = dequantizeOf(index, node.input[0], opset);
  const b = dequantizeOf(index, node.input[1], opset);
  const weight = b === undefined ? undefined : index.constant(b.input);
  if (a === undefined || b === undefined || weight === undefined || weight.dims.length !== 2 || !isPerTensor(a)) return undefined;
  const transB = intAttr(node, 'transB', 0) === 1;
  const [k, n] = transB ? [weight.dims[1], weight.dims[0]] : weight.dims;
  if (k < MIN_DEPTH || (!isPerTensor(b) && b.axis !== (transB ? 0 : 1))) return undefined;
  const integer = bias === undefined ? undefined : integerBias(index, bias, a, b, n, opset);
  if (bias !== undefined && integer === undefined) return undefined;
  const out = productOutput(index, node.output[0], opset);
  const inputs = [a.input, a.scaleName, zeroPointName(index, a), b.input, b.scaleName, zeroPointName(index, b), integer ?? ''];
  if (out.quantize !== undefined) inputs.push(out.quantize.scaleName, zeroPointName(index, out.quantize));
  const label = node.name || node.output[0];
  const { productName, nodes: chain } = quantizedChain(index, out, label);
  const fused = { ...makeNode('QGemm', index.freshName(`${label}_qgemm`), inputs, [productName], transB ? [intAttribute('transB', 1)] : []), domain: MICROSOFT_DOMAIN };
  return { nodes: [fused, ...chain], removed: [node, ...outputNodes(out)] };
}

/**
 * DequantizeLinear on both operands of MatMul, or of Gemm (alpha 1, no transposed A, beta 1 when
 * there is a C), rewritten to run on the integer product:
 *
 * - requantized by a QuantizeLinear (through a redundant Relu or not) and no bias: QLinearMatMul;
 * - otherwise MatMulInteger, then DequantizeLinear by scale_a * scale_b (float32, as the QDQ graph's
 *   products are; a per-column scale_b as a Mul), then Add C, then the QuantizeLinear if there is one. onnxruntime's QDQ
 *   transformer makes QGemm and MatMulIntegerToFloat of these; this keeps to standard ops.
 *
 * A must be per tensor (its scale and zero point scalars); B per tensor, or per output column.
 */
export function fuseMatMul(index: GraphIndex, node: NodeProto, opset: number): Rewrite | undefined {
  const gemm = isOp(node, 'Gemm');
  if (!gemm && !isOp(node, 'MatMul')) return undefined;
  const qgemm = gemm ? fuseGemm(index, node, opset) : undefined;
  if (qgemm !== undefined) return qgemm;
  if (node.output.length !== 1 || node.input.length < 2) return undefined;
  const bias = gemm ? node.input[2] || undefined : undefined;
  if (gemm && (floatAttr(node, 'alpha', 1) !== 1 || intAttr(node, 'transA', 0) !== 0 || (bias !== undefined && floatAttr(node, 'beta', 1) !== 1))) return undefined;
  const a = dequantizeOf(index, node.input[0], opset);
  const b = dequantizeOf(index, node.input[1], opset);
  if (a === undefined || b === undefined || !isPerTensor(a)) return undefined;
  const transB = gemm && intAttr(node, 'transB', 0) === 1;
  const weightDims = index.constant(b.input)?.dims;
  if (weightDims !== undefined && weightDims.length >= 2 && weightDims[weightDims.length - (transB ? 1 : 2)] < MIN_DEPTH) return undefined;
  const out = productOutput(index, node.output[0], opset);
  const removed = [node, ...outputNodes(out)];
  const label = node.name || node.output[0];
  const { productName, nodes: chain } = quantizedChain(index, out, label);

  if (out.quantize !== undefined && bias === undefined) {
    const weight = weightOperand(index, b, transB);
    if (weight === undefined) return undefined;
    const q = out.quantize;
    const fused = makeNode('QLinearMatMul', index.freshName(`${label}_qlinear`), [
      a.input, a.scaleName, zeroPointName(index, a), weight, b.scaleName, zeroPointName(index, b), q.scaleName, zeroPointName(index, q),
    ], [productName]);
    return { nodes: [fused, ...chain], removed };
  }

  // acc * (scale_a * scale_b): per tensor, one DequantizeLinear; per column, DequantizeLinear by
  // scale_a and Mul by the column scales (a per-axis DequantizeLinear along the last axis would run
  // element by element), each product rounded to float32 as the QDQ graph's float ops round.
  const weight = weightOperand(index, b, transB);
  if (weight === undefined) return undefined;
  const accumulator = index.freshName(`${label}_int32`);
  const nodes = [makeNode('MatMulInteger', index.freshName(`${label}_integer`), [a.input, weight, productZeroPoint(index, a), productZeroPoint(index, b)], [accumulator])];
  const floatName = bias === undefined && out.quantize === undefined ? out.name : index.freshName(`${label}_float`);
  if (isPerTensor(b)) {
    const scale = floatInitializer(index, `${label}_product_scale`, Float32Array.of(Math.fround(a.scale[0] * b.scale[0])), []);
    nodes.push(makeNode('DequantizeLinear', index.freshName(`${label}_dequantize`), [accumulator, scale], [floatName]));
  } else {
    const scaled = index.freshName(`${label}_scaled`);
    nodes.push(makeNode('DequantizeLinear', index.freshName(`${label}_dequantize`), [accumulator, a.scaleName], [scaled]));
    nodes.push(makeNode('Mul', index.freshName(`${label}_column_scale`), [scaled, b.scaleName], [floatName]));
  }
  let last = floatName;
  if (bias !== undefined) {
    last = out.quantize === undefined ? out.name : index.freshName(`${label}_biased`);
    nodes.push(makeNode('Add', index.freshName(`${label}_bias`), [floatName, bias], [last]));
  }
  if (out.quantize !== undefined) {
    const q = out.quantize.node;
    nodes.push(makeNode('QuantizeLinear', index.freshName(`${label}_quantize`), [last, ...q.input.slice(1)], [productName], q.attribute), ...chain);
  }
  return { nodes, removed };
}
