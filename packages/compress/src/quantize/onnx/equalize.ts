import { MinnowError } from '@minnow/core';
import { tensorValues, type ModelProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { weightLayout, type WeightLayout } from './layout.js';
import type { LayerStatistics } from './layer-statistics.js';
import { foldBatchNorms } from './fold-batchnorm.js';
import { cloneModel, floatTensor, graphScopes, intAttribute, NameSource, type GraphScope } from './model-edit.js';

/**
 * Cross-layer equalization (Nagel et al. 2019, data-free quantization, section 4.1): in a chain
 * A -> (Relu | LeakyRelu)? -> B of weight ops, output channel i of A can be divided by any s_i > 0
 * and input channel i of B multiplied by it without changing the model, since those activations
 * are positively homogeneous. Choosing s_i evens out what quantization sees:
 *
 *   s_i = r_i^alpha / c_i^(1 - alpha)
 *
 * with c_i the largest |weight| of B's input channel i and r_i either the largest |weight| of A's
 * output channel i (data-free: Nagel's CLE at alpha 0.5, iterated over the chain) or, with
 * calibration statistics, the largest |activation| of channel i at B's input (activation-aware,
 * the scale SmoothQuant migrates with). Per-tensor activations gain most: a few channels with a
 * range ten times the median no longer decide one scale for all. The model returned computes the
 * same function (up to float rounding; BatchNormalization is folded first); calibrate it afresh before quantizing it, since the ranges
 * of the activations between A and B change.
 */

export interface EqualizeOptions {
  /** Calibration of the model's layer inputs (calibrateLayerInputs): scales from activation ranges instead of A's weights. */
  readonly statistics?: LayerStatistics;
  /** alpha: how much of a channel's range moves into B's weights (0 to 1, default 0.5). */
  readonly migration?: number;
  /** Data-free equalization: passes over the chains (default 10; each pass rebalances the pairs that share a layer). */
  readonly iterations?: number;
}

/** One equalized pair and the range of its scales. */
export interface EqualizedPair {
  readonly first: string;
  readonly second: string;
  /** The activation between them (Relu ...), if any. */
  readonly through: string | undefined;
  readonly scales: { readonly min: number; readonly max: number };
}

const HOMOGENEOUS = new Set(['Relu', 'LeakyRelu']);

interface Pair {
  readonly scope: GraphScope;
  readonly a: NodeProto;
  readonly b: NodeProto;
  readonly through: NodeProto | undefined;
  readonly channels: number;
}

/** How often each name is read anywhere in the model (graph outputs count as reads). */
function readCounts(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (name: string): void => void counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const { graph } of graphScopes(model)) {
    for (const node of graph.node) for (const i of node.input) if (i !== '') add(i);
    for (const o of graph.output) add(o.name ?? '');
  }
  return counts;
}

const layoutOf = (node: NodeProto, scope: GraphScope): WeightLayout | undefined => {
  const found = weightLayout(node, scope);
  if ('reason' in found) return undefined;
  const rank = found.layout.weight.dims.length;
  return rank < 2 || (node.opType === 'MatMul' && rank !== 2) ? undefined : found.layout;
};

/** The chains A -> (homogeneous activation) -> B whose middle values nothing else reads and whose weights no other node shares. */
function findPairs(model: ModelProto): Pair[] {
  const reads = readCounts(model);
  const pairs: Pair[] = [];
  for (const scope of graphScopes(model)) {
    const producer = new Map(scope.graph.node.map((n) => [n.output[0], n] as const));
    for (const b of scope.graph.node) {
      const bLayout = layoutOf(b, scope);
      if (bLayout === undefined || (b.opType === 'Conv' && intAttribute(b, 'group', 1) !== 1)) continue;
      const input = b.input[bLayout.activations[0]];
      let through = producer.get(input);
      let a = through;
      if (through !== undefined && HOMOGENEOUS.has(through.opType ?? '')) a = producer.get(through.input[0]);
      else through = undefined;
      if (a === undefined || (a.opType === 'Conv') !== (b.opType === 'Conv')) continue;
      const aLayout = layoutOf(a, scope);
      if (aLayout === undefined || reads.get(a.output[0]) !== 1 || (through && reads.get(through.output[0]) !== 1)) continue;
      const channels = aLayout.weight.dims[aLayout.outputAxis];
      if (bLayout.weight.dims[bLayout.reduceAxis] !== channels) continue;
      if (a.input[2] && a.input[2] !== '' && aLayout.bias === undefined) continue;
      const shared = [a.input[1], a.input[2], b.input[1]].some((n) => n !== undefined && n !== '' && reads.get(n) !== 1);
      if (!shared) pairs.push({ scope, a, b, through, channels });
    }
  }
  return pairs;
}

