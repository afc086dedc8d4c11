import type { NodeProto } from '@minnow/onnx';
import { attribute, intAttribute } from '../../quantize/onnx/model-edit.js';
import { axisLength, groupAxis, mergeAxis, sameLayout, type ChannelAxis, type Segment } from './channel-map.js';
import { channelNorms } from './importance.js';
import type { Flow, OnnxTrace } from './onnx-trace.js';

/**
 * How channels pass through each ONNX op. Producers (Conv, Gemm, MatMul with a constant weight)
 * start a group; the ops listed below carry it on, possibly to another axis (Flatten, Reshape,
 * Transpose ...); elementwise ops join the groups they combine; consumers cut their weights' input
 * axis. Any other op that reads a traced value blocks its groups, naming itself.
 */

/** Ops that map each element to one element of the same shape, channels in place. */
const UNARY = new Set([
  'Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu', 'Selu', 'Celu', 'Gelu', 'Mish', 'Softplus', 'Softsign',
  'ThresholdedRelu', 'Erf', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Identity', 'Cast', 'Dropout',
]);
/** Elementwise ops over several inputs with numpy broadcasting. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where']);
/** Ops that pool each channel of [N, C, ...] on its own. */
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCTIONS = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare']);
/** The opset from which each reduction takes its axes as an input instead of an attribute. */
const AXES_INPUT_FROM: Readonly<Record<string, number>> = { ReduceSum: 13 };

const normalize = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);
const product = (dims: readonly (number | string | undefined)[], from: number, to: number): number | undefined => {
  let p = 1;
  for (let i = from; i < to; i++) {
    const d = dims[i];
    if (typeof d !== 'number') return undefined;
    p *= d;
  }
  return p;
};

/** Traces one node of the main graph. */
export function traceNode(t: OnnxTrace, node: NodeProto): void {
  const op = node.opType ?? '';
  const traced = node.input.some((name) => t.flow(name) !== undefined);
  const where = `${op} '${t.label(node)}'`;
  if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx') {
    if (traced) t.blockInputs(node, `${where} (domain ${node.domain}) reads the channels`);
    return;
  }
  if (op === 'Conv') return conv(t, node, where);
  if (op === 'Gemm') return gemm(t, node, where);
  if (op === 'MatMul') return matmul(t, node, where);
  if (!traced) return;
  if (ELEMENTWISE.has(op) || op === 'PRelu') return elementwise(t, node, where);
  if (op === 'Concat') return concat(t, node, where);
  const x = t.flow(node.input[0]);
  if (!x || node.input.slice(1).some((name) => t.flow(name) !== undefined)) {
    t.blockInputs(node, `${where} reads the channels in an input it does not carry them through`);
  } else if (UNARY.has(op)) {
    for (const o of node.output) t.setFlow(o, x);
  } else if (op === 'BatchNormalization' || op === 'InstanceNormalization') {
    if (x.axis !== 1 || node.output.slice(1).some((o) => o !== '')) {
      t.blockInputs(node, `${where} ${x.axis !== 1 ? 'normalises axis 1, not the channels\' axis' : 'is in training mode'}`);
      return;
    }
    const count = op === 'BatchNormalization' ? 4 : 2;
    for (let i = 1; i <= count; i++) t.cut(node, i, 0, x.map);
    t.setFlow(node.output[0], x);
  } else if (POOLS.has(op)) {
    if (x.axis !== 1 || (node.output[1] ?? '') !== '') t.blockInputs(node, `${where} ${x.axis !== 1 ? 'pools the channels\' axis' : 'returns indices'}`);
    else t.setFlow(node.output[0], x);
  } else if (op === 'Flatten') {
    flatten(t, node, x, where);
  } else if (op === 'Reshape') {
    reshape(t, node, x, where);
  } else if (op === 'Transpose') {
    const perm = attribute(node, 'perm')?.ints.map(Number) ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
    t.setFlow(node.output[0], { ...x, axis: perm.indexOf(x.axis) });
  } else if (op === 'Squeeze' || op === 'Unsqueeze') {
    squeeze(t, node, x, where);
  } else if (REDUCTIONS.has(op)) {
    reduce(t, node, x, where);
  } else if (op === 'Softmax' || op === 'LogSoftmax' || op === 'Hardmax') {
    const axis = normalize(intAttribute(node, 'axis', t.opset >= 13 ? -1 : 1), x.rank);
    const mixes = t.opset >= 13 ? axis === x.axis : x.axis >= axis;
    if (mixes) t.block(x, `${where} normalises over the channels`);
    else t.setFlow(node.output[0], x);
  } else {
    t.blockInputs(node, `${where} reads the channels (not traced through ${op})`);
  }
}

