import { AvgPool2d, Conv2d, MaxPool2d, poolOutputSize } from '@minnow/nn';
import { kernelShapeAttr, windowGeometry, type WindowGeometry } from '../exec/ops/nn/spatial.js';
import type { NodeProto } from '../ir/types.js';
import { loadValues, type ChainValue, type Converted, type ImportContext, type NodeConverter } from './context.js';
import { expectFirstInput, shapeText, trailingBias } from './dense.js';

/**
 * Conv and the pools over NCHW input, as nn's Conv2d, MaxPool2d and AvgPool2d. The window
 * geometry (strides, dilations, explicit pads or auto_pad SAME_UPPER/SAME_LOWER/VALID, ceil_mode)
 * is worked out by the executor's own `windowGeometry`, at the traced input size.
 */

function spatialInput(node: NodeProto, x: ChainValue, context: ImportContext): void {
  if (x.shape.length !== 4) {
    throw context.unsupported(node, `${node.opType} over a ${x.shape.length}-D activation ${shapeText(x.shape)}: nn's layers are 2-D (NCHW) only`);
  }
}

/** Conv: a Conv2d with the model's weight [M, C/group, kH, kW] and bias, pads [top, left, bottom, right] (asymmetric ones included). */
export const convertConv: NodeConverter = (node, x, context) => convolve(node, x, context, [0, 0, 0, 0]);

/**
 * A zero Pad of the spatial dims read only by a Conv becomes part of the Conv's padding (exporters
 * from TensorFlow write SAME padding this way). Any other Pad of the activation has no nn layer.
 */
export const convertPad: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  const conv = context.soleReader(node.output[0]);
  const refuse = (why: string): Error => context.unsupported(node, `${why}; nn has no Pad layer (a zero Pad of H and W read only by a Conv is folded into its padding)`);
  if (conv === undefined || conv.opType !== 'Conv' || conv.input[0] !== node.output[0]) throw refuse('no Conv reads its output alone');
  const attrs = context.attributes(node);
  const mode = attrs.string('mode', 'constant');
  if (mode !== 'constant') throw refuse(`mode '${mode}'`);
  let pads: number[];
  let value = 0;
  if (context.opset < 11) {
    pads = attrs.ints('pads');
    value = attrs.float('value', 0);
  } else {
    pads = context.constantInput(node, 1, 'pads').numbers();
    value = context.optionalConstant(node, 2, 'constant_value')?.numbers()[0] ?? 0;
    const axes = context.optionalConstant(node, 3, 'axes')?.numbers();
    if (axes !== undefined) pads = expandPadAxes(pads, axes, x.shape.length);
  }
  if (value !== 0) throw refuse(`its value is ${value}, not 0`);
  if (pads.length !== 8 || pads.some((p) => p < 0) || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
    throw refuse(`pads [${pads}] are not non-negative pads of H and W only`);
  }
  const padded: ChainValue = { name: node.output[0], shape: [x.shape[0], x.shape[1], x.shape[2] + pads[2] + pads[6], x.shape[3] + pads[3] + pads[7]] };
  context.checkUnusedOutputs(node, 1);
  const converted = convolve(conv, padded, context, [pads[2], pads[3], pads[6], pads[7]]);
  return { ...converted, consumed: [conv, ...(converted.consumed ?? [])] };
};

/** Pads given for some axes (opset 18's axes input) as pads for all of them. */
function expandPadAxes(pads: readonly number[], axes: readonly number[], rank: number): number[] {
  const full = new Array<number>(2 * rank).fill(0);
  axes.forEach((a, i) => {
    const axis = a < 0 ? a + rank : a;
    full[axis] = pads[i];
    full[rank + axis] = pads[axes.length + i];
  });
  return full;
}

/**
 * The Conv `node` over `x`. `extraPads` [top, left, bottom, right] come from a folded Pad: x is
 * then the Pad's output, and the Conv2d reads the Pad's input with these pads added to its own.
 */
function convolve(node: NodeProto, x: ChainValue, context: ImportContext, extraPads: readonly number[]): Converted {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  spatialInput(node, x, context);
  const weight = context.constantInput(node, 1, 'W (the weight)');
  if (weight.dims.length !== 4) throw context.unsupported(node, `a ${weight.dims.length - 2}-D convolution (weight ${shapeText(weight.dims)}): nn has Conv2d only`);
  const [outChannels, perGroup, kh, kw] = weight.dims;
  const group = context.attributes(node).int('group', 1);
  const inChannels = x.shape[1];
  if (group < 1 || perGroup * group !== inChannels || outChannels % group !== 0) {
    throw context.invalid(node, `weight ${shapeText(weight.dims)} with group ${group} does not fit ${inChannels} input channels`);
  }
  const g = geometry(node, x, context, [kh, kw]);
  const pads = [g.pads[0] + extraPads[0], g.pads[1] + extraPads[1], g.pads[2] + extraPads[2], g.pads[3] + extraPads[3]];
  const bias = context.optionalConstant(node, 2, 'B (the bias)');
  if (bias !== undefined && bias.size !== outChannels) throw context.invalid(node, `bias '${bias.name}' holds ${bias.size} values for ${outChannels} output channels`);
  const output: ChainValue = { name: node.output[0], shape: [x.shape[0], outChannels, g.output[0], g.output[1]] };
  const extra = trailingBias(output, 1, context);
  let biasValues = bias?.floats();
  if (extra !== undefined) biasValues = biasValues === undefined ? extra.values : biasValues.map((b, i) => b + extra.values[i]);
  const { dtype, backend, random } = context.where;
  const layer = new Conv2d(inChannels, outChannels, [kh, kw], {
    seed: random, stride: [g.strides[0], g.strides[1]], padding: [pads[0], pads[1], pads[2], pads[3]],
    dilation: [g.dilations[0], g.dilations[1]], groups: group, bias: biasValues !== undefined, dtype, backend,
  });
  loadValues(layer, biasValues === undefined ? { weight: weight.floats() } : { weight: weight.floats(), bias: biasValues });
  if (extra === undefined) return { layers: [layer], output };
  return { layers: [layer], output: { name: extra.node.output[0], shape: output.shape }, consumed: [extra.node] };
}

