import { DataType, tensorElementCount, tensorValues, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { dequantizeValues, type Granularity, type LayerReport, type QuantType } from '@minnow/compress';
import { quantizedRange } from '@minnow/core';
import { finiteRange, histogram, sqnrDb } from './histogram.js';
import type { GridGranularity, QuantGrid, ReportLayer } from './types.js';

/**
 * Report layers read from ONNX models: each weighted node's float weight as a histogram, and for a
 * model quantized in QDQ form (quantizeOnnx's default), the weight as it dequantizes, binned like
 * the float one, with the quantization grid its stored scales and zero points define. Everything is
 * read from the models themselves, so the pictures show what the file holds.
 */

/** Ops whose input 1 is the weight (as quantizeOnnx and describeQuantizedLayers read them). */
export const WEIGHTED_OPS: readonly string[] = ['MatMul', 'Gemm', 'Conv', 'ConvTranspose'];

export interface OnnxLayerOptions {
  /** Histogram bins (default 48). */
  readonly bins?: number;
  /** Which ops count as layers (default WEIGHTED_OPS). */
  readonly ops?: readonly string[];
}

interface ModelIndex {
  readonly nodes: Map<string, NodeProto>;
  readonly producers: Map<string, NodeProto>;
  readonly initializers: Map<string, TensorProto>;
  /** Nodes in graph order, subgraphs after the node that holds them. */
  readonly order: NodeProto[];
}

const nodeName = (node: NodeProto): string => node.name || `${node.opType ?? '?'} -> ${node.output[0] ?? '?'}`;

function indexModel(model: ModelProto): ModelIndex {
  const index: ModelIndex = { nodes: new Map(), producers: new Map(), initializers: new Map(), order: [] };
  const walk = (graph: GraphProto): void => {
    for (const t of graph.initializer) if (t.name) index.initializers.set(t.name, t);
    for (const node of graph.node) {
      index.nodes.set(nodeName(node), node);
      index.order.push(node);
      for (const o of node.output) index.producers.set(o, node);
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) walk(g);
    }
  };
  if (model.graph) walk(model.graph);
  return index;
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** A float initialiser's values (undefined for other types or data not loaded). */
function floatValues(t: TensorProto | undefined): ArrayLike<number> | undefined {
  if (t === undefined || !FLOAT_TYPES.has(t.dataType ?? 0)) return undefined;
  try {
    return tensorValues(t) as ArrayLike<number>;
  } catch {
    // External data not resolved: the report has no picture of this weight, the job goes on.
    return undefined;
  }
}

/** The weight initialiser's name of a weighted node (its input 1), when it is one. */
function weightOf(node: NodeProto, index: ModelIndex): string | undefined {
  const name = node.input[1];
  return name !== undefined && index.initializers.has(name) ? name : undefined;
}

/** The weight (input 1) of `layer` in an ONNX model, by node name: how layer names map to weight names. */
export function onnxWeightName(model: ModelProto, layer: string): string | undefined {
  const index = indexModel(model);
  const node = index.nodes.get(layer);
  return node === undefined ? undefined : weightOf(node, index);
}

/** One layer per weighted node whose weight is a float initialiser: its name, op, size and a histogram of its values. */
export function onnxWeightLayers(model: ModelProto, options: OnnxLayerOptions = {}): ReportLayer[] {
  const index = indexModel(model);
  const ops = options.ops ?? WEIGHTED_OPS;
  const layers: ReportLayer[] = [];
  for (const node of index.order) {
    if (!ops.includes(node.opType ?? '')) continue;
    const weight = weightOf(node, index);
    const values = weight === undefined ? undefined : floatValues(index.initializers.get(weight));
    if (weight === undefined || values === undefined) continue;
    layers.push({ name: nodeName(node), weight, op: node.opType, params: values.length, before: histogram(values, { bins: options.bins }) });
  }
  return layers;
}

const STORED: Partial<Record<number, QuantType>> = {
  [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8', [DataType.INT4]: 'int4', [DataType.UINT4]: 'uint4',
};

const intAttribute = (node: NodeProto, name: string, fallback: number): number => {
  const a = node.attribute.find((x) => x.name === name);
  return a?.i === undefined ? fallback : Number(a.i);
};

/**
 * The scale whose grid the chart draws: that of the weight with the largest magnitude, so the grid
 * spans the histogram. (Not simply the largest scale: quantizers give an all-zero channel a
 * placeholder scale such as 1.) Which scale an element uses is compress's rule; dequantizing ones
 * against scales 0, 1, 2, ... asks that rule instead of restating it here.
 */
function scaleIndexOfLargest(values: Float32Array, scheme: { type: QuantType; symmetric: boolean; granularity: Granularity }, scaleShape: readonly number[], shape: readonly number[]): number {
  let largest = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i]) > Math.abs(values[largest])) largest = i;
  const count = scaleShape.reduce((a, b) => a * b, 1);
  if (count <= 1 || values.length === 0) return 0;
  const indices = Float32Array.from({ length: count }, (_, k) => k);
  const ones = new Uint8Array(values.length).fill(1);
  return dequantizeValues(ones, { scheme, scale: indices, zeroPoint: new Int32Array(count), shape: scaleShape }, shape)[largest];
}

interface Dequantized {
  readonly values: Float32Array;
  readonly grid: QuantGrid;
}