/** A new group for the output channels of `node`, whose weight `weight` holds them on `axis`. */
function produce(t: OnnxTrace, node: NodeProto, weight: Float32Array, dims: readonly number[], axis: number): ChannelAxis {
  const norms = channelNorms(weight, dims, axis, t.norm);
  const map = groupAxis(t.groups.create(t.label(node), norms), norms.length);
  t.cut(node, 1, axis, map);
  return map;
}

function conv(t: OnnxTrace, node: NodeProto, where: string): void {
  const x = t.flow(node.input[0]);
  const w = t.floats(node.input[1]);
  const dims = t.constant(node.input[1])?.dims;
  if (w === undefined || dims === undefined || t.flow(node.input[1]) || t.flow(node.input[2])) {
    t.blockInputs(node, `${where} has no constant float32 weight`);
    return;
  }
  const groups = intAttribute(node, 'group', 1);
  const rank = dims.length;
  if (x && x.axis !== 1) t.block(x, `${where} convolves axis 1, the channels are on axis ${x.axis}`);
  const input = x?.axis === 1 ? x : undefined;
  const hasBias = (node.input[2] ?? '') !== '';
  if (groups === 1) {
    if (input) t.cut(node, 1, 1, input.map);
    const map = produce(t, node, w, dims, 0);
    if (hasBias) t.cut(node, 2, 0, map);
    t.setFlow(node.output[0], { axis: 1, rank, map });
    return;
  }
  // Depthwise: filter c reads channel c and writes channel c, so its input's group runs through it.
  if (groups === dims[0] && dims[1] === 1 && input && input.map.outer === 1 && input.map.inner === 1) {
    const norms = channelNorms(w, dims, 0, t.norm);
    let offset = 0;
    for (const s of input.map.segments) {
      if (s.group !== undefined) t.groups.addProducer(s.group, t.label(node), norms.slice(offset, offset + s.size));
      offset += s.size;
    }
    t.cut(node, 1, 0, input.map);
    if (hasBias) t.cut(node, 2, 0, input.map);
    t.groupEdits.push({ node, map: input.map });
    t.setFlow(node.output[0], input);
    return;
  }
  t.block(input, `${where} has group ${groups}, which ties channels in blocks`);
}

function gemm(t: OnnxTrace, node: NodeProto, where: string): void {
  const a = t.flow(node.input[0]);
  const w = t.floats(node.input[1]);
  const dims = t.constant(node.input[1])?.dims;
  if (w === undefined || dims?.length !== 2 || intAttribute(node, 'transA', 0) !== 0 || t.flow(node.input[1]) || t.flow(node.input[2])) {
    t.blockInputs(node, `${where} has no constant 2-D float32 weight, or transposes A`);
    return;
  }
  const transB = intAttribute(node, 'transB', 0) !== 0;
  if (a && a.axis !== 1) t.block(a, `${where} multiplies axis 1, the channels are on axis ${a.axis}`);
  else if (a) t.cut(node, 1, transB ? 1 : 0, a.map);
  const map = produce(t, node, w, dims, transB ? 0 : 1);
  const c = node.input[2] ?? '';
  const cDims = c === '' ? undefined : t.dims(c);
  const cLast = cDims?.[cDims.length - 1];
  if (c !== '' && cDims !== undefined && cDims.length > 0 && cLast !== 1) {
    if (cLast === axisLength(map)) t.cut(node, 2, cDims.length - 1, map);
    else t.block({ axis: 1, rank: 2, map }, `${where} adds a C of unknown or mismatched shape`);
  }
  t.setFlow(node.output[0], { axis: 1, rank: 2, map });
}