/** Largest |value| per index along `axis` of a tensor. */
function axisMax(values: Float32Array, dims: readonly number[], axis: number): Float64Array {
  const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  const out = new Float64Array(dims[axis]);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % dims[axis];
    out[c] = Math.max(out[c], Math.abs(values[i]));
  }
  return out;
}

function scaleAlong(values: Float32Array, dims: readonly number[], axis: number, factor: (c: number) => number): Float32Array {
  const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  return values.map((v, i) => v * factor(Math.floor(i / inner) % dims[axis]));
}

function replace(owner: GraphScope, tensor: TensorProto, values: Float32Array): TensorProto {
  const next = floatTensor(tensor.name ?? '', tensor.dims, values);
  owner.graph.initializer = owner.graph.initializer.map((t) => (t === tensor ? next : t));
  return next;
}

/** Channel maxima at B's input from the statistics (max over a Conv's kernel positions), if calibrated. */
function activationMax(pair: Pair, layout: WeightLayout, statistics: LayerStatistics): Float64Array | undefined {
  const moments = statistics.forLayout(pair.b, layout);
  if (moments === undefined || moments.count === 0) return undefined;
  const perChannel = moments.size / pair.channels;
  const out = new Float64Array(pair.channels);
  for (let i = 0; i < moments.size; i++) out[Math.floor(i / perChannel)] = Math.max(out[Math.floor(i / perChannel)], moments.absMax[0][i]);
  return out;
}

export function equalizeOnnx(model: ModelProto, options: EqualizeOptions = {}): { model: ModelProto; pairs: EqualizedPair[] } {
  const alpha = options.migration ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new MinnowError('INVALID_ARGUMENT', `equalize: migration must be between 0 and 1, got ${alpha}`);
  const iterations = options.statistics ? 1 : options.iterations ?? 10;
  if (!Number.isInteger(iterations) || iterations < 1) throw new MinnowError('INVALID_ARGUMENT', `equalize: iterations must be a positive integer, got ${iterations}`);
  const out = cloneModel(model);
  // BatchNormalization between A and the activation would hide the pair: fold it as quantizeOnnx does.
  foldBatchNorms(out, new NameSource(out));
  const pairs = findPairs(out);
  const total = pairs.map(() => ({ product: new Float64Array(0) }));
  for (let pass = 0; pass < iterations; pass++) {
    pairs.forEach((pair, index) => {
      const aLayout = layoutOf(pair.a, pair.scope)!;
      const bLayout = layoutOf(pair.b, pair.scope)!;
      const aValues = tensorValues(aLayout.weight) as Float32Array;
      const bValues = tensorValues(bLayout.weight) as Float32Array;
      const ranges = options.statistics ? activationMax(pair, bLayout, options.statistics) : axisMax(aValues, aLayout.weight.dims, aLayout.outputAxis);
      if (ranges === undefined) return;
      const columns = axisMax(bValues, bLayout.weight.dims, bLayout.reduceAxis);
      const s = Float64Array.from(ranges, (r, c) => (r > 0 && columns[c] > 0 ? r ** alpha / columns[c] ** (1 - alpha) : 1));
      replace(aLayout.owner, aLayout.weight, scaleAlong(aValues, aLayout.weight.dims, aLayout.outputAxis, (c) => 1 / s[c]));
      replace(bLayout.owner, bLayout.weight, scaleAlong(bValues, bLayout.weight.dims, bLayout.reduceAxis, (c) => s[c]));
      if (aLayout.bias) replace(aLayout.bias.owner, aLayout.bias.tensor, (tensorValues(aLayout.bias.tensor) as Float32Array).map((v, c) => v / s[c]));
      const t = total[index];
      if (t.product.length === 0) t.product = new Float64Array(s.length).fill(1);
      s.forEach((v, c) => { t.product[c] *= v; });
    });
  }
  return {
    model: out,
    pairs: pairs.map((pair, i) => ({
      first: pair.a.name || pair.a.output[0],
      second: pair.b.name || pair.b.output[0],
      through: pair.through ? pair.through.name || pair.through.output[0] : undefined,
      scales: { min: Math.min(...total[i].product), max: Math.max(...total[i].product) },
    })).filter((_, i) => total[i].product.length > 0),
  };
}
