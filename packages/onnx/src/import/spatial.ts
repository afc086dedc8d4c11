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
 * A constant Pad of H and W read only by a Conv or a pool becomes part of that layer's padding:
 * exporters write SAME padding this way (TensorFlow's), and minnow's exporter pads explicitly where
 * onnxruntime refuses a pool's own pads. Zeros for Conv and AveragePool, -Infinity for MaxPool.
 * Any other Pad of the activation has no nn layer.
 */
export const convertPad: NodeConverter = (node, x, context) => {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  const next = context.soleReader(node.output[0]);
  const refuse = (why: string): Error => context.unsupported(node, `${why}; nn has no Pad layer (a constant Pad of H and W read only by a Conv or a pool is folded into its padding)`);
  const fill: Readonly<Record<string, number>> = { Conv: 0, AveragePool: 0, MaxPool: -Infinity };
  const opType = next?.opType ?? '';
  if (next === undefined || !(opType in fill) || next.input[0] !== node.output[0]) throw refuse('no Conv or pool reads its output alone');
  spatialInput(node, x, context);
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
  if (value !== fill[opType]) throw refuse(`its value ${value} is not the ${fill[opType]} a ${opType} pads with`);
  if (pads.length !== 8 || pads.some((p) => p < 0) || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
    throw refuse(`pads [${pads}] are not non-negative pads of H and W only`);
  }
  const padded: ChainValue = { name: node.output[0], shape: [x.shape[0], x.shape[1], x.shape[2] + pads[2] + pads[6], x.shape[3] + pads[3] + pads[7]] };
  const extra = [pads[2], pads[3], pads[6], pads[7]];
  const converted = opType === 'Conv' ? convolve(next, padded, context, extra) : pool(opType === 'MaxPool' ? 'max' : 'average', next, padded, context, extra);
  return { ...converted, consumed: [next, ...(converted.consumed ?? [])] };
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
 * MaxPool and AveragePool. nn's pools pad the same at both ends and take PyTorch's ceil mode; an
 * ONNX pool with other pads (SAME's odd unit at one end, a folded Pad) is still the same
 * computation when an nn pool padded by the ONNX begin pads has the same windows: the same count
 * of them, and for an average the same divisor in each. nn's two ceil modes and, for averages,
 * both countIncludePad settings are tried, window by window; a pool none reproduces is refused.
 *
 * `extraPads` [top, left, bottom, right] come from a folded Pad: x is then the Pad's output, and
 * the nn pool reads the Pad's input.
 */
function pool(kind: 'max' | 'average', node: NodeProto, x: ChainValue, context: ImportContext, extraPads: readonly number[] = [0, 0, 0, 0]): Converted {
  expectFirstInput(node, x, context);
  context.checkUnusedOutputs(node, 1);
  spatialInput(node, x, context);
  const attrs = context.attributes(node);
  const ceilMode = context.opset >= 10 && attrs.int('ceil_mode', 0) === 1;
  const g = geometry(node, x, context, undefined, ceilMode);
  const countPad = kind === 'average' && attrs.int('count_include_pad', 0) === 1;
  if (kind === 'average' && g.dilations.some((d) => d !== 1)) throw context.unsupported(node, `dilations [${g.dilations}]: nn's AvgPool2d has none`);
  const axes = [0, 1].map((a): PoolAxis => {
    const size = x.shape[2 + a] - extraPads[a] - extraPads[2 + a];
    // The span whose cells count in an average's divisor: the padded input, and the pool's own pads with count_include_pad.
    const counted: [number, number] = [-extraPads[a] - (countPad ? g.pads[a] : 0), size + extraPads[2 + a] + (countPad ? g.pads[2 + a] : 0)];
    return { size, kernel: g.kernel[a], stride: g.strides[a], dilation: g.dilations[a], begin: g.pads[a] + extraPads[a], out: g.output[a], counted };
  });
  const settings = [false, true].flatMap((ceil) => (kind === 'max' ? [{ ceil, includePad: false }] : [false, true].map((includePad) => ({ ceil, includePad }))));
  const match = settings.find(({ ceil, includePad }) => axes.every((axis) => sameWindows(axis, ceil, kind === 'average' ? includePad : undefined)));
  if (match === undefined) {
    throw context.unsupported(node, `pads [${g.pads}]${extraPads.some((p) => p > 0) ? ` after a Pad of [${extraPads}]` : ''} over ${shapeText(x.shape)} give windows nn's pools (the same padding at both ends) cannot reproduce`);
  }
  const kernelSize: [number, number] = [g.kernel[0], g.kernel[1]];
  const options = { stride: [g.strides[0], g.strides[1]] as [number, number], padding: [axes[0].begin, axes[1].begin] as [number, number], ceilMode: match.ceil };
  const layer = kind === 'max'
    ? new MaxPool2d(kernelSize, { ...options, dilation: [g.dilations[0], g.dilations[1]] })
    : new AvgPool2d(kernelSize, { ...options, countIncludePad: match.includePad });
  return { layers: [layer], output: { name: node.output[0], shape: [x.shape[0], x.shape[1], g.output[0], g.output[1]] } };
}

/** One pooled axis in the coordinates of the nn pool's input. */
interface PoolAxis {
  readonly size: number;
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  /** Where window 0 starts, before the input (all the padding at the beginning). */
  readonly begin: number;
  /** ONNX's window count. */
  readonly out: number;
  /** [from, to): the cells an ONNX average divides by, when inside a window. */
  readonly counted: readonly [number, number];
}

const overlap = (start: number, end: number, [from, to]: readonly [number, number]): number => Math.max(0, Math.min(end, to) - Math.max(start, from));

/**
 * Whether nn's pool with padding `begin` at both ends (and `ceil`) has the ONNX pool's windows on
 * this axis: both start window i at i * stride - begin, so they agree when the counts do, and for
 * an average (includePad given) when every window's divisor agrees: nn counts the window inside
 * [-begin, size + begin) with countIncludePad, inside [0, size) without.
 */
function sameWindows(a: PoolAxis, ceil: boolean, includePad: boolean | undefined): boolean {
  const extent = a.dilation * (a.kernel - 1) + 1;
  if (2 * a.begin > extent || a.size + 2 * a.begin < extent) return false;
  if (poolOutputSize(a.size, a.kernel, a.stride, a.begin, a.dilation, ceil) !== a.out) return false;
  if (includePad === undefined) return true;
  const nnCounted: [number, number] = includePad ? [-a.begin, a.size + a.begin] : [0, a.size];
  for (let i = 0; i < a.out; i++) {
    const start = i * a.stride - a.begin;
    if (overlap(start, start + a.kernel, a.counted) !== overlap(start, start + a.kernel, nnCounted)) return false;
  }
  return true;
}

export const convertMaxPool: NodeConverter = (node, x, context) => pool('max', node, x, context);
export const convertAveragePool: NodeConverter = (node, x, context) => pool('average', node, x, context);

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
