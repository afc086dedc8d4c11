import { Dropout, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Tanh } from '@minnow/nn';
import { DataType, type NodeProto } from '../ir/types.js';
import {
  broadcastValues, loadValues, scaled, transpose2d, type ChainValue, type Converted, type ImportContext, type Layer, type NodeConverter,
} from './context.js';

/**
 * Converters for the ops that work on the last axis or elementwise: Gemm and MatMul (+ Add) as
 * Linear, the activations nn has, Dropout, and the identities. Each reads the ONNX op's form at
 * the model's opset (an attribute in one opset is an input in another).
 */

/** The chain value must be the node's first input (an activation in another slot is a form nn's layers do not take). */
export function expectFirstInput(node: NodeProto, x: ChainValue, context: ImportContext): void {
  if (node.input[0] !== x.name) throw context.unsupported(node, `the activation '${x.name}' is input ${node.input.indexOf(x.name)}, not input 0: no nn layer computes that form`);
}

/**
 * An Add right after a Linear or Conv2d whose other operand is a constant that adds one value per
 * output feature (broadcast over every other axis): it becomes the layer's bias. `channelAxis` is
 * the features' axis in `output` (last for Linear, 1 for Conv2d).
 */
export function trailingBias(output: ChainValue, channelAxis: number, context: ImportContext): { node: NodeProto; values: Float64Array } | undefined {
  const add = context.soleReader(output.name);
  if (add === undefined || add.opType !== 'Add' || (add.domain ?? '') !== '' || add.input.length !== 2) return undefined;
  const other = add.input[0] === output.name ? add.input[1] : add.input[0];
  const constant = context.constant(other);
  if (constant === undefined || other === output.name) return undefined;
  const perChannel = output.shape.map((d, i) => (i === channelAxis ? d : 1));
  // It must add along the channel axis only and leave the shape as it is.
  if (constant.dims.length > output.shape.length) return undefined;
  const aligned = output.shape.map((_, i) => constant.dims[constant.dims.length - output.shape.length + i] ?? 1);
  if (aligned.some((d, i) => d !== 1 && i !== channelAxis)) return undefined;
  const values = broadcastValues(constant, perChannel);
  return values === null ? undefined : { node: add, values };
}

/** Builds a Linear holding `weight` [out, in] and `bias`, folding a following per-feature Add into the bias. */
function linearLayer(node: NodeProto, x: ChainValue, inFeatures: number, outFeatures: number, weight: Float64Array, bias: Float64Array | undefined, context: ImportContext): Converted {
  const output: ChainValue = { name: node.output[0], shape: [...x.shape.slice(0, -1), outFeatures] };
  const extra = trailingBias(output, output.shape.length - 1, context);
  const totalBias = extra === undefined ? bias : bias === undefined ? extra.values : bias.map((b, i) => b + extra.values[i]);
  const { dtype, backend, random } = context.where;
  const layer = new Linear(inFeatures, outFeatures, { seed: random, bias: totalBias !== undefined, dtype, backend });
  loadValues(layer, totalBias === undefined ? { weight } : { weight, bias: totalBias });
  if (extra === undefined) return { layers: [layer], output };
  return { layers: [layer], output: { name: extra.node.output[0], shape: output.shape }, consumed: [extra.node] };
}

/** Y = alpha A B' + beta C, with A the activation: a Linear whose weight is alpha B (transposed to [out, in] as needed). */
export const convertGemm: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  const attrs = context.attributes(node);
  if (x.shape.length !== 2) throw context.invalid(node, `Gemm takes a 2-D A, the activation is ${shapeText(x.shape)}`);
  if (attrs.int('transA', 0) !== 0) throw context.unsupported(node, 'transA=1 transposes the activation (features along the batch axis): nn\'s Linear reads one row per example');
  const transB = attrs.int('transB', 0) !== 0;
  const alpha = attrs.float('alpha', 1);
  const beta = attrs.float('beta', 1);
  const b = context.constantInput(node, 1, 'B (the weight)');
  if (b.dims.length !== 2) throw context.invalid(node, `B must be 2-D, got ${shapeText(b.dims)}`);
  const [inFeatures, outFeatures] = transB ? [b.dims[1], b.dims[0]] : [b.dims[0], b.dims[1]];
  if (x.shape[1] !== inFeatures) throw context.invalid(node, `A ${shapeText(x.shape)} does not match B ${shapeText(b.dims)}${transB ? ' (transB=1)' : ''}`);
  const weight = scaled(transB ? b.floats() : transpose2d(b.floats(), inFeatures, outFeatures), alpha);
  const c = context.optionalConstant(node, 2, 'C (the bias)');
  let bias: Float64Array | undefined;
  if (c !== undefined) {
    // C broadcasts to [M, out]; only a C that is the same for every row is a bias.
    const row = c.dims.length === 2 && c.dims[0] !== 1 ? null : broadcastValues(c, [outFeatures]);
    if (row === null) throw context.unsupported(node, `C ${shapeText(c.dims)} is not one bias per output feature (it varies along the batch axis): nn's Linear has no such bias`);
    bias = scaled(row, beta);
  }
  return linearLayer(node, x, inFeatures, outFeatures, weight, bias, context);
};