/** The executor's window geometry for `node` at x's spatial size. */
function geometry(node: NodeProto, x: ChainValue, context: ImportContext, fromWeight?: readonly number[], ceilMode = false): WindowGeometry {
  const ctx = context.windowContext(node);
  const kernel = kernelShapeAttr(ctx, 2, fromWeight);
  return windowGeometry(ctx, x.shape.slice(2), kernel, { ceilMode });
}

/**
 * MaxPool and AveragePool. nn's pools pad the same on both sides and take PyTorch's ceil mode;
 * an ONNX pool with other pads (SAME's odd unit at one end, say) is still the same computation
 * when nn's pool with its begin pads has the same windows: the same count of them (floor or ceil
 * mode), and for an average that counts padding, the same divisor in each. That is checked window
 * by window; a pool that differs is refused.
 */
function pool(kind: 'max' | 'average'): NodeConverter {
  return (node, x, context) => {
    expectFirstInput(node, x, context);
    context.checkUnusedOutputs(node, 1);
    spatialInput(node, x, context);
    const attrs = context.attributes(node);
    const ceilMode = context.opset >= 10 && attrs.int('ceil_mode', 0) === 1;
    const g = geometry(node, x, context, undefined, ceilMode);
    const includePad = kind === 'average' && attrs.int('count_include_pad', 0) === 1;
    if (kind === 'average' && g.dilations.some((d) => d !== 1)) throw context.unsupported(node, `dilations [${g.dilations}]: nn's AvgPool2d has none`);
    const axes = [0, 1].map((a) => ({
      size: x.shape[2 + a], kernel: g.kernel[a], stride: g.strides[a], dilation: g.dilations[a], begin: g.pads[a], end: g.pads[2 + a], out: g.output[a],
    }));
    const mode = [false, true].find((ceil) => axes.every((axis) => sameWindows(axis, ceil, includePad)));
    if (mode === undefined) {
      throw context.unsupported(node, `pads [${g.pads}] over ${shapeText(x.shape)} give windows nn's pools (the same padding at both ends) cannot reproduce`);
    }
    const kernelSize: [number, number] = [g.kernel[0], g.kernel[1]];
    const options = { stride: [g.strides[0], g.strides[1]] as [number, number], padding: [g.pads[0], g.pads[1]] as [number, number], ceilMode: mode };
    const layer = kind === 'max'
      ? new MaxPool2d(kernelSize, { ...options, dilation: [g.dilations[0], g.dilations[1]] })
      : new AvgPool2d(kernelSize, { ...options, countIncludePad: includePad });
    return { layers: [layer], output: { name: node.output[0], shape: [x.shape[0], x.shape[1], g.output[0], g.output[1]] } };
  };
}

interface PoolAxis {
  readonly size: number;
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  readonly begin: number;
  readonly end: number;
  /** ONNX's window count. */
  readonly out: number;
}

/**
 * Whether nn's pool with padding `begin` on both sides (and `ceil`) has the ONNX pool's windows
 * on this axis: both start windows at i * stride - begin, so they agree when the counts do (max,
 * and averages of real elements only), and, for an average that counts padding, when each
 * window's divisor agrees: ONNX counts the window inside [-begin, size + end), nn inside
 * [-begin, size + begin).
 */
function sameWindows(a: PoolAxis, ceil: boolean, includePad: boolean): boolean {
  const extent = a.dilation * (a.kernel - 1) + 1;
  if (2 * a.begin > extent || a.size + 2 * a.begin < extent) return false;
  if (poolOutputSize(a.size, a.kernel, a.stride, a.begin, a.dilation, ceil) !== a.out) return false;
  if (!includePad) return true;
  for (let i = 0; i < a.out; i++) {
    const start = i * a.stride - a.begin;
    if (Math.min(start + a.kernel, a.size + a.end) !== Math.min(start + a.kernel, a.size + a.begin)) return false;
  }
  return true;
}

export const convertMaxPool = pool('max');
export const convertAveragePool = pool('average');

/**
 * GlobalAveragePool and GlobalMaxPool: a pool whose window is the whole traced H x W. nn has no
 * global pool, so the module keeps the traced spatial size (reported).
 */
function globalPool(kind: 'max' | 'average'): NodeConverter {
  return (node, x, context) => {
    expectFirstInput(node, x, context);
    spatialInput(node, x, context);
    const kernel: [number, number] = [x.shape[2], x.shape[3]];
    context.note(`${context.label(node)}: a ${kind} pool over the whole ${kernel.join('x')} input; the module takes that spatial size only`);
    const layer = kind === 'max' ? new MaxPool2d(kernel) : new AvgPool2d(kernel);
    return { layers: [layer], output: { name: node.output[0], shape: [x.shape[0], x.shape[1], 1, 1] } };
  };
}

export const convertGlobalAveragePool = globalPool('average');
export const convertGlobalMaxPool = globalPool('max');