/** A DequantizeLinear of initialisers, evaluated on the host (compress's dequantizeValues), and the grid of the scale its largest weight uses. */
function dequantizeWeight(dq: NodeProto, index: ModelIndex): Dequantized | undefined {
  const stored = index.initializers.get(dq.input[0] ?? '');
  const scaleTensor = index.initializers.get(dq.input[1] ?? '');
  const type = STORED[stored?.dataType ?? -1];
  if (stored === undefined || scaleTensor === undefined || type === undefined) return undefined;
  const scales = floatValues(scaleTensor);
  if (scales === undefined || scales.length === 0) return undefined;
  const zeroTensor = index.initializers.get(dq.input[2] ?? '');
  const zeroValues = zeroTensor === undefined ? undefined : (tensorValues(zeroTensor) as ArrayLike<number>);
  const shape = stored.dims.map(Number);
  const rank = shape.length;
  const rawAxis = intAttribute(dq, 'axis', 1);
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  const blockSize = intAttribute(dq, 'block_size', 0);
  const scaleShape = scaleTensor.dims.map(Number);
  let granularity: Granularity;
  let kind: GridGranularity;
  if (scales.length === 1 && blockSize === 0) {
    granularity = { kind: 'tensor' };
    kind = 'tensor';
  } else if (blockSize > 0) {
    granularity = { kind: 'block', axis, blockSize };
    kind = 'block';
  } else {
    granularity = { kind: 'axis', axis };
    kind = 'channel';
  }
  const scale = Float32Array.from(scales);
  const zeroPoint = zeroValues === undefined ? new Int32Array(scale.length) : Int32Array.from(zeroValues);
  if (zeroPoint.length !== scale.length) return undefined;
  const scheme = { type, symmetric: false, granularity };
  const values = dequantizeValues(tensorValues(stored) as ArrayLike<number>, { scheme, scale, zeroPoint, shape: scaleShape }, shape);
  const chosen = scaleIndexOfLargest(values, scheme, scaleShape, shape);
  const range = quantizedRange(type);
  const spread = finiteRange(scale) ?? { min: NaN, max: NaN };
  const grid: QuantGrid = {
    bits: type.endsWith('4') ? 4 : 8,
    signed: range.min < 0,
    qmin: range.min,
    qmax: range.max,
    scale: scale[chosen],
    zeroPoint: zeroPoint[chosen],
    granularity: kind,
    ...(kind === 'tensor' ? {} : { axis }),
    ...(kind === 'block' ? { blockSize } : {}),
    scales: { count: scale.length, min: spread.min, max: spread.max },
    source: 'model',
  };
  return { values, grid };
}

/** The grid a report row alone gives (no stored scales to read): symmetric, its largest weight scale. */
function gridFromReport(row: LayerReport): QuantGrid | undefined {
  if (row.weightBits === undefined || row.weightScale === undefined || row.precision === 'float') return undefined;
  const half = 2 ** (row.weightBits - 1);
  return {
    bits: row.weightBits,
    signed: true,
    qmin: -half,
    qmax: half - 1,
    scale: row.weightScale.max,
    zeroPoint: 0,
    granularity: row.weightScale.min === row.weightScale.max ? 'tensor' : 'channel',
    scales: { count: row.weightScale.min === row.weightScale.max ? 1 : NaN, min: row.weightScale.min, max: row.weightScale.max },
    source: 'report',
  };
}

/**
 * One layer per row of quantizeOnnx's report: the float weight (from `floatModel`) and, where
 * `quantizedModel` feeds the node's weight through a DequantizeLinear of initialisers (QDQ form),
 * the values it dequantizes to over the same bins, its grid, and the weight's SQNR. A QOperator
 * layer (renamed nodes) gets the grid its report row gives and no after histogram. Rows whose
 * node has no float weight initialiser get what the row says (name, op, precision).
 */
export function quantizedLayers(floatModel: ModelProto, quantizedModel: ModelProto, report: readonly LayerReport[], options: OnnxLayerOptions = {}): ReportLayer[] {
  const before = indexModel(floatModel);
  const after = indexModel(quantizedModel);
  return report.map((row) => {
    const node = before.nodes.get(row.layer);
    const weight = node && weightOf(node, before);
    const floats = weight === undefined ? undefined : floatValues(before.initializers.get(weight));
    const base: ReportLayer = { name: row.layer, op: row.op, precision: row.precision, ...(weight === undefined ? {} : { weight }) };
    if (floats === undefined) {
      const grid = gridFromReport(row);
      return grid === undefined ? base : { ...base, grid };
    }
    const quantizedNode = after.nodes.get(row.layer);
    const producer = quantizedNode && after.producers.get(quantizedNode.input[1] ?? '');
    const dequantized = producer?.opType === 'DequantizeLinear' ? dequantizeWeight(producer, after) : undefined;
    const usable = dequantized !== undefined && dequantized.values.length === floats.length;
    const range = usable ? finiteRange(floats, dequantized.values) : finiteRange(floats);
    const bins = { bins: options.bins, ...(range ?? {}) };
    const layer: ReportLayer = { ...base, params: floats.length, before: histogram(floats, bins) };
    if (usable) return { ...layer, after: histogram(dequantized.values, bins), grid: dequantized.grid, weightSqnrDb: sqnrDb(floats, dequantized.values) };
    const grid = gridFromReport(row);
    return grid === undefined ? layer : { ...layer, grid };
  });
}

/**
 * Parameters of an ONNX model: elements of its initialisers, less the scales and zero points that
 * quantization added (inputs 1 and 2 of DequantizeLinear), so a model and its quantized form count
 * the same weights.
 */
export function onnxParamCount(model: ModelProto): number {
  const index = indexModel(model);
  const quantParams = new Set<string>();
  for (const node of index.order) {
    if (node.opType === 'DequantizeLinear') for (const name of node.input.slice(1)) quantParams.add(name);
  }
  let count = 0;
  for (const [name, t] of index.initializers) if (!quantParams.has(name)) count += tensorElementCount(t);
  return count;
}