function matmul(t: OnnxTrace, node: NodeProto, where: string): void {
  const a = t.flow(node.input[0]);
  const w = t.floats(node.input[1]);
  const dims = t.constant(node.input[1])?.dims;
  const outRank = t.rank(node.output[0]);
  if (w === undefined || dims?.length !== 2 || outRank === undefined || t.flow(node.input[1])) {
    t.blockInputs(node, `${where} has no constant 2-D float32 weight`);
    return;
  }
  if (a && a.axis !== a.rank - 1) t.block(a, `${where} multiplies the last axis, the channels are on axis ${a.axis}`);
  else if (a) t.cut(node, 1, 0, a.map);
  t.setFlow(node.output[0], { axis: outRank - 1, rank: outRank, map: produce(t, node, w, dims, 1) });
}

/**
 * Broadcasting ops: traced inputs meet on one output axis and their groups join; a constant with
 * the channels' full length on that axis is cut with them; anything else the size of the channels
 * blocks them (it could not lose the same entries).
 */
function elementwise(t: OnnxTrace, node: NodeProto, where: string): void {
  const outRank = t.rank(node.output[0]);
  const inputs = node.input.map((name) => ({ name, flow: t.flow(name), dims: name === '' ? undefined : t.dims(name) }));
  const traced = inputs.filter((i) => i.flow !== undefined);
  if (outRank === undefined) {
    t.blockInputs(node, `${where} has an output of unknown rank`);
    return;
  }
  const axisOf = (flow: Flow): number => flow.axis + outRank - flow.rank;
  const first = traced[0].flow!;
  const axis = axisOf(first);
  for (const other of traced.slice(1)) {
    const f = other.flow!;
    if (axisOf(f) !== axis || !sameLayout(f.map, first.map)) {
      t.blockInputs(node, `${where} combines channels laid out differently`);
      return;
    }
    f.map.segments.forEach((s, k) => joinSegments(t, s, first.map.segments[k], where));
  }
  for (const [i, input] of inputs.entries()) {
    if (input.flow !== undefined || input.name === '') continue;
    const local = axis - (outRank - (input.dims?.length ?? 0));
    const size = input.dims === undefined ? undefined : local < 0 ? 1 : input.dims[local];
    if (size === 1) continue;
    if (size === axisLength(first.map) && t.constant(input.name) !== undefined) t.cut(node, i, local, first.map);
    else t.block(first, `${where} combines the channels with '${input.name}', which cannot lose the same entries`);
  }
  t.setFlow(node.output[0], { axis, rank: outRank, map: first.map });
}

function joinSegments(t: OnnxTrace, a: Segment, b: Segment, where: string): void {
  if (a.group !== undefined && b.group !== undefined) t.groups.join(a.group, b.group, where);
  else if (a.group !== undefined || b.group !== undefined) t.groups.block((a.group ?? b.group)!, `${where} combines them with channels that cannot be pruned`);
}

function concat(t: OnnxTrace, node: NodeProto, where: string): void {
  const outRank = t.rank(node.output[0]);
  if (outRank === undefined) return t.blockInputs(node, `${where} has an output of unknown rank`);
  const axis = normalize(intAttribute(node, 'axis', 0), outRank);
  const segments: Segment[] = [];
  for (const name of node.input) {
    const flow = t.flow(name);
    const size = t.dims(name)?.[axis];
    if (flow && flow.axis === axis && flow.map.outer === 1 && flow.map.inner === 1) {
      segments.push(...flow.map.segments);
    } else if (typeof size === 'number') {
      if (flow) t.block(flow, `${where} concatenates along axis ${axis}, not along the channels`);
      segments.push({ group: undefined, size });
    } else {
      return t.blockInputs(node, `${where} concatenates values of unknown size`);
    }
  }
  t.setFlow(node.output[0], { axis, rank: outRank, map: { outer: 1, inner: 1, segments } });
}

function flatten(t: OnnxTrace, node: NodeProto, x: Flow, where: string): void {
  const dims = t.dims(node.input[0]);
  const split = normalize(intAttribute(node, 'axis', 1), x.rank);
  const [from, to] = x.axis >= split ? [split, x.rank] : [0, split];
  const before = dims && product(dims, from, x.axis);
  const after = dims && product(dims, x.axis + 1, to);
  if (before === undefined || after === undefined) return t.block(x, `${where} flattens dims of unknown size`);
  t.setFlow(node.output[0], { axis: x.axis >= split ? 1 : 0, rank: 2, map: mergeAxis(x.map, before, after) });
}