/** MatMul of the activation by a constant [in, out] matrix (then, often, Add of a bias): a Linear. */
export const convertMatMul: NodeConverter = (node, x, context) => {
  if (node.input[1] === x.name && node.input[0] !== x.name) {
    throw context.unsupported(node, 'the activation is the right operand (W x): nn\'s Linear computes x W^T');
  }
  expectFirstInput(node, x, context);
  const b = context.constant(node.input[1]);
  if (b === undefined) throw context.unsupported(node, `both operands are activations ('${node.input[0]}', '${node.input[1]}'): a product of activations (attention, say) is no nn layer`);
  if (b.dims.length !== 2) throw context.unsupported(node, `the weight '${b.name}' is ${shapeText(b.dims)}: only a 2-D weight is a Linear`);
  const [inFeatures, outFeatures] = b.dims;
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== inFeatures) throw context.invalid(node, `the activation ${shapeText(x.shape)} does not match the weight ${shapeText(b.dims)}`);
  return linearLayer(node, x, inFeatures, outFeatures, transpose2d(b.floats(), inFeatures, outFeatures), undefined, context);
};

/** An activation nn has as a module: one layer, shape unchanged. */
function activation(make: (node: NodeProto, context: ImportContext) => Layer): NodeConverter {
  return (node, x, context) => {
    expectFirstInput(node, x, context);
    context.checkUnusedOutputs(node, 1);
    return { layers: [make(node, context)], output: { name: node.output[0], shape: x.shape } };
  };
}

export const convertRelu = activation(() => new ReLU());
export const convertSigmoid = activation(() => new Sigmoid());
export const convertTanh = activation(() => new Tanh());
export const convertLeakyRelu = activation((node, context) => new LeakyReLU(context.attributes(node).float('alpha', 0.01)));

/** Gelu (opset 20): exact or tanh-approximated, as its attribute says. */
export const convertGelu = activation((node, context) => {
  const approximate = context.attributes(node).string('approximate', 'none');
  if (approximate !== 'none' && approximate !== 'tanh') throw context.invalid(node, `approximate must be 'none' or 'tanh', got '${approximate}'`);
  return new GELU(approximate);
});

/**
 * Dropout becomes nn's Dropout with the model's ratio: the identity in eval mode, as ONNX
 * inference reads it, and dropout again when the imported model is fine-tuned. The ratio is an
 * attribute before opset 12 and an input from 12, where a training_mode input that is true would
 * make inference itself random.
 */
export const convertDropout: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  let ratio = 0.5;
  if (context.opset < 12) ratio = context.attributes(node).float('ratio', 0.5);
  else {
    const given = context.optionalConstant(node, 1, 'ratio');
    if (given !== undefined) ratio = given.numbers()[0];
    const training = context.optionalConstant(node, 2, 'training_mode');
    if (training !== undefined && training.numbers()[0] !== 0) throw context.unsupported(node, 'training_mode is true: the model drops at random at inference');
  }
  if (!(ratio >= 0 && ratio < 1)) throw context.invalid(node, `ratio must be in [0, 1), got ${ratio}`);
  return { layers: [new Dropout(ratio, { seed: context.where.random })], output: { name: node.output[0], shape: x.shape } };
};

/** Identity: no layer. */
export const convertIdentity: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  return { layers: [], output: { name: node.output[0], shape: x.shape } };
};

/** A Cast to a float type: the module computes in its own dtype throughout, so no layer; any other Cast is refused. */
export const convertCast: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  const to = context.attributes(node).int('to');
  if (to !== DataType.FLOAT && to !== DataType.DOUBLE && to !== DataType.FLOAT16) {
    throw context.unsupported(node, `a Cast of the activation to ONNX type ${to} (not a float type) has no nn layer`);
  }
  context.note(`${context.label(node)}: a Cast to a float type is dropped; the module computes in ${context.where.dtype}`);
  return { layers: [], output: { name: node.output[0], shape: x.shape } };
};

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