/**
 * Reshape that merges the channels' axis with neighbours (or keeps it): the output dims must be
 * the input's with one run [from, to) around the channels multiplied together. Its shape must be
 * a constant, whose entry for that run then follows the channel count.
 */
function reshape(t: OnnxTrace, node: NodeProto, x: Flow, where: string): void {
  const shape = t.ints(node.input[1]);
  const inDims = t.dims(node.input[0]);
  const outDims = t.dims(node.output[0]);
  if (shape === undefined || inDims === undefined || outDims === undefined) {
    return t.block(x, `${where} has a shape that is computed or unknown`);
  }
  let from = 0;
  while (from < x.axis && from < outDims.length && inDims[from] === outDims[from] && inDims[from] !== undefined) from++;
  const tail = outDims.length - from - 1;
  const to = inDims.length - tail;
  const tailMatches = inDims.slice(to).every((d, i) => d !== undefined && d === outDims[from + 1 + i]);
  const before = product(inDims, from, x.axis);
  const after = product(inDims, x.axis + 1, to);
  if (from > x.axis || to <= x.axis || !tailMatches || before === undefined || after === undefined || outDims[from] !== before * axisLength(x.map) * after) {
    return t.block(x, `${where} reshapes the channels' axis other than by merging it with its neighbours`);
  }
  if (shape[from] !== -1 && !(shape[from] === 0 && from === x.axis && before * after === 1)) t.shapeEdits.push({ node, index: from, map: mergeAxis(x.map, before, after) });
  t.setFlow(node.output[0], { axis: from, rank: outDims.length, map: mergeAxis(x.map, before, after) });
}

function squeeze(t: OnnxTrace, node: NodeProto, x: Flow, where: string): void {
  const outRank = t.rank(node.output[0]);
  const inDims = t.dims(node.input[0]);
  const given = t.opset >= 13 ? (node.input[1] ?? '') !== '' : attribute(node, 'axes') !== undefined;
  const listed = t.opset >= 13 ? t.ints(node.input[1]) : attribute(node, 'axes')?.ints.map(Number);
  if (outRank === undefined || inDims === undefined) return t.block(x, `${where} has dims of unknown size`);
  if (given && listed === undefined) return t.block(x, `${where} has axes that are computed`);
  if (node.opType === 'Unsqueeze') {
    const inserted = new Set((listed ?? []).map((a) => normalize(a, outRank)));
    let seen = -1;
    for (let i = 0; i < outRank; i++) if (!inserted.has(i) && ++seen === x.axis) return t.setFlow(node.output[0], { ...x, axis: i, rank: outRank });
    return t.block(x, `${where} cannot be followed`);
  }
  const removed = listed === undefined ? inDims.flatMap((d, i) => (d === 1 ? [i] : [])) : listed.map((a) => normalize(a, x.rank));
  if (removed.includes(x.axis)) return t.block(x, `${where} removes the channels' axis`);
  t.setFlow(node.output[0], { ...x, axis: x.axis - removed.filter((a) => a < x.axis).length, rank: outRank });
}

function reduce(t: OnnxTrace, node: NodeProto, x: Flow, where: string): void {
  const fromInput = t.opset >= (AXES_INPUT_FROM[node.opType ?? ''] ?? 18);
  const listed = fromInput ? ((node.input[1] ?? '') === '' ? [] : t.ints(node.input[1])) : attribute(node, 'axes')?.ints.map(Number) ?? [];
  if (listed === undefined) return t.block(x, `${where} has axes that are computed`);
  const axes = listed.map((a) => normalize(a, x.rank));
  if (axes.length === 0 && intAttribute(node, 'noop_with_empty_axes', 0) !== 0) return t.setFlow(node.output[0], x);
  if (axes.length === 0 || axes.includes(x.axis)) return t.block(x, `${where} reduces over the channels`);
  const keep = intAttribute(node, 'keepdims', 1) !== 0;
  t.setFlow(node.output[0], keep ? x : { ...x, axis: x.axis - axes.filter((a) => a < x.axis).length, rank: x.rank - axes.length });
}
